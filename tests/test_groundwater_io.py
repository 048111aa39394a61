"""Groundwater tables (long, wide, DINOloket) into GroundwaterRecords."""

import numpy as np
import pytest

from subsidence_lab.core.groundwater_io import monthly_mean, read_groundwater, read_groundwater_table

WIDE = """well_id,date,x,y,confined_2,unconfined,confined_1
W1,2020-01-01,100,200,-10.5,-2.0,-5.0
W1,2020-02-01,100,200,-10.75,-2.25,
W2,2020-01-01,300,400,-20.0,-3.0,-6.0
W2,2020-03-01,300,400,-21.0,-3.5,-6.5
"""


def _long_from_wide():
    lines = ["well_id,date,layer,level"]
    for row in WIDE.strip().splitlines()[1:]:
        well, date, _, _, c2, unc, c1 = row.split(",")
        for layer, value in (("confined_2", c2), ("unconfined", unc), ("confined_1", c1)):
            lines.append(f"{well},{date},{layer},{value}")
    return "\n".join(lines) + "\n"


def _check(records, with_positions):
    assert records.layers == ["unconfined", "confined_1", "confined_2"]  # shallow to deep
    np.testing.assert_array_equal(records.well_ids, ["W1", "W2"])
    np.testing.assert_array_equal(
        records.dates, np.array(["2020-01-01", "2020-02-01", "2020-03-01"], dtype="datetime64[D]")
    )
    expected_w1 = [[-2.0, -2.25, np.nan], [-5.0, np.nan, np.nan], [-10.5, -10.75, np.nan]]
    expected_w2 = [[-3.0, np.nan, -3.5], [-6.0, np.nan, -6.5], [-20.0, np.nan, -21.0]]
    np.testing.assert_allclose(records.levels_m, [expected_w1, expected_w2])
    if with_positions:
        np.testing.assert_allclose(records.x, [100, 300])
        np.testing.assert_allclose(records.y, [200, 400])
    else:
        assert np.all(np.isnan(records.x))


def test_wide_and_long_tables_give_the_same_records(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(WIDE)
    long = tmp_path / "long.csv"
    long.write_text(_long_from_wide())
    _check(read_groundwater_table(wide), with_positions=True)
    _check(read_groundwater(long), with_positions=False)


def test_wide_table_from_a_geopackage(tmp_path):
    from osgeo import ogr

    path = str(tmp_path / "wells.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("levels", None, ogr.wkbNone)
    for name, kind in (("well_id", ogr.OFTString), ("date", ogr.OFTDate), ("confined_1", ogr.OFTReal)):
        layer.CreateField(ogr.FieldDefn(name, kind))
    for well, date, value in (
        ("A", "2021-05-01", -4.5),
        ("A", "2021-06-01", None),
        ("B", "2021-05-01", -7.0),
    ):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("well_id", well)
        feature.SetField("date", date)
        if value is not None:
            feature.SetField("confined_1", value)
        layer.CreateFeature(feature)
    ds = None
    records = read_groundwater_table(path)
    assert records.layers == ["confined_1"]
    np.testing.assert_allclose(records.levels_m[:, 0, :], [[-4.5, np.nan], [-7.0, np.nan]])


def test_errors_name_the_column_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("well_id,date,layer,level\nW1,2020-01-01,unconfined,-2\nW1,2020-01-01,unconfined,-3\n")
    with pytest.raises(ValueError, match="duplicate record: well W1, layer unconfined, date 2020-01-01"):
        read_groundwater(bad)
    bad.write_text("well_id,date,layer,level\nW1,2020-13-01,unconfined,-2\n")
    with pytest.raises(ValueError, match="'2020-13-01' at row 1 is not a valid calendar date"):
        read_groundwater(bad)
    bad.write_text("well_id,date,layer,level\nW1,2020-01-01,unconfined,dry\n")
    with pytest.raises(ValueError, match="level: 'dry' at row 1 is not a number"):
        read_groundwater(bad)
    bad.write_text("station,when,level\nW1,2020-01-01,-2\n")
    with pytest.raises(ValueError, match="no date column .* columns are: station, when, level"):
        read_groundwater(bad)


def test_dino_multifilter_export(realdata_dir):
    records = read_groundwater(realdata_dir / "dino-B21B0214-multifilter")
    assert list(records.well_ids) == ["B21B0214"]
    assert records.layers == [f"filter_00{i}" for i in range(1, 6)]
    assert records.crs == "EPSG:28992" and records.kind == "head"
    assert (records.x[0], records.y[0]) == (198085.0, 518413.0)
    # screens -730..-930 cm NAP under ground at -29 cm NAP: centre 8.01 m below surface
    np.testing.assert_allclose(records.screen_depth_m[0], [8.01, 16.01, 25.01, 37.01, 52.01])
    assert str(records.dates[0]) == "1988-10-14" and str(records.dates[-1]) == "2019-12-31"
    # filter 002, 14-10-1988: -95 cm NAP
    assert records.levels_m[0, 1, 0] == pytest.approx(-0.95)
    counts = (~np.isnan(records.levels_m[0])).sum(axis=1)
    assert counts[1:].tolist() == [332, 332, 332, 331]
    monthly = monthly_mean(records)
    assert np.all(monthly.dates.astype("datetime64[M]").astype("datetime64[D]") == monthly.dates)
    # October 1988, filter 002: mean of -95 and -104 cm
    assert monthly.levels_m[0, 1, 0] == pytest.approx(-0.995)
