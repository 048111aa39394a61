"""The time-series plot of the dock: matplotlib artists updated in place, Qt-free.

Each curve has a stable key (point, curve name); its ``Line2D`` is created once and then only
gets ``set_data`` / style changes, and lines no longer shown are hidden, so a click costs one
Agg draw and no artist churn (50 kept series of 300 dates redraw in tens of milliseconds,
bench/bench_docks.py). Displacement goes on the left axis (mm), groundwater levels on a
second axis (m) shown only when a well's levels are plotted.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
from matplotlib import dates as mdates

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")  # fmt: skip
GROUNDWATER_COLOURS = ("#4d9221", "#8c510a", "#01665e", "#762a83", "#b35806", "#35978f")
CURVE_STYLES = {
    "observed": {"ls": "-", "lw": 1.0, "marker": "o", "ms": 2.5},
    "corrected": {"ls": "-", "lw": 2.0, "marker": "", "ms": 0},
    "amlstm": {"ls": "--", "lw": 1.6, "marker": "", "ms": 0},
    "lstm": {"ls": "-.", "lw": 1.3, "marker": "", "ms": 0},
    "physical": {"ls": ":", "lw": 1.6, "marker": "", "ms": 0},
    "linear": {"ls": (0, (4, 1, 1, 1, 1, 1)), "lw": 1.1, "marker": "", "ms": 0},
    "trend": {"ls": "--", "lw": 1.0, "marker": "", "ms": 0},
    "well mean": {"ls": "-", "lw": 1.0, "marker": "s", "ms": 2.0},
    "groundwater": {"ls": "-", "lw": 1.2, "marker": "", "ms": 0},
}
MAX_LEGEND_ENTRIES = 10
MAX_LEGEND_POINTS = 5
BULK_KINDS = ("observed", "corrected", "trend")
LEGEND_ROW_PX = 14  # 6.5 pt text at 96 dpi with matplotlib's label spacing


@dataclass
class Curve:
    """One plotted line: what it is (point id, curve name) and its values."""

    point_id: str
    curve: str
    dates: np.ndarray
    values: np.ndarray
    label: str = ""
    colour: str = "#000000"
    axis: str = "mm"  # "mm" (left) or "m" (groundwater, right)
    style: Dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.axis, self.point_id, self.curve)


def date_numbers(dates) -> np.ndarray:
    """matplotlib date numbers (days since its epoch) of ``datetime64`` dates.

    With the default epoch (1970-01-01) a whole-day date's number is its day count: an integer
    cast, ~50x faster than ``date2num`` (which was a quarter of a 50-series redraw).
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    if mdates.get_epoch().startswith("1970-01-01"):
        return days.astype(np.int64).astype(np.float64)
    return mdates.date2num(days)


