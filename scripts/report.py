"""Figures and scores for the sample study area, from the files the algorithms wrote.

Everything is read back from the outputs (never from the algorithms' memory), so the report
shows what a user would get. The scores use the planted truth (METHODS.md section 6):

- *stable RMS*: RMS over stable points and all epochs of (series - true deformation), mm;
- *bowl velocity error*: RMS of (velocity - true velocity) over points in subsidence bowls, mm/yr;
- *stations*: four benchmark stations (two in bowls, two stable) compared with the mean PS
  series within 300 m: RMSE and correlation against the true deformation there.
"""

import os

import numpy as np
from matplotlib.figure import Figure

from subsidence_lab.core.ps_io import read_ps_file
from subsidence_lab.core.ps_ops import velocity
from subsidence_lab.core.synthetic import load_truth
from subsidence_lab.ui import plots

STATION_RADIUS_M = 300.0


def _aligned(path, ids):
    """Series of the layer at ``path`` in the order of ``ids`` (the truth's order)."""
    ps = read_ps_file(path, date_fields="D")
    order = {v: i for i, v in enumerate(ps.ids.tolist())}
    index = np.array([order[i] for i in ids.tolist()])
    return ps.displacement_mm[index], ps.dates


def _stations(truth):
    """Two stations at bowl centres, two in the stable area far from every bowl."""
    x, y, stable = truth["x"], truth["y"], truth["stable_mask"]
    bowls = [b for b in truth["bowls"] if b["kind"] == "subsidence"][:2]
    picks = [(f"B{i + 1}", b["x"], b["y"]) for i, b in enumerate(bowls)]
    far = np.full(x.shape, np.inf)
    for b in truth["bowls"]:
        far = np.minimum(far, np.hypot(x - b["x"], y - b["y"]) - b["radius_m"])
    # the two stable points, 3 km apart at least, with the most PS within the station radius
    candidates = np.flatnonzero(stable & (far > 2000))
    from scipy.spatial import cKDTree

    counts = np.array([len(n) for n in cKDTree(np.c_[x, y]).query_ball_point(
        np.c_[x[candidates], y[candidates]], STATION_RADIUS_M)])
    chosen = []
    for i in candidates[np.argsort(-counts, kind="stable")]:
        if all(np.hypot(x[i] - x[c], y[i] - y[c]) > 3000 for c in chosen):
            chosen.append(i)
        if len(chosen) == 2:
            break
    for j, i in enumerate(chosen):
        picks.append((f"S{j + 1}", x[i], y[i]))
    return picks


def write_stations(out, gpkg, noise_mm=1.0):
    """Benchmark stations for the validation step: the mean true deformation of the PS within
    the station radius plus white noise (a GNSS-like series), one D<date> field per PS date."""
    from osgeo import ogr, osr

    truth = load_truth(os.path.join(out, "truth.npz"))
    x, y = truth["x"], truth["y"]
    true_def = truth["truth"]["deformation"] + truth["truth"]["seasonal_deformation"]
    stations = _stations(truth)
    rng = np.random.default_rng(7)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32650)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(gpkg)
    layer = ds.CreateLayer("stations", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("station_id", ogr.OFTString))
    names = [f"D{str(d).replace('-', '')}" for d in truth["dates"]]
    for name in names:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
    for sid, sx, sy in stations:
        near = np.hypot(x - sx, y - sy) <= STATION_RADIUS_M
        series = true_def[near].mean(axis=0) + rng.normal(0, noise_mm, len(names))
        series -= series[0]
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("station_id", sid)
        for name, value in zip(names, series):
            feature.SetField(name, float(value))
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({sx} {sy})"))
        layer.CreateFeature(feature)
    ds = None
    return stations


def _validation_rows(path_csv):
    import csv

    with open(path_csv, newline="") as handle:
        return {row["station_id"]: row for row in csv.DictReader(handle)}


