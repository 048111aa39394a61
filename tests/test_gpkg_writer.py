"""The direct GeoPackage writer gives the file the Processing sink gives, only faster (issue 3)."""

import os
import sqlite3

import numpy as np
import pytest

from subsidence_lab.core import gpkg_writer
from subsidence_lab.core.psdata import PSDataset

DATES = np.array(["2017-03-01", "2017-03-13", "2017-04-06", "2017-05-24"], dtype="datetime64[D]")


def _dataset(m=120, seed=5):
    rng = np.random.default_rng(seed)
    series = np.round(rng.normal(0, 5, (m, DATES.size)), 4)
    series[rng.random((m, DATES.size)) < 0.1] = np.nan
    series[7] = np.nan  # a point without any value
    return PSDataset(
        ids=np.arange(501, 501 + m, dtype=np.int64),
        x=np.round(4_310_000 + rng.uniform(0, 5000, m), 3),
        y=np.round(3_120_000 + rng.uniform(0, 5000, m), 3),
        dates=DATES,
        displacement_mm=series,
        crs="EPSG:3035",
    )


def _fields(ps):
    velocity = np.linspace(-30, 4, ps.n_points)
    velocity[[2, 40]] = np.nan
    return {
        "velocity_mm_per_year": velocity,
        "calm": (np.arange(ps.n_points) % 3 == 0).astype(np.int64),
        "label": np.array([f"p{i}" for i in range(ps.n_points)], dtype=object),
    }


def _read_all(path):
    """Everything OGR sees in the file: schema, fids, values (None = NULL), points, CRS, extent."""
    from osgeo import ogr

    dataset = ogr.Open(str(path))
    assert dataset.GetLayerCount() == 1
    layer = dataset.GetLayer(0)
    definition = layer.GetLayerDefn()
    schema = [
        (definition.GetFieldDefn(i).GetName(), definition.GetFieldDefn(i).GetTypeName())
        for i in range(definition.GetFieldCount())
    ]
    rows = []
    for feature in layer:
        values = [
            feature.GetField(i) if feature.IsFieldSetAndNotNull(i) else None for i in range(len(schema))
        ]
        point = feature.GetGeometryRef()
        rows.append((feature.GetFID(), values, point.GetX(), point.GetY()))
    srs = layer.GetSpatialRef()
    info = {
        "layer": layer.GetName(),
        "fid": layer.GetFIDColumn(),
        "geometry": layer.GetGeometryColumn(),
        "geom_type": layer.GetGeomType(),
        "crs": f"{srs.GetAuthorityName(None)}:{srs.GetAuthorityCode(None)}",
        "count": layer.GetFeatureCount(),
        "extent": layer.GetExtent(force=0),
    }
    return schema, rows, info


def _sqlite_facts(path, table):
    with sqlite3.connect(str(path)) as connection:
        extent = connection.execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (table,)
        ).fetchone()
        index = connection.execute(
            "SELECT count(*) FROM gpkg_extensions "
            "WHERE table_name = ? AND extension_name = 'gpkg_rtree_index'",
            (table,),
        ).fetchone()[0]
        check = connection.execute(f"SELECT rtreecheck('rtree_{table}_geom')").fetchone()[0]
        indexed = connection.execute(f"SELECT count(*) FROM rtree_{table}_geom").fetchone()[0]
        triggers = sorted(
            r[0]
            for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
            )
        )
    return extent, index, check, indexed, triggers


def _alg():
    from subsidence_lab.processing_provider.alg_prepare_ps_dataset import PreparePSDatasetAlgorithm

    alg = PreparePSDatasetAlgorithm()
    alg.initAlgorithm()
    return alg


