"""PS reading/writing: same arrays from every source, clear errors on bad input (issue 3)."""

import hashlib
import os
import shutil

import numpy as np
import pytest

from subsidence_lab.core import ps_io
from subsidence_lab.core.psdata import PSDataset

DATES = np.array(
    ["2016-01-02", "2016-01-14", "2016-02-07", "2016-03-02", "2016-04-19"], dtype="datetime64[D]"
)


def small_dataset():
    rng = np.random.default_rng(3)
    m = 9
    series = np.round(np.cumsum(rng.normal(0, 2, (m, DATES.size)), axis=1), 3)
    series[:, 0] = 0.0
    series[2, 3] = np.nan
    series[6, 1] = np.nan
    series[6, 4] = np.nan
    return PSDataset(
        ids=np.arange(1001, 1001 + m, dtype=np.int64),
        x=np.round(4_500_000 + rng.uniform(0, 2000, m), 2),
        y=np.round(3_200_000 + rng.uniform(0, 2000, m), 2),
        dates=DATES,
        displacement_mm=series,
        z=np.round(rng.uniform(10, 60, m), 2),
        incidence_deg=np.round(rng.uniform(30, 45, m), 3),
        crs="EPSG:3035",
    )


def _extra_fields(ps):
    return {"height": ps.z, "incidence_angle": ps.incidence_deg, "mean_velocity": np.zeros(ps.n_points)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The small dataset as GeoPackage, Shapefile, GeoJSON and EGMS-style CSV."""
    folder = tmp_path_factory.mktemp("ps_io")
    ps = small_dataset()
    paths = {}
    for ext, prefix in (("gpkg", "D"), ("shp", "D_"), ("geojson", "D")):
        fields = {"pid": ps.ids, **_extra_fields(ps)}
        paths[ext] = ps_io.write_ps_file(folder / f"ps.{ext}", ps, fields=fields, series_prefix=prefix)
    # EGMS layout: pid, easting, northing, height, ..., bare YYYYMMDD columns, no geometry.
    paths["csv"] = ps_io.write_ps_file(
        folder / "egms.csv", ps, fields={"pid": ps.ids, **_extra_fields(ps)}, series_prefix=""
    )
    return ps, paths


def _assert_same(ps, other):
    np.testing.assert_array_equal(other.dates, ps.dates)
    np.testing.assert_array_equal(np.asarray(other.ids).astype(np.int64), ps.ids)
    np.testing.assert_array_equal(np.isnan(other.displacement_mm), np.isnan(ps.displacement_mm))
    np.testing.assert_allclose(other.displacement_mm, ps.displacement_mm, rtol=0, atol=1e-9)
    np.testing.assert_allclose(other.x, ps.x, atol=1e-6)
    np.testing.assert_allclose(other.y, ps.y, atol=1e-6)
    np.testing.assert_allclose(other.z, ps.z, atol=1e-9)
    np.testing.assert_allclose(other.incidence_deg, ps.incidence_deg, atol=1e-9)


@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson", "csv"])
@pytest.mark.parametrize("use_arrow", [True, False])
def test_core_reader_gives_identical_arrays(saved, ext, use_arrow):
    ps, paths = saved
    other = ps_io.read_ps_file(paths[ext], use_arrow=use_arrow)
    _assert_same(ps, other)
    assert other.crs == "EPSG:3035"


def _memory_layer(ps):
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    from subsidence_lab.compat import field

    layer = QgsVectorLayer("Point?crs=EPSG:3035", "ps", "memory")
    names = ["pid", "height", "incidence_angle"] + [f"D{str(d).replace('-', '')}" for d in ps.dates]
    fields = [field("pid", "int64")] + [field(n, "float") for n in names[1:]]
    layer.dataProvider().addAttributes(fields)
    layer.updateFields()
    features = []
    for i in range(ps.n_points):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(ps.x[i], ps.y[i])))
        values = [int(ps.ids[i]), float(ps.z[i]), float(ps.incidence_deg[i])]
        values += [None if np.isnan(v) else float(v) for v in ps.displacement_mm[i]]
        feature.setAttributes(values)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def _processing_read(parameters, **kwargs):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    from subsidence_lab.processing_provider.alg_prepare_ps_dataset import PreparePSDatasetAlgorithm
    from subsidence_lab.processing_provider.ps_io import read_ps

    alg = PreparePSDatasetAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return read_ps(alg, parameters, context, QgsProcessingFeedback(), **kwargs)


@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson", "csv"])
def test_processing_reader_gives_identical_arrays(saved, qgis_app, ext):
    ps, paths = saved
    _assert_same(ps, _processing_read({"INPUT": str(paths[ext])}))


def test_processing_reader_memory_layer_and_selection(qgis_app):
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    ps = small_dataset()
    layer = _memory_layer(ps)
    _assert_same(ps, _processing_read({"INPUT": layer}))
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByIds([f.id() for f in layer.getFeatures()][2:5])
        definition = QgsProcessingFeatureSourceDefinition(layer.id(), True)
        picked = _processing_read({"INPUT": definition})
        np.testing.assert_array_equal(picked.ids, ps.ids[2:5])
        np.testing.assert_array_equal(np.isnan(picked.displacement_mm), np.isnan(ps.displacement_mm[2:5]))
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_processing_reader_file_layer_selection_uses_iterator(saved, qgis_app):
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject, QgsVectorLayer

    ps, paths = saved
    layer = QgsVectorLayer(str(paths["gpkg"]), "ps", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        whole = _processing_read({"INPUT": layer.id()})
        _assert_same(ps, whole)
        layer.selectByIds([f.id() for f in layer.getFeatures()][-3:])
        picked = _processing_read({"INPUT": QgsProcessingFeatureSourceDefinition(layer.id(), True)})
        np.testing.assert_array_equal(picked.ids, ps.ids[-3:])
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_date_field_override_prefix_and_list(saved, qgis_app):
    ps, paths = saved
    only_two = _processing_read({"INPUT": str(paths["gpkg"]), "DATE_FIELDS": "D20160102, D20160302"})
    np.testing.assert_array_equal(only_two.dates, DATES[[0, 3]])
    np.testing.assert_allclose(only_two.displacement_mm[:, 1], ps.displacement_mm[:, 3])
    by_prefix = ps_io.read_ps_file(paths["shp"], date_fields="D_")
    np.testing.assert_array_equal(by_prefix.dates, DATES)


def _digest(path):
    folder = os.path.dirname(path)
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as handle:
            h.update(name.encode() + handle.read())
    return h.hexdigest()


def _csv_with(tmp_path, header, rows):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    return path


@pytest.mark.parametrize(
    "header, rows, expected",
    [
        (
            ["pid", "easting", "northing", "vel"],
            [["1", "10", "20", "1.5"]],
            "fields seen: pid, easting, northing, vel",
        ),
        (
            ["pid", "easting", "northing", "D20160102", "D_20160102"],
            [["1", "10", "20", "0", "1"]],
            "duplicate date 2016-01-02",
        ),
        (
            ["pid", "easting", "northing", "20160102", "20160114"],
            [["1", "10", "20", "0", "1.5"], ["2", "11", "21", "0", "abc"]],
            "'20160114': text 'abc' at row 2",
        ),
        (
            ["pid", "easting", "northing", "D20160102", "D20161332"],
            [["1", "10", "20", "0", "1"]],
            "2016-13-32 is not a valid calendar date",
        ),
        (["pid", "easting", "northing", "D20160102", "D20160114"], [], "empty layer"),
        (["pid", "D20160102", "D20160114"], [["1", "0", "1"]], "no geometry and no coordinate columns"),
    ],
)
def test_bad_input_gives_clear_error_and_input_untouched(tmp_path, qgis_app, header, rows, expected):
    from qgis.core import QgsProcessingException

    path = _csv_with(tmp_path, header, rows)
    before = _digest(path)
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ps_io.read_ps_file(path)
    with pytest.raises(QgsProcessingException) as info:
        _processing_read({"INPUT": str(path)})
    assert expected in str(info.value) or "no features" in str(info.value)
    assert "INPUT" in str(info.value)
    assert _digest(path) == before


def test_an_8_digit_code_and_a_pid_of_digits_are_not_dates(tmp_path):
    path = _csv_with(
        tmp_path,
        ["pid", "easting", "northing", "12345678", "20160102", "20160114"],
        [["20160101", "10", "20", "7", "0", "1.5"], ["20160102", "11", "21", "8", "0", "2.5"]],
    )
    ps = ps_io.read_ps_file(path)
    np.testing.assert_array_equal(ps.dates, DATES[:2])
    np.testing.assert_array_equal(ps.ids, [20160101, 20160102])
    np.testing.assert_allclose(ps.displacement_mm, [[0, 1.5], [0, 2.5]])
    np.testing.assert_allclose(ps.attributes["12345678"], [7, 8])


def test_geographic_input_is_reprojected_to_utm(saved, tmp_path, qgis_app):
    ps, _ = saved
    x, y = ps_io.reproject(ps.x, ps.y, "EPSG:3035", "EPSG:4326")
    from dataclasses import replace

    geographic = replace(ps, x=x, y=y, crs="EPSG:4326")
    path = ps_io.write_ps_file(tmp_path / "geo.gpkg", geographic, fields={"pid": ps.ids})
    projected = _processing_read({"INPUT": str(path)}, require_projected=True)
    zone = ps_io.utm_crs_for(x, y)
    assert projected.crs == zone and zone.startswith("EPSG:326")
    ux, uy = ps_io.reproject(ps.x, ps.y, "EPSG:3035", zone)
    np.testing.assert_allclose(projected.x, ux, atol=1e-3)
    np.testing.assert_allclose(projected.y, uy, atol=1e-3)
    # distances between points survive the round trip to within UTM scale error (< 0.1 %)
    d_in = np.hypot(*(np.diff(np.c_[ps.x, ps.y], axis=0).T))
    d_out = np.hypot(*(np.diff(np.c_[projected.x, projected.y], axis=0).T))
    np.testing.assert_allclose(d_out, d_in, rtol=2e-3)


def test_stamps_csv_is_read(realdata_dir, tmp_path):
    source = realdata_dir / "stamps-maoxian" / "Maoxian_PS.csv"
    copy = tmp_path / "Maoxian_PS.csv"
    shutil.copy(source, copy)  # read a copy: the shared file must never be touched
    ps = ps_io.read_ps_file(copy)
    assert ps.n_points == 97 and ps.n_dates == 41
    assert str(ps.dates[0]) == "2014-11-25" and str(ps.dates[-1]) == "2017-06-18"
    assert ps.crs == "EPSG:4326"
    v = ps.attributes["velocity_mm_per_year"]
    assert -26.5 < v.min() < -26.0 and 3.0 < v.max() < 3.5
    assert 103.6 < ps.x.mean() < 103.7 and 32.0 < ps.y.mean() < 32.1
    projected, note = ps_io.ensure_projected(ps)
    assert projected.crs == "EPSG:32648" and "UTM" in note


def test_write_ps_through_sink_round_trip(saved, tmp_path, qgis_app):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    from subsidence_lab.processing_provider.alg_prepare_ps_dataset import PreparePSDatasetAlgorithm
    from subsidence_lab.processing_provider.outputs import write_ps

    ps, _ = saved
    alg = PreparePSDatasetAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    out = str(tmp_path / "written.gpkg")
    fields = {
        "score": np.array([1.5, np.nan] + [2.0] * (ps.n_points - 2)),
        "label": np.array(["a"] * ps.n_points),
    }
    dest = write_ps(
        alg,
        {"OUTPUT": out},
        context,
        "OUTPUT",
        ps,
        fields=fields,
        series=ps.displacement_mm * 2,
        series_prefix="C",
        feedback=QgsProcessingFeedback(),
    )
    del context  # flush the sink
    layer = QgsVectorLayer(dest, "w", "ogr")
    assert layer.isValid() and layer.featureCount() == ps.n_points
    names = [f.name() for f in layer.fields()]
    assert names[names.index("id") :] == ["id", "score", "label"] + [
        f"C{str(d).replace('-', '')}" for d in DATES
    ]
    back = ps_io.read_ps_file(out, date_fields="C")
    np.testing.assert_allclose(back.displacement_mm, ps.displacement_mm * 2)
    np.testing.assert_array_equal(back.ids, ps.ids)
    assert np.isnan(back.attributes["score"][1]) and back.attributes["score"][0] == 1.5


def test_real_exports_through_processing(realdata_dir, qgis_app):
    """StaMPS CSV loads (reprojected to UTM 48N); a DINO file given as PS says what to do."""
    from qgis.core import QgsProcessingException, QgsVectorLayer

    sbas = realdata_dir / "stamps-maoxian" / "Maoxian_SBAS.csv"
    ps = _processing_read({"INPUT": str(sbas)})
    assert ps.n_points == 608 and ps.n_dates == 38 and ps.crs == "EPSG:32648"
    assert np.all(np.isfinite(ps.x)) and 300_000 < ps.x.mean() < 400_000
    # as a delimited-text layer the layout is lost: the error says to pass the file itself
    layer = QgsVectorLayer(f"file://{sbas}?type=csv&detectTypes=yes&geomType=none", "s", "delimitedtext")
    assert layer.isValid()
    with pytest.raises(QgsProcessingException, match="StaMPS-Visualizer CSV export"):
        _processing_read({"INPUT": layer})
    dino = realdata_dir / "dino-B21B0214-multifilter" / "B21B0214002_1.csv"
    with pytest.raises(QgsProcessingException, match="DINOloket groundwater export, not PS data"):
        _processing_read({"INPUT": str(dino)})


def test_geopackage_with_many_date_fields_and_a_named_layer(tmp_path, qgis_app):
    """140 dates: more columns than GDAL 3.6's GeoPackage Arrow reader takes in one pass."""
    rng = np.random.default_rng(11)
    m, n = 6, 140
    dates = np.datetime64("2015-03-01") + np.arange(n) * 6
    series = rng.normal(0, 3, (m, n))
    series[:, 0] = 0.0
    series[1, 120] = np.nan
    ps = PSDataset(
        ids=np.arange(1, m + 1),
        x=rng.uniform(0, 1e3, m) + 4e6,
        y=rng.uniform(0, 1e3, m) + 3e6,
        dates=dates,
        displacement_mm=series,
        crs="EPSG:3035",
    )
    path = ps_io.write_ps_file(tmp_path / "wide.gpkg", ps, layer_name="scatterers")
    messages = []
    arrow = ps_io.read_ps_file(path, progress=lambda fraction, message=None: messages.append(message))
    assert not [m for m in messages if m and "Arrow read failed" in m]  # no silent fallback
    loop = ps_io.read_ps_file(path, use_arrow=False)
    via_processing = _processing_read({"INPUT": f"{path}|layername=scatterers"})
    for other in (arrow, loop, via_processing):
        np.testing.assert_array_equal(other.dates, dates)
        np.testing.assert_array_equal(other.displacement_mm, series)
        np.testing.assert_allclose(other.x, ps.x)