def write_report(out, stations):
    path = lambda name: os.path.join(out, name)  # noqa: E731
    truth = load_truth(path("truth.npz"))
    ids, x, y = truth["ids"], truth["x"], truth["y"]
    true_def = truth["truth"]["deformation"] + truth["truth"]["seasonal_deformation"]
    stable = truth["stable_mask"]
    v_true = truth["velocity_true_mm_per_year"]
    in_bowl = np.zeros(len(ids), bool)
    for b in truth["bowls"]:
        if b["kind"] == "subsidence":
            in_bowl |= np.hypot(x - b["x"], y - b["y"]) < 0.5 * b["radius_m"]

    methods = {}
    for label, name in (("raw", "ps_observed.gpkg"), ("filter", "ps_filtered.gpkg"),
                        ("PCA method", "ps_corrected.gpkg")):
        series, dates = _aligned(path(name), ids)
        methods[label] = series
    vel = {label: velocity(s, dates)[0] for label, s in methods.items()}

    names = [s[0] for s in stations] + ["ALL"]
    header = f"{'method':<12} {'stable RMS':>10} {'bowl v err':>10}  " + "".join(f"{n:>7}" for n in names)
    table = [header]
    scores = {}
    for label, series in methods.items():
        resid = (series - true_def)[stable]
        stable_rms = float(np.sqrt(np.nanmean(resid**2)))
        bowl_err = float(np.sqrt(np.mean((vel[label][in_bowl] - v_true[in_bowl]) ** 2)))
        key = {"raw": "raw", "filter": "filter", "PCA method": "pca"}[label]
        rows = _validation_rows(path(f"validation_{key}.csv"))
        station_rmse = {n: float(rows[n]["rmse_mm"]) for n in names}
        scores[label] = {"stable_rms_mm": stable_rms, "bowl_velocity_rmse_mm_per_year": bowl_err,
                         "station_rmse_mm": station_rmse}
        table.append(f"{label:<12} {stable_rms:10.2f} {bowl_err:10.2f}  "
                     + "".join(f"{station_rmse[n]:7.2f}" for n in names))

    _figure_study_area(path, truth, x, y, v_true)
    _figure_components(path, x, y, ids)
    _figure_correction(path, x, y, dates, methods, vel, v_true, true_def, stations)

    with open(path("summary.md"), "w") as handle:
        handle.write("# Sample study area: PCA-based error removal against the planted truth\n\n")
        handle.write("Stable RMS: RMS (mm) over all stable points and epochs of series minus true "
                     "deformation. Bowl v err: RMSE (mm/yr) of velocity against truth over the inner half "
                     "of the subsidence bowls. Stations (B = bowl centre, S = stable; ALL = pooled): RMSE "
                     f"(mm) from `validatebenchmarks`, mean PS series within {STATION_RADIUS_M:.0f} m "
                     "against a GNSS-like series (true deformation + 1 mm noise).\n\n")
        handle.write("```\n" + "\n".join(table) + "\n```\n\n")
        handle.write("Figures: fig_study_area.png, fig_components.png, fig_velocity.png, fig_stations.png\n")
    return {"table": table, "scores": scores, "dominant_layer": truth["dominant_layer"],
            "stations": [[name, float(sx), float(sy)] for name, sx, sy in stations]}


def _figure_study_area(path, truth, x, y, v_true):
    from subsidence_lab.core.groundwater_io import read_groundwater

    gw = read_groundwater(path("groundwater.gpkg"))
    fig = Figure(figsize=(13, 5.2))
    axes = fig.subplots(1, 2)
    plots.points_map(axes[0], x, y, v_true, "True LOS velocity and wells", "mm/yr")
    wells = read_ps_wells(path("wells.gpkg"))
    axes[0].plot(wells[0], wells[1], "k^", ms=7, label="wells")
    axes[0].legend(fontsize=7)
    w = 0
    plots.series(axes[1], gw.dates, {layer: gw.levels_m[w, k] for k, layer in enumerate(gw.layers)},
                 f"Groundwater head at well {gw.well_ids[w]} (dominant layer: {truth['dominant_layer']})",
                 "head (m)")
    fig.tight_layout()
    fig.savefig(path("fig_study_area.png"), dpi=110)


