"""Benchmark and closing table of the PCA error removal (issue 5 acceptance 4-5). Not a test.

    QT_QPA_PLATFORM=offscreen /opt/subsidence-lab-venv/bin/python bench/bench_error_removal.py
    (options: --points 200000 --dates 150 --k 20 --skip-e2e --skip-table)

Prints, from one run:
1. a table like seed 003's Table 2 on the 4000-point synthetic study area (METHODS.md 6):
   raw, spatio-temporal filter (100 d x 80 m) and the PCA method (METHODS 3, k = 20 with the
   smooth-in-time components as deformation and the rest as error, quadratic + elevation
   surface, stable mask), RMS in the stable area (series minus true deformation, see
   core/validation.py) and RMSE at 4 synthetic GNSS stations, with the PCA method's gain
   against the filter;
2. subsidencelab:pcaerrorremoval end to end (read, decompose, remove, write the corrected layer)
   on a 200k x 150 synthetic GeoPackage against a bare OGR Arrow read of the same file, with
   the core steps timed separately, and subsidencelab:spatiotemporalfilter likewise.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from common import mount_package, start_qgis, timed

mount_package()

from subsidence_lab.core import gpkg_pages, gpkg_writer  # noqa: E402
from subsidence_lab.core.error_removal import linear_velocity, remove_errors  # noqa: E402
from subsidence_lab.core.noise_floor import remove_noise_floor  # noqa: E402
from subsidence_lab.core.pca import decompose  # noqa: E402
from subsidence_lab.core.ps_ops import velocity as ps_velocity  # noqa: E402
from subsidence_lab.core.spatiotemporal_filter import spatiotemporal_filter  # noqa: E402
from subsidence_lab.core.synthetic import benchmark_stations, make_study_area  # noqa: E402
from subsidence_lab.core.validation import compare_with_benchmarks, stable_area_rms  # noqa: E402


def smooth_and_random(dec):
    """Deformation = components with a smooth T_k (lag-1 autocorrelation >= 0.5); error = the rest."""
    lag1 = dec.diagnostics["lag1_autocorrelation"]
    return [k + 1 for k in range(dec.k) if lag1[k] >= 0.5], [k + 1 for k in range(dec.k) if lag1[k] < 0.5]


def table_2(k):
    area = make_study_area(seed=0, n_points=4000, n_dates=60, nan_fraction=0.02)
    ps = area.ps
    dec = decompose(ps.displacement_mm, k=k, dates=ps.dates, ids=ps.ids, x=ps.x, y=ps.y, z=ps.z)
    deformation, error = smooth_and_random(dec)
    pca = remove_errors(
        ps.displacement_mm,
        dec,
        x=ps.x,
        y=ps.y,
        z=ps.z,
        ids=ps.ids,
        deformation_components=deformation,
        error_components=error,
        polynomial="quadratic_elevation",
        fit_mask=area.stable_mask,
    ).corrected_mm
    filtered = spatiotemporal_filter(ps.displacement_mm, ps.x, ps.y, ps.dates, 100.0, 80.0).corrected_mm
    methods = {"raw": ps.displacement_mm, "filter": filtered, "PCA method": pca}
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    rows = {"stable area (RMS)": [stable_area_rms(s, area.stable_mask, truth) for s in methods.values()]}
    stations = [dict(st, id=f"{st['id']} ({st['kind']})") for st in benchmark_stations(area)]
    reports = [compare_with_benchmarks(ps.x, ps.y, ps.dates, s, stations) for s in methods.values()]
    for j, station in enumerate(stations):
        rows[station["id"]] = [r.stations[j].rmse_mm for r in reports]
    rows["all stations (RMSE)"] = [r.rmse_mm for r in reports]
    inside = np.zeros(ps.n_points, dtype=bool)
    for bowl in area.bowls:
        if bowl["kind"] == "subsidence":
            inside |= np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) < bowl["radius_m"]
    true_v = area.velocity_true_mm_per_year
    rows["bowl velocity (RMSE, mm/yr)"] = [
        float(np.sqrt(np.nanmean((linear_velocity(s, ps.dates)[0][inside] - true_v[inside]) ** 2)))
        for s in methods.values()
    ]
    print(f"== Table 2 on the synthetic area (4000 x 60, seed 0; PCA k = {k}, deformation PCs {deformation})")
    print(f"   {'mm':<30}{'raw':>8}{'filter':>8}{'PCA':>8}{'vs raw':>9}{'vs filter':>11}")
    for name, (raw, filt, pca_value) in rows.items():
        print(
            f"   {name:<30}{raw:8.2f}{filt:8.2f}{pca_value:8.2f}"
            f"{100 * (1 - pca_value / raw):8.1f}%{100 * (1 - pca_value / filt):10.1f}%"
        )


def _bare_arrow_read(path):
    from osgeo import ogr

    ogr.UseExceptions()
    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)  # keep the layer alive while the stream is read
    names = [
        layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())
    ]
    # GDAL < 3.8.1 fails on GeoPackage Arrow reads of > ~125 columns (OSGeo/gdal#8757): read
    # every column in passes of 100 fields, as core/ps_io.py does, with no conversion.
    rows = 0
    for start in range(0, len(names), 100):
        keep = set(names[start : start + 100])
        layer.SetIgnoredFields([n for n in names if n not in keep] + ([] if start == 0 else ["geom"]))
        stream = layer.GetArrowStreamAsNumPy(options=["USE_MASKED_ARRAYS=NO"])
        rows = 0
        for batch in stream:
            rows += len(next(iter(batch.values())))
        del stream
    layer.SetIgnoredFields([])
    return rows


def _best(runs, fn, *args):
    """``((result, wall seconds), CPU seconds)`` of the run with the least wall time among ``runs``."""
    best = None
    for _ in range(max(1, runs)):
        cpu = time.process_time()
        out = timed(fn, *args)
        cpu = time.process_time() - cpu
        if best is None or out[1] < best[0][1]:
            best = (out, cpu)
    return best


def end_to_end(m, n, k, folder, runs=2):
    from subsidence_lab.core import ps_io

    print(f"== end to end on a {m} x {n} GeoPackage vs a bare OGR Arrow read")
    area, t_area = timed(make_study_area, seed=0, n_points=m, n_dates=n, nan_fraction=0.02)
    stable = area.stable_mask.astype(np.int64)
    path, t_write = timed(
        ps_io.write_ps_file,
        Path(folder) / "bench_ps.gpkg",
        area.ps,
        fields={"height": area.ps.z, "calm": stable},
    )
    print(
        f"   synthetic area {t_area:.1f} s, written in {t_write:.1f} s ({os.path.getsize(path) / 1e6:.0f} MB)"
    )
    processing, app = start_qgis()
    _bare_arrow_read(path)  # warm the file cache so every run reads from memory
    print(f"   machine shared (2 cores): load average {os.getloadavg()[0]:.1f} at the start")
    # Best of ``runs`` for the read and the algorithm: the machine is shared, the minimum is the
    # least disturbed run. CPU seconds (this process, all threads) are printed too: they move
    # less than wall time when other jobs compete for the cores.
    (rows, t_read), c_read = _best(runs, _bare_arrow_read, path)
    assert rows == m
    params = {
        "INPUT": str(path),
        "N_COMPONENTS": k,
        "STABLE_FIELD": "calm",
        "POLYNOMIAL": 3,
        "OUTPUT": str(Path(folder) / "corrected.gpkg"),
    }
    (_, t_alg), c_alg = _best(runs, processing.run, "subsidencelab:pcaerrorremoval", params)
    ps, t_core_read = timed(ps_io.read_ps_file, str(path))
    dec, t_dec = timed(
        decompose, ps.displacement_mm, k=k, dates=ps.dates, ids=ps.ids, x=ps.x, y=ps.y, z=ps.z
    )
    _, t_remove = timed(
        remove_errors,
        ps.displacement_mm,
        dec,
        x=ps.x,
        y=ps.y,
        z=ps.z,
        ids=ps.ids,
        polynomial="quadratic_elevation",
        fit_mask=area.stable_mask,
    )
    _, t_velocity = timed(ps_velocity, ps.displacement_mm, ps.dates)
    _, t_noise = timed(remove_noise_floor, ps.displacement_mm, ps.dates, ps.x, ps.y)
    columns = [("id", "int", ps.ids)]
    write_args = (
        gpkg_writer.write_points_gpkg,
        str(Path(folder) / "corrected_direct.gpkg"),
        ps.x,
        ps.y,
        ps.crs,
        columns,
    )
    series = ([f"D{str(d).replace('-', '')}" for d in ps.dates], ps.displacement_mm)
    _, t_write = timed(*write_args, series=series)
    layout = gpkg_pages.page_layout
    gpkg_pages.page_layout = lambda connection, table: None  # the sqlite3 path, for comparison
    try:
        _, t_write_sqlite = timed(*write_args, series=series)
    finally:
        gpkg_pages.page_layout = layout
    params = {"INPUT": str(path), "OUTPUT": str(Path(folder) / "filtered.gpkg")}
    _, t_filter_alg = timed(processing.run, "subsidencelab:spatiotemporalfilter", params)
    _, t_filter = timed(spatiotemporal_filter, ps.displacement_mm, ps.x, ps.y, ps.dates)
    print(f"   bare OGR Arrow read:               {t_read:7.2f} s  ({c_read:.2f} s CPU)")
    print(
        f"   pcaerrorremoval end to end:        {t_alg:7.2f} s  ratio {t_alg / t_read:5.1f} x the bare read"
        f"  ({c_alg:.2f} s CPU, {c_alg / c_read:.1f} x the read's CPU)"
    )
    print(
        f"     core: read {t_core_read:.2f} s ({t_core_read / t_read:.1f}x the bare read), decompose k={k} "
        f"{t_dec:.2f} s, remove_errors {t_remove:.2f} s (of which noise floor ~{t_noise:.2f} s, "
        f"ps_ops.velocity ~{t_velocity:.2f} s), "
        f"{m} x {n} series written {t_write:.2f} s (direct GeoPackage as SQLite pages; "
        f"{t_write_sqlite:.2f} s through sqlite3 inserts); "
        f"the rest (stable field, diagnostics, self-report, Processing) "
        f"{t_alg - t_core_read - t_dec - t_remove - t_write:.2f} s"
    )
    print(f"   load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"   spatiotemporalfilter end to end:   {t_filter_alg:7.2f} s  ratio {t_filter_alg / t_read:5.1f} x"
        f" (core filter {t_filter:.2f} s)"
    )
    app.exitQgis()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--runs", type=int, default=2, help="runs of the read and the algorithm (best kept)")
    args = parser.parse_args()
    if not args.skip_table:
        table_2(args.k)
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory(prefix="bench_err_") as folder:
            end_to_end(args.points, args.dates, args.k, folder, args.runs)


if __name__ == "__main__":
    main()