class SeriesPlot:
    """Curves on a ``Figure`` (a Qt canvas's or an Agg one); see the module docstring."""

    def __init__(self, figure):
        self.figure = figure
        self.ax = figure.add_subplot(111)
        self.ax_levels = self.ax.twinx()
        self.ax_levels.set_visible(False)
        self.ax.set_ylabel("displacement (mm)", fontsize=8)
        self.ax_levels.set_ylabel("groundwater level (m)", fontsize=8)
        for axis in (self.ax, self.ax_levels):
            axis.tick_params(labelsize=7)
        self.ax.grid(True, alpha=0.3)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        self.ax.xaxis.set_major_locator(locator)
        self.ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        self._lines: Dict[Tuple[str, str, str], object] = {}
        self._band = None
        self._bulk, self._bulk_index = {}, {}
        self._legend = None
        self._legend_key = None
        from matplotlib.lines import Line2D

        self._kept_proxy = Line2D([], [], color="#999999", lw=1.0)
        self.shown: List[Curve] = []
        self.message = self.ax.text(0.5, 0.5, "", transform=self.ax.transAxes, ha="center", va="center",
                                    fontsize=9, color="#555555", wrap=True)  # fmt: skip
        self._legend_rows = 0
        figure.canvas.mpl_connect("resize_event", lambda _event: self._fit_margins())
        self._fit_margins()

    def line(self, key):
        return self._lines.get(key)

    def _line_for(self, curve: Curve):
        line = self._lines.get(curve.key)
        if line is None:
            axis = self.ax_levels if curve.axis == "m" else self.ax
            (line,) = axis.plot([], [])
            self._lines[curve.key] = line
        return line

    def show(self, curves: List[Curve], band=None, title: str = "", message: str = ""):
        """Show exactly ``curves`` (others hidden); ``band`` = (dates, low, high, colour) or None."""
        used = set()
        bulk = self._bulk_curves(curves)
        self._set_bulk(bulk)
        for curve in curves:
            if curve.key in self._bulk_index:
                continue
            line = self._line_for(curve)
            default = CURVE_STYLES["groundwater" if curve.axis == "m" else "observed"]
            style = {**CURVE_STYLES.get(curve.curve, default), **curve.style}
            line.set_data(date_numbers(curve.dates), np.asarray(curve.values, dtype=float))
            line.set_color(curve.colour)
            line.set_linestyle(style["ls"])
            line.set_linewidth(style["lw"])
            line.set_marker(style["marker"] or "None")
            line.set_markersize(style["ms"])
            line.set_label(curve.label or f"{curve.point_id} {curve.curve}")
            line.set_visible(True)
            used.add(curve.key)
        for key, line in self._lines.items():
            if key not in used:
                line.set_visible(False)
        self.shown = list(curves)
        self._set_band(band)
        levels = any(c.axis == "m" for c in curves)
        self.ax_levels.set_visible(levels)
        self._rescale(levels)
        self.ax.set_title(title, fontsize=9)
        self.message.set_text(message)
        self._update_legend(curves)

    @staticmethod
    def _bulk_curves(curves):
        """Past MAX_LEGEND_POINTS kept PS, their observed/corrected/trend curves (all but the last
        PS's) are drawn as one LineCollection per kind: one artist instead of up to 150 Line2D,
        whose per-artist cost dominated the redraw."""
        starts = [i for i, c in enumerate(curves) if c.curve == "observed" and c.axis == "mm"]
        if len(starts) <= MAX_LEGEND_POINTS:
            return []
        return [c for c in curves[: starts[-1]] if c.axis == "mm" and c.curve in BULK_KINDS]

    def _set_bulk(self, bulk):
        from matplotlib.collections import LineCollection

        self._bulk_index = {}
        for kind in BULK_KINDS:
            members = [c for c in bulk if c.curve == kind]
            collection = self._bulk.get(kind)
            if not members:
                if collection is not None:
                    collection.set_visible(False)
                continue
            if collection is None:
                style = CURVE_STYLES[kind]
                # kept trends solid and thin: Agg's dash generation doubled the collection's cost
                dashes = "-" if kind == "trend" else style["ls"]
                width = 0.8 if kind == "trend" else style["lw"]
                collection = LineCollection([], linewidths=width, linestyles=dashes, alpha=0.9)
                self.ax.add_collection(collection)
                self._bulk[kind] = collection
            segments = [np.column_stack([date_numbers(c.dates), np.asarray(c.values, float)])
                        for c in members]  # fmt: skip
            collection.set_segments(segments)
            collection.set_color([c.colour for c in members])
            collection.set_visible(True)
            self._bulk_index.update({c.key: (kind, i) for i, c in enumerate(members)})

    def _set_band(self, band):
        if self._band is not None:
            self._band.remove()
            self._band = None
        if band is not None:
            dates, low, high, colour = band
            self._band = self.ax.fill_between(date_numbers(dates), low, high, color=colour, alpha=0.15,
                                              linewidth=0, label="±1σ")  # fmt: skip

    def _rescale(self, levels):
        for axis, want in ((self.ax, "mm"), (self.ax_levels, "m")):
            if axis is self.ax_levels and not levels:
                continue
            ys = [np.asarray(c.values, float) for c in self.shown if c.axis == want]
            xs = [date_numbers(c.dates) for c in self.shown if c.axis == want]
            finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.empty(0)
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = 0.06 * (hi - lo) or 1.0
                axis.set_ylim(lo - pad, hi + pad)
            if xs and axis is self.ax:
                x = np.concatenate(xs)
                if x.size:
                    pad = 0.02 * (x.max() - x.min()) or 15.0
                    axis.set_xlim(x.min() - pad, x.max() + pad)

    def _update_legend(self, curves):
        """The legend of the last point's curves first, then the kept points', at most
        MAX_LEGEND_ENTRIES; rebuilt only when its entries change (a legend costs more to lay out
        than the 50 lines it describes)."""
        starts = [i for i, c in enumerate(curves) if c.curve == "observed"]
        if len(starts) > MAX_LEGEND_POINTS:  # many kept PS: the last one's curves (it comes last), a count
            handles = [self._lines[c.key] for c in curves[starts[-1] :]][: MAX_LEGEND_ENTRIES - 1]
            self._kept_proxy.set_label(f"+ {len(starts) - 1} kept PS (colours as on the map)")
            handles.append(self._kept_proxy)
        else:
            handles = [self._lines[c.key] for c in reversed(curves)][:MAX_LEGEND_ENTRIES]
        if self._band is not None and len(handles) < MAX_LEGEND_ENTRIES:
            handles.append(self._band)
        key = tuple((h.get_label(), h.get_color() if hasattr(h, "get_color") else "band") for h in handles)
        if key == self._legend_key and self._legend is not None:
            return
        self._legend_key = key
        if self._legend is not None:
            self._legend.remove()
            self._legend = None
        # at the foot of the figure, in two columns (over the curves it hid the data it described);
        # the axes' bottom margin makes room for its rows
        self._legend_rows = (len(handles) + 1) // 2
        if handles:
            self._legend = self.figure.legend(handles=handles, fontsize=6.5, loc="lower center", ncol=2,
                                              bbox_to_anchor=(0.5, 0.0), frameon=False, borderaxespad=0.3,
                                              handlelength=2.5, columnspacing=1.2)  # fmt: skip
        self._fit_margins()

    def _fit_margins(self):
        """Margins in pixels whatever the dock's size: room for the date labels and the legend rows."""
        width, height = self.figure.get_size_inches() * self.figure.dpi
        bottom = 30 + LEGEND_ROW_PX * self._legend_rows
        side = min(0.3, 52 / width)
        self.figure.subplots_adjust(left=side, right=1 - side, top=1 - min(0.3, 22 / height),
                                    bottom=min(0.6, (bottom + 8) / height))  # fmt: skip

    def colour_of(self, index: int) -> str:
        return COLOURS[index % len(COLOURS)]

    def curve_rows(self) -> List[Tuple[str, str, np.ndarray, np.ndarray, str]]:
        """What is on screen, for the CSV export: (point id, curve, dates, values, unit) per line,
        read back from the lines themselves."""
        rows = []
        for curve in self.shown:
            if curve.key in self._bulk_index:
                kind, i = self._bulk_index[curve.key]
                xy = self._bulk[kind].get_segments()[i]
                x, y = xy[:, 0], xy[:, 1]
            else:
                x, y = self._lines[curve.key].get_data()
            days = np.round(np.asarray(x, dtype=float)).astype(np.int64)
            dates = np.datetime64(mdates.get_epoch()[:10], "D") + days
            rows.append((curve.point_id, curve.curve, dates, np.asarray(y, dtype=float), curve.axis))
        return rows


def groundwater_colour(index: int) -> str:
    return GROUNDWATER_COLOURS[index % len(GROUNDWATER_COLOURS)]