def read_ps_wells(gpkg):
    from osgeo import ogr

    ds = ogr.Open(gpkg)
    layer = ds.GetLayer(0)
    xy = np.array([f.GetGeometryRef().GetPoint_2D() for f in layer])
    return xy[:, 0], xy[:, 1]


def _figure_components(path, x, y, ids):
    """Component maps S_k W_k (mm, as seed 003 plots them) over their temporal curves T_k."""
    from subsidence_lab.core.pca import Decomposition

    dec = Decomposition.load(path("decomposition.npz"))
    maps = dec.component_maps_mm()
    k = maps.shape[1]
    cols = min(k, 5)
    rows = 2 * int(np.ceil(k / cols))
    fig = Figure(figsize=(3.4 * cols, 2.9 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw={"height_ratios": [1.6, 1] * (rows // 2)})
    for j in range(k):
        r, c = 2 * (j // cols), j % cols
        title = f"PC{j + 1}: {dec.labels[j]}\n{100 * dec.variance_share[j]:.2g} % of variance"
        plots.points_map(axes[r, c], x, y, maps[:, j], title, "mm", size=2)
        plots.series(axes[r + 1, c], dec.dates, {f"T{j + 1}": dec.temporal[:, j]})
    for j in range(k, (rows // 2) * cols):
        axes[2 * (j // cols), j % cols].set_visible(False)
        axes[2 * (j // cols) + 1, j % cols].set_visible(False)
    fig.tight_layout()
    fig.savefig(path("fig_components.png"), dpi=100)


def _figure_correction(path, x, y, dates, methods, vel, v_true, true_def, stations):
    """fig_velocity.png: top, the velocity before (raw) and after the PCA correction beside the true
    one (one colour scale); bottom, each method's velocity error against the truth (mm/yr, a small
    scale: at the bowls' +-100 mm/yr the errors would be invisible). fig_stations.png: two stations'
    mean series, every method and the truth."""
    fig = Figure(figsize=(16, 9.5))
    vlim = plots.symmetric_limits(v_true)
    panels = (("raw (before)", vel["raw"]), ("PCA method (after)", vel["PCA method"]), ("true", v_true))
    for j, (label, values) in enumerate(panels):
        ax = fig.add_subplot(2, 3, j + 1)
        plots.points_map(ax, x, y, values, f"LOS velocity: {label}", "mm/yr", limits=vlim, size=2)
    lim = plots.symmetric_limits(vel["raw"] - v_true)
    for j, label in enumerate(("raw", "filter", "PCA method")):
        ax = fig.add_subplot(2, 3, j + 4)
        err = vel[label] - v_true
        rms = float(np.sqrt(np.nanmean(err**2)))
        title = f"Velocity error against truth: {label} (RMS {rms:.2f})"
        plots.points_map(ax, x, y, err, title, "mm/yr", limits=lim, size=2)
    fig.tight_layout()
    fig.savefig(path("fig_velocity.png"), dpi=90)

    fig = Figure(figsize=(15, 4.6))
    for j, (name, sx, sy) in enumerate(stations[:1] + stations[2:3]):
        ax = fig.add_subplot(1, 2, 1 + j)
        near = np.hypot(x - sx, y - sy) <= STATION_RADIUS_M
        curves = {label: np.nanmean(s[near], axis=0) for label, s in methods.items()}
        curves["truth"] = true_def[near].mean(axis=0)
        plots.series(ax, dates, curves, f"Station {name}: mean of {near.sum()} PS within 300 m", "LOS (mm)",
                     styles={"truth": {"lw": 2.2, "color": "k", "ls": "--"}})
    fig.tight_layout()
    fig.savefig(path("fig_stations.png"), dpi=90)
