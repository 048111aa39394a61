"""subsidencelab:wellbuffersampling with its defaults on the real exports (issue 10, acceptance 4).

* StaMPS SBAS (WGS84 CSV) around the author's lines and polygon (CRS84 GeoJSON): the counts are
  the ones OGR's own Buffer/Intersects gives (the check of tests/test_buffer_sampling_realdata.py).
* The EGMS L2b burst, read from its ZIP as downloaded, around wells placed on three of its points:
  every well has members within 300 m, and its monthly series is their mean interpolated here.
"""

import numpy as np
import pytest
from osgeo import ogr, osr
from qgis.core import QgsProcessingFeedback, QgsProject, QgsVectorLayer
from test_buffer_sampling_realdata import _features, _ogr_counts

from subsidence_lab.core.ps_io import read_ps_file

EGMS_ZIP = "egms-ustica-l2b/EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip"
EGMS_CSV = "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.csv"


class _Capture(QgsProcessingFeedback):
    """Every log line of a run, warnings included."""

    def pushWarning(self, text):
        self.lines.append(text)

    def pushInfo(self, text):
        self.lines.append(text)

    def __init__(self):
        super().__init__()
        self.lines = []


def _run(params, feedback, folder=None):
    """Run with the outputs as GeoPackages in ``folder`` (temporary layers without one)."""
    import processing

    names = ("SERIES", "MEMBERS", "OUTPUT_FEATURES")
    outputs = {n: str(folder / f"{n.lower()}.gpkg") if folder else "TEMPORARY_OUTPUT" for n in names}
    return processing.run("subsidencelab:wellbuffersampling", {**outputs, **params}, feedback=feedback)


def _layer(value):
    return value if isinstance(value, QgsVectorLayer) else QgsVectorLayer(value, "out", "ogr")


@pytest.mark.parametrize("name", ["Maoxian_lines", "Maoxian_polygon"])
def test_stamps_sbas_counts_match_ogr(provider, realdata_dir, name):
    folder = realdata_dir / "stamps-maoxian"
    feedback = _Capture()
    geometries = folder / "geometries" / f"{name}.geojson"
    result = _run(
        {
            "INPUT": str(folder / "Maoxian_SBAS.csv"),
            "FEATURES": str(geometries),
            "FEATURE_ID_FIELD": "id",
            "RADIUS_M": 150,
        },  # fmt: skip
        feedback,
    )
    ps = read_ps_file(str(folder / "Maoxian_SBAS.csv"))
    ids, wkbs = _features(geometries)
    expected, _ = _ogr_counts(ps, wkbs, "EPSG:32648", 150.0)
    counts = {f["feature_id"]: f["ps_count"] for f in _layer(result["OUTPUT_FEATURES"]).getFeatures()}
    assert counts == dict(zip(ids, expected))
    assert any("Distances in metres in EPSG:32648" in line for line in feedback.lines)
    series = _layer(result["SERIES"])
    assert series.featureCount() > 0 and series.fields().names()[-1] == "increment_mm"


def _d_fields(row):
    return sorted(k for k in row if k.startswith("D") and k[1:].isdigit())


def _egms_positions(realdata_dir):
    """(easting, northing) of every point, read with OGR (the CSV has a header row)."""
    from osgeo import gdal

    path = f"/vsizip/{realdata_dir / EGMS_ZIP}/{EGMS_CSV}"
    dataset = gdal.OpenEx(path, gdal.OF_VECTOR, open_options=["HEADERS=YES", "AUTODETECT_TYPE=NO"])
    layer = dataset.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    layer.SetIgnoredFields([n for n in names if n not in ("easting", "northing")])
    return [(float(f.GetField("easting")), float(f.GetField("northing"))) for f in layer]


def test_egms_zip_with_every_default(provider, realdata_dir, tmp_path):
    # The layer QGIS makes of the CSV inside the ZIP (browser, drag and drop): no unzipping.
    project = QgsProject.instance()
    egms = project.addMapLayer(QgsVectorLayer(f"/vsizip/{realdata_dir / EGMS_ZIP}/{EGMS_CSV}", "egms", "ogr"))
    layer_id = egms.id()
    try:
        every = _egms_positions(realdata_dir)
        positions = [every[0], every[len(every) // 2], every[-1]]
        wells = tmp_path / "wells.gpkg"
        srs = osr.SpatialReference()
        srs.SetFromUserInput("EPSG:3035")
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(wells))
        layer = ds.CreateLayer("wells", srs, ogr.wkbPoint)
        layer.CreateField(ogr.FieldDefn("well", ogr.OFTString))
        for k, (x, y) in enumerate(positions):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetField("well", f"W{k}")
            feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x!r} {y!r})"))
            layer.CreateFeature(feature)
        ds = layer = None
        del egms
        params = {"INPUT": layer_id, "FEATURES": str(wells), "FEATURE_ID_FIELD": "well"}
        result = _run(params, _Capture(), tmp_path)
    finally:
        project.removeMapLayer(layer_id)
    members = [dict(zip(f.fields().names(), f.attributes())) for f in _layer(result["MEMBERS"]).getFeatures()]
    rows = [dict(zip(f.fields().names(), f.attributes())) for f in _layer(result["SERIES"]).getFeatures()]
    names = _d_fields(members[0])
    assert len(names) == 210  # every date of the burst is carried to the members
    assert 30 < len(members) < 3000
    dates = np.array([f"{n[1:5]}-{n[5:7]}-{n[7:9]}" for n in names], dtype="datetime64[D]")
    t = (dates - dates[0]).astype(float)
    for k in range(len(positions)):
        mine = [m for m in members if m["feature_id"] == f"W{k}"]
        assert len(mine) >= 1 and all(m["distance_m"] <= 300.0 for m in mine)
        values = np.array([[np.nan if m[n] is None else m[n] for n in names] for m in mine], dtype=float)
        series = [r for r in rows if r["feature_id"] == f"W{k}"]
        months = np.array([r["date"] for r in series], dtype="datetime64[D]")
        expected = np.interp((months - dates[0]).astype(float), t, np.nanmean(values, axis=0))
        value = np.array([np.nan if r["value_mm"] is None else r["value_mm"] for r in series], dtype=float)
        ok = np.isfinite(value)
        assert ok.mean() > 0.9
        np.testing.assert_allclose(value[ok], expected[ok], atol=1e-6)
