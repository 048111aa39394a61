"""Benchmark: PS read/write through the project's path against a QGIS feature-iterator baseline.

Builds an m-point x n-date GeoPackage (default 200,000 x 150, EPSG:3035), then in the same
process times:

* read, project: ``processing_provider.ps_io.read_ps`` (OGR Arrow/NumPy batches) -> PSDataset;
* read, baseline: ``QgsVectorLayer.getFeatures()`` + ``attributes()`` + geometry -> numpy;
* write, project: ``processing_provider.ps_io.write_ps`` to a ``.gpkg`` path, which takes the
  direct GeoPackage writer (``core/gpkg_writer.py``: OGR schema + sqlite3 bulk insert +
  packed R-tree);
* write, project sink path: the same call with ``fast_gpkg=False`` (Processing sink, attribute
  lists, batched ``addFeatures(FastInsert)``), what every non-GeoPackage destination gets;
* write, baseline: the same sink fed one feature at a time with ``setAttribute`` per field;

checks that both reads give the same arrays and that the fast and sink files hold the same
values, and prints the times and ratios.

Run: ``QT_QPA_PLATFORM=offscreen /opt/subsidence-lab-venv/bin/python bench/bench_read_write.py``
(``--points 20000`` for a quick run).
"""

import argparse
import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
from common import start_app, timed


def build_dataset(m, n, seed=0):
    from subsidence_lab.core.psdata import PSDataset

    rng = np.random.default_rng(seed)
    dates = np.datetime64("2016-01-03") + np.arange(n) * 12
    t = np.arange(n) * 12 / 365.25
    series = rng.uniform(-40, 5, m)[:, None] * t[None, :] + rng.normal(0, 2, (m, n))
    series[:, 0] = 0.0
    series[rng.random((m, n)) < 0.02] = np.nan
    return PSDataset(
        ids=np.arange(1, m + 1, dtype=np.int64),
        x=rng.uniform(4_300_000, 4_400_000, m),
        y=rng.uniform(3_100_000, 3_200_000, m),
        dates=dates,
        displacement_mm=series,
        z=rng.uniform(0, 80, m),
        crs="EPSG:3035",
    )


def baseline_read(path):
    """What a plain PyQGIS script does: iterate features, collect attributes and points."""
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "ps", "ogr")
    names = [f.name() for f in layer.fields()]
    date_index = [i for i, name in enumerate(names) if name.startswith("D") and name[1:].isdigit()]
    id_index = names.index("id")
    ids, xs, ys, rows = [], [], [], []
    for feature in layer.getFeatures():
        attributes = feature.attributes()
        ids.append(attributes[id_index])
        point = feature.geometry().asPoint()
        xs.append(point.x())
        ys.append(point.y())
        rows.append([attributes[i] for i in date_index])
    # NULL comes back as a null QVariant (or None): anything not a float is missing.
    series = np.array([[v if isinstance(v, float) else np.nan for v in row] for row in rows], dtype=float)
    return np.array(ids), np.array(xs), np.array(ys), series


class _Writer:
    """A minimal algorithm object: read_ps/write_ps need parameter definitions and sinks."""

    def __init__(self):
        from subsidence_lab.processing_provider.alg_prepare_ps_dataset import (
            PreparePSDatasetAlgorithm,
        )

        self.alg = PreparePSDatasetAlgorithm()
        self.alg.initAlgorithm()


