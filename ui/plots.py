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
