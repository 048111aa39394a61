"""The AM-LSTM part of the sample study area's report: figures and tables read back from the
shipped model's output tables (predictions, metrics, attention, wells with PS counts).

- ``fig_amlstm_predictions.png``: per well, the observed monthly deformation and every model's
  prediction, the test months shaded;
- ``fig_attention.png``: per well, the mean attention weight of each aquifer layer (the layer the
  synthetic area's subsidence truly follows drawn in red), and the per-month weights of the
  first well.
"""

import os

import numpy as np
from matplotlib.figure import Figure

from subsidence_lab.ui import plots

MODELS = ("amlstm", "lstm", "physical", "linear", "trend", "persistence")
LABELS = {
    "amlstm": "AM-LSTM",
    "lstm": "LSTM",
    "physical": "physical",
    "linear": "linear",
    "trend": "trend",
    "persistence": "persistence",
}
STYLES = {
    "observed": {"lw": 2.2, "color": "k"},
    "AM-LSTM": {"lw": 1.6, "color": "tab:red"},
    "LSTM": {"lw": 1.3, "color": "tab:blue"},
    "physical": {"lw": 1.0, "color": "tab:green"},
    "linear": {"lw": 1.0, "color": "tab:orange", "ls": "-."},
    "trend": {"lw": 0.9, "color": "tab:purple", "ls": "--"},
    "persistence": {"lw": 0.9, "color": "0.5", "ls": ":"},
}


def read_rows(path):
    """Rows of the first layer of any OGR table (CSV, GeoPackage) as dicts."""
    from osgeo import ogr

    ds = ogr.Open(path)
    if ds is None:
        raise FileNotFoundError(path)
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    return [{n: f.GetField(n) for n in names} for f in layer]


def _number(value):
    if value is None or value == "":
        return np.nan
    return float(value)


def amlstm_tables(path):
    """Per-well metrics, PS counts and mean attention, read from the output tables in ``path(name)``."""
    metrics = {}
    for row in read_rows(path("amlstm_metrics.csv")):
        metrics.setdefault(row["feature_id"], {})[row["model"]] = {
            "rmse_mm": _number(row["rmse_mm"]),
            "nse": _number(row["nse"]),
            "gain_pct": _number(row["gain_pct"]),
        }
    counts = {str(r["feature_id"]): int(r["ps_count"]) for r in read_rows(path("wells_ps_count.gpkg"))}
    attention, layers = {}, []
    for row in read_rows(path("amlstm_attention.csv")):
        if row["date"] in (None, ""):
            attention.setdefault(row["feature_id"], {})[row["layer"]] = _number(row["weight"])
            if row["layer"] not in layers:
                layers.append(row["layer"])
    wells = sorted(metrics)
    return {"wells": wells, "metrics": metrics, "counts": counts, "attention": attention, "layers": layers}


def _rmse(value):
    """Width 12; scientific notation for a model that diverged (otherwise it breaks the columns)."""
    return f"{value:12.2f}" if abs(value) < 1e5 else f"{value:12.2e}"


def diverged(tables, factor=10.0):
    """(well, model) pairs whose RMSE exceeds ``factor`` times persistence's: fits that blew up."""
    return [
        (w, m)
        for w in tables["wells"]
        for m in MODELS
        if tables["metrics"][w][m]["rmse_mm"] > factor * tables["metrics"][w]["persistence"]["rmse_mm"]
    ]


def amlstm_summary(tables):
    """Lines of the per-well RMSE table (mm, test months) and the mean over the wells."""
    wells, metrics = tables["wells"], tables["metrics"]
    header = f"{'well':<6} {'PS':>5} " + "".join(f"{LABELS[m]:>12}" for m in MODELS) + f"{'gain %':>9}"
    lines = [header]
    for well in wells:
        row = metrics[well]
        lines.append(
            f"{well:<6} {tables['counts'].get(well, 0):>5} "
            + "".join(_rmse(row[m]["rmse_mm"]) for m in MODELS)
            + f"{row['amlstm']['gain_pct']:9.1f}"
        )
    mean = {m: float(np.nanmean([metrics[w][m]["rmse_mm"] for w in wells])) for m in MODELS}
    gain = 100.0 * (mean["lstm"] - mean["amlstm"]) / mean["lstm"]
    lines.append(f"{'mean':<6} {'':>5} " + "".join(_rmse(mean[m]) for m in MODELS) + f"{gain:9.1f}")
    for well, model in diverged(tables):
        lines.append(f"  {LABELS[model]} diverged at {well} (RMSE over 10 x persistence's)")
    return lines, mean, gain


