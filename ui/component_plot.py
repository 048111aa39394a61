"""Plots of the components dock, Qt-free: temporal functions T_k and a scree plot.

Artists are made once per decomposition; picking a component only restyles them (colour,
width, bar colours) before one draw.
"""

import numpy as np

from .series_plot import date_numbers

SELECTED = "#d62728"
KEPT = "#4c72b0"
BEYOND_K = "#c8c8c8"
MAX_SCREE = 30


class ComponentsPlot:
    def __init__(self, figure):
        self.figure = figure
        self.ax_time, self.ax_scree = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        for ax in (self.ax_time, self.ax_scree):
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        self.lines, self.bars, self.suggested = [], None, None
        self.message = figure.text(0.5, 0.5, "Open a decomposition file or pick a layer with PC fields.",
                                   ha="center", va="center", fontsize=8, color="#555555")  # fmt: skip
        self.ax_time.set_visible(False)
        self.ax_scree.set_visible(False)
        figure.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.16, wspace=0.28)

    def set_components(self, dates, temporal, shares_all, k, suggested_k=0):
        """New decomposition: one line per temporal function (None = unknown) and the scree bars."""
        from matplotlib import dates as mdates

        for line in self.lines:
            line.remove()
        self.lines = []
        if self.bars is not None:
            self.bars.remove()
        if self.suggested is not None:
            self.suggested.remove()
            self.suggested = None
        shares = np.asarray(shares_all, dtype=float)[:MAX_SCREE]
        self.ax_time.set_visible(temporal is not None)
        self.ax_scree.set_visible(shares.size > 0)
        if shares.size == 0:
            text = "Open a decomposition file or pick a layer with PC fields."
        elif temporal is None:
            text = "Temporal functions: open the decomposition file."
        else:
            text = ""
        self.message.set_text(text)
        if temporal is not None:
            x = date_numbers(dates) if dates is not None else np.arange(temporal.shape[0])
            for j in range(temporal.shape[1]):
                (line,) = self.ax_time.plot(x, temporal[:, j], lw=0.8, color=BEYOND_K, label=f"T{j + 1}")
                self.lines.append(line)
            self.ax_time.relim()
            self.ax_time.autoscale_view()
            if dates is not None:
                locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
                self.ax_time.xaxis.set_major_locator(locator)
                self.ax_time.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        colours = [KEPT if j < k else BEYOND_K for j in range(shares.size)]
        self.bars = self.ax_scree.bar(np.arange(1, shares.size + 1), 100 * shares, color=colours, width=0.8)
        self.ax_scree.set_xlim(0.3, shares.size + 0.7)
        # log scale: the first component often holds > 90 %, the rest would be invisible
        self.ax_scree.set_yscale("log")
        positive = shares[shares > 0]
        if positive.size:
            self.ax_scree.set_ylim(50 * positive.min(), 200 * positive.max())
        if suggested_k:
            self.suggested = self.ax_scree.axvline(suggested_k + 0.5, color="#555555", ls=":", lw=1)
        self.ax_scree.set_title("Scree: variance share (%, log)", fontsize=8)
        self.ax_time.set_ylabel("T_k (unit norm)", fontsize=7)
        self.ax_scree.set_xlabel("component", fontsize=7)
        self.k = k

    def select(self, number, title=""):
        """Highlight component ``number`` (1-based) in both plots."""
        for j, line in enumerate(self.lines):
            chosen = j + 1 == number
            line.set_color(SELECTED if chosen else BEYOND_K)
            line.set_linewidth(1.8 if chosen else 0.7)
            line.set_zorder(3 if chosen else 1)
        if self.bars is not None:
            for j, bar in enumerate(self.bars):
                bar.set_color(SELECTED if j + 1 == number else (KEPT if j < self.k else BEYOND_K))
        self.ax_time.set_title(title, fontsize=8)

    def selected_line(self, number):
        return self.lines[number - 1] if 0 < number <= len(self.lines) else None