def baseline_write(alg, path, ps, context):
    """One feature at a time, one setAttribute call per field, addFeature per feature."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsFeature,
        QgsFields,
        QgsGeometry,
        QgsPointXY,
    )

    from subsidence_lab import compat

    fields = QgsFields()
    fields.append(compat.field("id", "int64"))
    for date in ps.dates:
        fields.append(compat.field(f"D{str(date).replace('-', '')}", "float"))
    sink, dest = alg.parameterAsSink(
        {"OUTPUT": str(path)},
        "OUTPUT",
        context,
        fields,
        compat.WKB_POINT,
        QgsCoordinateReferenceSystem(ps.crs),
    )
    for i in range(ps.n_points):
        feature = QgsFeature(fields)
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(ps.x[i]), float(ps.y[i]))))
        feature.setAttribute(0, int(ps.ids[i]))
        row = ps.displacement_mm[i]
        for j in range(ps.n_dates):
            value = row[j]
            feature.setAttribute(j + 1, None if np.isnan(value) else float(value))
        sink.addFeature(feature, compat.SINK_FAST_INSERT)
    del sink
    return dest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing; the best is reported")
    parser.add_argument("--workdir", default=None, help="folder for the files (default: a temp folder)")
    args = parser.parse_args()

    app = start_app()  # the checkout mounted, QGIS started offscreen; no Processing needed here
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    from subsidence_lab.core import ps_io as core_io
    from subsidence_lab.processing_provider.outputs import write_ps
    from subsidence_lab.processing_provider.ps_io import read_ps

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_read_write_"))
    if not args.workdir:  # ~1.4 GB of files at the default size: never leave them behind
        atexit.register(shutil.rmtree, workdir, True)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"ps_{args.points}x{args.dates}.gpkg"
    ps = build_dataset(args.points, args.dates)
    _, built = timed(core_io.write_ps_file, source, ps, fields={"height": ps.z})
    print(f"built {source.name}: {args.points} points x {args.dates} dates in {built:.1f} s")

    alg = _Writer().alg
    feedback = QgsProcessingFeedback()

    def best_of(function):
        """Shortest of ``--repeat`` runs: the machine is shared, the minimum is the least noisy."""
        times = []
        for _ in range(args.repeat):
            result, seconds = timed(function)
            times.append(seconds)
        return min(times), result

    read_project, ours = best_of(
        lambda: read_ps(alg, {"INPUT": str(source)}, QgsProcessingContext(), feedback, require_projected=True)
    )
    read_baseline, (ids, xs, ys, series) = best_of(lambda: baseline_read(source))
    assert np.array_equal(ours.ids, ids) and np.allclose(ours.x, xs) and np.allclose(ours.y, ys)
    assert np.array_equal(ours.displacement_mm, series, equal_nan=True)

    out_project = workdir / "written_project.gpkg"
    out_sink = workdir / "written_sink.gpkg"
    out_baseline = workdir / "written_baseline.gpkg"

    def write_project_once(path, fast):
        context = QgsProcessingContext()
        write_ps(
            alg, {"OUTPUT": str(path)}, context, "OUTPUT", ours, series=ours.displacement_mm, fast_gpkg=fast
        )
        del context  # closes the sink's file

    def write_baseline_once():
        context = QgsProcessingContext()
        baseline_write(alg, out_baseline, ours, context)
        del context

    write_project, _ = best_of(lambda: write_project_once(out_project, True))
    write_sink, _ = best_of(lambda: write_project_once(out_sink, False))
    write_baseline, _ = best_of(write_baseline_once)
    back = core_io.read_ps_file(out_project)
    assert np.array_equal(back.displacement_mm, ours.displacement_mm, equal_nan=True)
    assert np.array_equal(back.ids, ours.ids) and np.array_equal(back.x, ours.x)
    back_sink = core_io.read_ps_file(out_sink)
    assert np.array_equal(back_sink.displacement_mm, back.displacement_mm, equal_nan=True)

    print(f"best of {args.repeat} runs each")
    print(f"read   project (OGR Arrow)           {read_project:8.2f} s")
    ratio = read_baseline / read_project
    print(f"read   baseline (getFeatures)        {read_baseline:8.2f} s   baseline / project {ratio:6.1f}x")
    print(f"write  project (direct GeoPackage)   {write_project:8.2f} s")
    print(
        f"write  project sink path             {write_sink:8.2f} s   sink / direct "
        f"{write_sink / write_project:6.1f}x"
    )
    ratio = write_baseline / write_project
    print(f"write  baseline (per attribute)      {write_baseline:8.2f} s   baseline / direct {ratio:6.1f}x")
    app.exitQgis()


if __name__ == "__main__":
    main()
