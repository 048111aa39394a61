"""subsidencelab:validatebenchmarks reproduces hand-computed RMSE / correlation on a small case."""

import numpy as np
import pytest
from osgeo import ogr, osr

from subsidence_lab.core import ps_io
from subsidence_lab.core.psdata import PSDataset

ALG = "subsidencelab:validatebenchmarks"
DATES = np.array(["2020-01-01", "2020-01-11", "2020-01-21", "2020-01-31"], dtype="datetime64[D]")
X0, Y0 = 500_000.0, 4_000_000.0


@pytest.fixture(scope="module")
def ps_file(tmp_path_factory):
    """The hand-computed case of tests/test_validation.py as a layer (EPSG:32650)."""
    ps = PSDataset(
        ids=np.array([1, 2, 3]),
        x=X0 + np.array([0.0, 100.0, 1000.0]),
        y=np.full(3, Y0),
        dates=DATES,
        displacement_mm=np.array(
            [[0.0, -2.0, -4.0, -6.0], [0.0, -4.0, -8.0, -12.0], [0.0, 1.0, np.nan, 3.0]]
        ),
        crs="EPSG:32650",
    )
    folder = tmp_path_factory.mktemp("validate")
    return ps_io.write_ps_file(folder / "ps.gpkg", ps, fields={"calm": np.array([1, 0, 1])})


def _stations(path, epsg, with_series):
    """Stations A (10 m east of PS 1) and B (10 m west of PS 3), optionally with D<date> fields."""
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32650)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    for s in (utm, srs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_srs = osr.CoordinateTransformation(utm, srs)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("stations", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    series = {"A": [5.0, 4.0, 1.0, 0.0], "B": [0.0, 2.0, 2.0, 2.0]}
    names = [f"D{str(d).replace('-', '')}" for d in DATES]
    if with_series:
        for n in names:
            layer.CreateField(ogr.FieldDefn(n, ogr.OFTReal))
    for key, x in (("A", X0 + 10.0), ("B", X0 + 990.0)):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("name", key)
        if with_series:
            for n, v in zip(names, series[key]):
                feature.SetField(n, v)
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(*to_srs.TransformPoint(x, Y0)[:2])
        feature.SetGeometry(point)
        layer.CreateFeature(feature)
    ds = None
    return str(path), series


def _long_table(path, series):
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("series", None, ogr.wkbNone)
    for name, kind in (("station", ogr.OFTString), ("date", ogr.OFTDate), ("value_mm", ogr.OFTReal)):
        layer.CreateField(ogr.FieldDefn(name, kind))
    for key, values in series.items():
        for d, v in zip(DATES.tolist(), values):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetField("station", key)
            feature.SetField("date", d.year, d.month, d.day, 0, 0, 0, 0)
            feature.SetField("value_mm", v)
            layer.CreateFeature(feature)
    ds = None
    return str(path)


def _rows(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid()
    names = [f.name() for f in layer.fields()]
    return {f["station_id"]: dict(zip(names, f.attributes())) for f in layer.getFeatures()}


def _check_hand_computed(result):
    rows = _rows(result["OUTPUT"])
    a, b, total = rows["A"], rows["B"], rows["ALL"]
    # A: PS -2,-4,-6 vs station -1,-4,-5 (after referencing to the first date)
    assert a["n_pairs"] == 3 and a["n_ps"] == 1
    assert a["distance_m"] == pytest.approx(10.0, abs=0.01)
    assert a["rmse_mm"] == pytest.approx(np.sqrt(2 / 3))
    assert a["mean_difference_mm"] == pytest.approx(-2 / 3)
    assert a["correlation"] == pytest.approx(np.corrcoef([-2, -4, -6], [-1, -4, -5])[0, 1])
    # B: PS 1,2,3 (gap interpolated) vs 2,2,2: flat station, no correlation
    assert b["rmse_mm"] == pytest.approx(np.sqrt(2 / 3))
    assert b["correlation"] is None or (hasattr(b["correlation"], "isNull") and b["correlation"].isNull())
    assert total["n_pairs"] == 6
    assert result["RMSE_MM"] == pytest.approx(np.sqrt(4 / 6))
    assert total["rmse_mm"] == pytest.approx(np.sqrt(4 / 6))
    pooled = np.corrcoef([-2, -4, -6, 1, 2, 3], [-1, -4, -5, 2, 2, 2])[0, 1]
    assert result["CORRELATION"] == pytest.approx(pooled)
    assert result["MEAN_DIFFERENCE_MM"] == pytest.approx(-1 / 3)


def test_station_fields_and_stable_field(provider, ps_file, tmp_path):
    import processing

    stations, _ = _stations(tmp_path / "stations.gpkg", 32650, with_series=True)
    result = processing.run(
        ALG,
        {
            "INPUT": str(ps_file),
            "STATIONS": stations,
            "STATION_ID_FIELD": "name",
            "STABLE_FIELD": "calm",
            "OUTPUT": str(tmp_path / "table.gpkg"),
        },
    )
    _check_hand_computed(result)
    # Points 1 and 3 are 'calm': values 0,-2,-4,-6,0,1,3 (the gap skipped)
    expected = np.sqrt(np.mean(np.square([0, -2, -4, -6, 0, 1, 3])))
    assert result["STABLE_RMS_MM"] == pytest.approx(expected)


def test_long_series_table_and_stations_in_another_crs(provider, ps_file, tmp_path):
    import processing

    stations, series = _stations(tmp_path / "stations.gpkg", 4326, with_series=False)
    table = _long_table(tmp_path / "series.gpkg", series)
    result = processing.run(
        ALG,
        {
            "INPUT": str(ps_file),
            "STATIONS": stations,
            "STATION_ID_FIELD": "name",
            "SERIES_TABLE": table,
            "SERIES_STATION_FIELD": "station",
            "SERIES_DATE_FIELD": "date",
            "SERIES_VALUE_FIELD": "value_mm",
            "OUTPUT": str(tmp_path / "table.gpkg"),
        },
    )
    _check_hand_computed(result)
    assert np.isnan(result["STABLE_RMS_MM"])


def test_radius_mode_averages_and_missing_series_fields_are_named(provider, ps_file, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    stations, _ = _stations(tmp_path / "stations.gpkg", 32650, with_series=True)
    result = processing.run(
        ALG,
        {
            "INPUT": str(ps_file),
            "STATIONS": stations,
            "STATION_ID_FIELD": "name",
            "MODE": 1,
            "RADIUS_M": 150.0,
            "OUTPUT": str(tmp_path / "table.gpkg"),
        },
    )
    a = _rows(result["OUTPUT"])["A"]
    assert a["n_ps"] == 2  # PS 1 and 2: mean series -3, -6, -9 vs -1, -4, -5
    assert a["rmse_mm"] == pytest.approx(np.sqrt((4 + 4 + 16) / 3))
    bare, _ = _stations(tmp_path / "bare.gpkg", 32650, with_series=False)
    with pytest.raises(QgsProcessingException, match="STATION_DATE_FIELDS"):
        processing.run(
            ALG,
            {
                "INPUT": str(ps_file),
                "STATIONS": bare,
                "STATION_ID_FIELD": "name",
                "OUTPUT": "TEMPORARY_OUTPUT",
            },
        )
