"""Matplotlib drawing shared by the docks (Qt canvas) and the demo's figures (Agg).

Every function draws into an ``Axes`` it is given and imports no Qt, so the same drawing code
serves a ``FigureCanvasQTAgg`` in a dock and a PNG written headless.
"""

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..core.scales import symmetric_limit

SUBSIDENCE_CMAP = "RdBu"  # red = subsidence (negative), blue = uplift


def symmetric_limits(values, percentile=98.0):
    """A colour range symmetric about 0 that ignores the most extreme 2 % (outliers, NaN)."""
    v = symmetric_limit(values, percentile)
    return -v, v


def points_map(ax, x, y, values, title="", label="", cmap=SUBSIDENCE_CMAP, limits=None, size=4):
    """Scatter PS points coloured by ``values`` with a symmetric diverging scale; returns the artist."""
    vmin, vmax = limits if limits is not None else symmetric_limits(values)
    art = ax.scatter(x, y, c=values, s=size, cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    cbar = ax.figure.colorbar(art, ax=ax, shrink=0.8)
    cbar.set_label(label, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    return art


def series(ax, dates, curves, title="", ylabel="", styles=None):
    """Plot named series against dates: ``curves`` is a dict label -> values (NaN = gap)."""
    styles = styles or {}
    for label, values in curves.items():
        ax.plot(np.asarray(dates, dtype="datetime64[D]").astype("O"), values, label=label,
                **styles.get(label, {"lw": 1.2}))
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=7, loc="best")


def shade_test_months(ax, dates, split, label="test months"):
    """Shade the span of the months whose ``split`` is "test" (the chronological test part)."""
    months = np.asarray(dates, dtype="datetime64[D]")
    test = months[np.asarray(split) == "test"]
    if test.size:
        ax.axvspan(test.min().astype("O"), test.max().astype("O"), color="0.9", zorder=0, label=label)


def bars(ax, labels, values, title="", ylabel="", highlight=None):
    """One bar per label (``highlight``: the label drawn in a strong colour), values written on top."""
    colours = ["tab:red" if label == highlight else "tab:blue" for label in labels]
    art = ax.bar(range(len(labels)), values, color=colours)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=7, rotation=20)
    for rect, value in zip(art, values):
        ax.annotate(f"{value:.2f}", (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="y", alpha=0.3)