def figure_predictions(path, out_name="fig_amlstm_predictions.png"):
    rows = read_rows(path("amlstm_predictions.csv"))
    wells = sorted({r["feature_id"] for r in rows})
    cols = 2
    fig = Figure(figsize=(13, 2.9 * int(np.ceil(len(wells) / cols))))
    axes = fig.subplots(int(np.ceil(len(wells) / cols)), cols, squeeze=False)
    for j, well in enumerate(wells):
        ax = axes[j // cols, j % cols]
        mine = sorted((r for r in rows if r["feature_id"] == well), key=lambda r: r["date"])
        dates = np.array([r["date"] for r in mine], dtype="datetime64[D]")
        plots.shade_test_months(ax, dates, [r["split"] for r in mine])
        curves = {"observed": [_number(r["observed_mm"]) for r in mine]}
        curves.update({LABELS[m]: [_number(r[f"{m}_mm"]) for r in mine] for m in MODELS})
        observed = np.array(curves["observed"], float)
        lo, hi = np.nanmin(observed), np.nanmax(observed)
        pad = 0.4 * max(hi - lo, 0.1)
        off = [
            m
            for m in LABELS.values()
            if np.nanmax(np.abs(np.array(curves[m], float) - (lo + hi) / 2)) > (hi - lo) / 2 + 3 * pad
        ]
        title = f"Well {well}: monthly deformation, observed and every model"
        plots.series(
            ax,
            dates,
            curves,
            title + (f"\n(off scale: {', '.join(off)})" if off else ""),
            "mm / month",
            styles=STYLES,
        )
        ax.set_ylim(lo - pad, hi + pad)  # the observed range: a diverging model must not flatten it
    for j in range(len(wells), axes.size):
        axes.flat[j].set_visible(False)
    fig.tight_layout()
    fig.savefig(path(out_name), dpi=90)


def figure_attention(path, tables, dominant_layer, out_name="fig_attention.png"):
    wells, layers = tables["wells"], tables["layers"]
    cols = 4
    rows = int(np.ceil(len(wells) / cols)) + 1
    fig = Figure(figsize=(14, 2.7 * rows))
    grid = fig.add_gridspec(rows, cols)
    for j, well in enumerate(wells):
        ax = fig.add_subplot(grid[j // cols, j % cols])
        weights = [tables["attention"][well][layer] for layer in layers]
        plots.bars(ax, layers, weights, f"Well {well}: mean attention", "weight", highlight=dominant_layer)
        ax.set_ylim(0, 1)
    ax = fig.add_subplot(grid[rows - 1, :])
    first = wells[0]
    per_month = {}
    for row in read_rows(path("amlstm_attention.csv")):
        if row["feature_id"] == first and row["date"] not in (None, ""):
            per_month.setdefault(row["layer"], []).append((row["date"], _number(row["weight"])))
    dates = [d for d, _ in sorted(per_month[layers[0]])]
    plots.series(
        ax,
        dates,
        {layer: [w for _, w in sorted(per_month[layer])] for layer in layers},
        f"Well {first}: attention per month (true driving layer: {dominant_layer})",
        "weight",
    )
    fig.suptitle(
        f"AM-LSTM input attention per well and aquifer layer (red: {dominant_layer}, the layer "
        "the synthetic subsidence follows)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path(out_name), dpi=90)


def write_amlstm_report(out, dominant_layer):
    path = lambda name: os.path.join(out, name)  # noqa: E731
    tables = amlstm_tables(path)
    lines, mean, gain = amlstm_summary(tables)
    figure_predictions(path)
    figure_attention(path, tables, dominant_layer)
    return {
        "table": lines,
        "tables": tables,
        "mean_rmse_mm": mean,
        "gain_pct": gain,
        "diverged": [(w, LABELS[m]) for w, m in diverged(tables)],
    }