def test_fast_path_file_equals_sink_file_value_by_value(tmp_path, qgis_app):
    from qgis.core import QgsProcessingContext, QgsVectorLayer

    from subsidence_lab.processing_provider.outputs import write_ps

    ps = _dataset()
    fields = _fields(ps)
    alg = _alg()
    sink_path = tmp_path / "sink" / "points.gpkg"
    fast_path = tmp_path / "fast" / "points.gpkg"
    sink_path.parent.mkdir()
    fast_path.parent.mkdir()
    context = QgsProcessingContext()
    sink_id = write_ps(
        alg,
        {"OUTPUT": str(sink_path)},
        context,
        "OUTPUT",
        ps,
        fields=fields,
        series=ps.displacement_mm,
        fast_gpkg=False,
    )
    del context  # closes the sink's file
    context = QgsProcessingContext()
    fast_id = write_ps(
        alg, {"OUTPUT": str(fast_path)}, context, "OUTPUT", ps, fields=fields, series=ps.displacement_mm
    )
    assert sink_id == str(sink_path) and fast_id == str(fast_path)
    assert os.listdir(fast_path.parent) == ["points.gpkg"]  # no temporary file left behind

    sink_schema, sink_rows, sink_info = _read_all(sink_path)
    fast_schema, fast_rows, fast_info = _read_all(fast_path)
    assert fast_schema == sink_schema
    assert [name for name, _ in fast_schema] == [
        "id",
        "velocity_mm_per_year",
        "calm",
        "label",
        "D20170301",
        "D20170313",
        "D20170406",
        "D20170524",
    ]
    assert dict(fast_schema)["id"] == "Integer64" and dict(fast_schema)["D20170406"] == "Real"
    assert fast_info == sink_info
    assert fast_info["count"] == ps.n_points and fast_info["crs"] == "EPSG:3035"
    assert len(fast_rows) == len(sink_rows) == ps.n_points
    for (fid_a, values_a, x_a, y_a), (fid_b, values_b, x_b, y_b) in zip(fast_rows, sink_rows):
        assert fid_a == fid_b
        assert values_a == values_b  # NULLs (None) included, exact doubles
        assert (x_a, y_a) == (x_b, y_b)
    # Known truth, not only "same as the sink": ids, NULL for NaN, the series values.
    assert [r[0] for r in fast_rows] == list(range(1, ps.n_points + 1))
    assert [r[1][0] for r in fast_rows] == ps.ids.tolist()
    assert fast_rows[2][1][1] is None and fast_rows[7][1][4:] == [None] * 4
    got = np.array([[np.nan if v is None else v for v in r[1][4:]] for r in fast_rows])
    np.testing.assert_array_equal(got, ps.displacement_mm)

    extent_fast, index_fast, check, indexed, triggers_fast = _sqlite_facts(fast_path, "points")
    extent_sink, index_sink, _, _, triggers_sink = _sqlite_facts(sink_path, "points")
    np.testing.assert_allclose(
        extent_fast, [ps.x.min(), ps.y.min(), ps.x.max(), ps.y.max()], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(extent_fast, extent_sink, rtol=0, atol=1e-9)
    assert index_fast == index_sink == 1 and check == "ok" and indexed == ps.n_points
    assert triggers_fast == triggers_sink

    layer = QgsVectorLayer(str(fast_path), "fast", "ogr")
    assert layer.isValid()
    assert layer.featureCount() == ps.n_points
    assert layer.crs().authid() == "EPSG:3035"
    assert layer.hasSpatialIndex() == 2  # QgsFeatureSource.SpatialIndexPresent


def test_spatial_index_answers_like_a_brute_force_search(tmp_path):
    from osgeo import ogr

    rng = np.random.default_rng(11)
    m = 5000  # several R-tree levels (51 cells per node)
    x = rng.uniform(0, 1000, m)
    y = rng.uniform(0, 1000, m)
    x[10] = np.nan  # an empty point: kept as a feature, not indexed
    path = gpkg_writer.write_points_gpkg(
        tmp_path / "pts.gpkg", x, y, "EPSG:32650", [("value", "float", np.arange(m, dtype=float))]
    )
    extent, _, check, indexed, _ = _sqlite_facts(path, "pts")
    assert check == "ok" and indexed == m - 1
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() == m
    for box in [(100, 200, 400, 450), (0, 0, 1000, 1000), (999.5, 999.5, 1000, 1000)]:
        layer.SetSpatialFilterRect(*box)
        got = sorted(f.GetFID() for f in layer)
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        assert got == (np.flatnonzero(inside) + 1).tolist()
    layer.SetSpatialFilter(None)
    feature = layer.GetFeature(11)  # kept alive: the geometry belongs to it
    empty = feature.GetGeometryRef()
    assert empty is not None and empty.IsEmpty()


def test_existing_file_is_replaced_only_when_complete(tmp_path):
    path = tmp_path / "out.gpkg"
    x = np.array([1.0, 2.0, 3.0])
    gpkg_writer.write_points_gpkg(path, x, x, "EPSG:32650", [("a", "float", x)])
    before = path.read_bytes()

    def cancel(fraction, message=None):
        raise KeyboardInterrupt("cancel")

    with pytest.raises(KeyboardInterrupt):
        gpkg_writer.write_points_gpkg(path, x, x, "EPSG:32650", [("b", "int", [1, 2, 3])], progress=cancel)
    assert path.read_bytes() == before  # the old file untouched, no partial file left
    assert sorted(os.listdir(tmp_path)) == ["out.gpkg"]
    with pytest.raises(ValueError, match="'id'"):
        gpkg_writer.write_points_gpkg(path, x, x, "", [("id", "int", x), ("ID", "float", x)])
    with pytest.raises(ValueError, match="'a': 2 values"):
        gpkg_writer.write_points_gpkg(path, x, x, "", [("a", "float", x[:2])])


def test_other_destinations_keep_the_sink_and_loading_is_registered(tmp_path, qgis_app):
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject

    from subsidence_lab.processing_provider.outputs import write_ps

    ps = _dataset(m=20)
    alg = _alg()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    memory_id = write_ps(alg, {"OUTPUT": "TEMPORARY_OUTPUT"}, context, "OUTPUT", ps)
    layer = context.getMapLayer(memory_id) if hasattr(context, "getMapLayer") else None
    layer = layer or context.temporaryLayerStore().mapLayer(memory_id)
    assert layer is not None and layer.featureCount() == 20
    shp = tmp_path / "points.shp"
    assert write_ps(alg, {"OUTPUT": str(shp)}, context, "OUTPUT", ps) == str(shp) and shp.exists()

    target = tmp_path / "loaded.gpkg"
    definition = QgsProcessingOutputLayerDefinition(str(target), QgsProject.instance())
    assert write_ps(alg, {"OUTPUT": definition}, context, "OUTPUT", ps, series=ps.displacement_mm) == str(
        target
    )
    assert context.willLoadLayerOnCompletion(str(target))
    assert context.layerToLoadOnCompletionDetails(str(target)).outputName == "OUTPUT"


def test_algorithm_output_through_the_fast_path_reads_back(tmp_path, provider):
    """processing.run with a .gpkg destination: the returned path opens and holds the results."""
    import processing

    from subsidence_lab.core import ps_io
    from subsidence_lab.core.spatiotemporal_filter import spatiotemporal_filter

    ps = _dataset(m=60)
    ps.displacement_mm[7] = np.arange(DATES.size, dtype=float)
    source = ps_io.write_ps_file(tmp_path / "ps.gpkg", ps)
    out = tmp_path / "filtered.gpkg"
    result = processing.run("subsidencelab:spatiotemporalfilter", {"INPUT": source, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    back = ps_io.read_ps_file(result["OUTPUT"])
    core = spatiotemporal_filter(ps.displacement_mm, ps.x, ps.y, ps.dates)
    np.testing.assert_array_equal(back.ids, ps.ids)
    np.testing.assert_allclose(back.displacement_mm, core.corrected_mm, rtol=0, atol=1e-12, equal_nan=True)
