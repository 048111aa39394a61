"""Monthly resampling with a gap limit, monthly increments, alignment with groundwater (METHODS 4)."""

import numpy as np
import pytest

from subsidence_lab.core.buffer_sampling import sample_buffers
from subsidence_lab.core.feature_geometry import FeatureGeometry
from subsidence_lab.core.groundwater_io import read_groundwater
from subsidence_lab.core.monthly import (
    align_groundwater,
    feature_series,
    monthly_increment,
    resample_monthly_limited,
)


def test_linear_interpolation_and_gap_limit():
    # Observations on 2020-01-11 (0 mm), 2020-02-10 (-30), 2020-06-09 (-150). Feb 1 lies 21 of
    # 30 days into the first step: -21 mm. Mar..Jun lie in a 120-day gap: empty with a 90-day
    # limit, on the straight line (-1 mm/day) with a 150-day limit.
    dates = np.array(["2020-01-11", "2020-02-10", "2020-06-09"], dtype="datetime64[D]")
    series = np.array([[0.0, -30.0, -150.0]])
    months, out = resample_monthly_limited(series, dates, max_gap_days=90)
    assert [str(m) for m in months] == ["2020-02-01", "2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01"]
    assert out[0, 0] == pytest.approx(-21.0)
    assert np.all(np.isnan(out[0, 1:]))
    _, wide = resample_monthly_limited(series, dates, max_gap_days=150)
    # Mar 1 = day 20 after Feb 10 (2020 is a leap year) -> -50; Jun 1 = day 112 -> -142.
    assert wide[0, 1] == pytest.approx(-50.0) and wide[0, 4] == pytest.approx(-142.0)
    with pytest.raises(ValueError, match="max_gap_days"):
        resample_monthly_limited(series, dates, max_gap_days=0)


def test_month_on_an_observed_date_survives_a_long_gap():
    dates = np.array(["2020-01-01", "2020-06-01"], dtype="datetime64[D]")
    months, out = resample_monthly_limited(np.array([[1.0, 6.0]]), dates, max_gap_days=30)
    assert out[0, 0] == 1.0 and out[0, -1] == 6.0 and np.all(np.isnan(out[0, 1:-1]))
    assert months.size == 6


def test_monthly_increment():
    inc = monthly_increment(np.array([[0.0, -2.0, -5.0, np.nan, -9.0]]))
    assert np.isnan(inc[0, 0]) and inc[0, 1:3].tolist() == [-2.0, -3.0]
    assert np.all(np.isnan(inc[0, 3:]))


def test_feature_series_count_and_increment():
    # Two members with a linear series -1 mm/day from 2020-01-16; the second misses 2020-02-15.
    dates = np.array(["2020-01-16", "2020-02-15", "2020-03-16", "2020-04-15"], dtype="datetime64[D]")
    days = (dates - dates[0]).astype(float)
    d = np.vstack([-days, -days])
    d[1, 1] = np.nan
    sampling = sample_buffers([0, 5], [0, 0], d, dates, [FeatureGeometry.point(0, 0)], ["W"], 10.0)
    series = feature_series(sampling, monthly=True, max_gap_days=90)
    assert [str(m) for m in series.dates] == ["2020-02-01", "2020-03-01", "2020-04-01"]
    # Feb 1 = day 16, Mar 1 = day 45, Apr 1 = day 76.
    np.testing.assert_allclose(series.value_mm[0], [-16.0, -45.0, -76.0])
    assert np.isnan(series.increment_mm[0, 0])
    np.testing.assert_allclose(series.increment_mm[0, 1:], [-29.0, -31.0])
    assert series.count[0].tolist() == [1, 1, 2]
    raw = feature_series(sampling, monthly=False)
    assert raw.dates.tolist() == dates.tolist() and raw.count[0].tolist() == [2, 1, 2, 2]


def test_alignment_with_a_wide_table(tmp_path):
    table = tmp_path / "wide.csv"
    table.write_text(
        "well_id,date,confined_1,unconfined\n"
        "W1,2020-02-03,-5.0,-1.0\n"
        "W1,2020-02-20,-6.0,-2.0\n"
        "W1,2020-03-01,-7.0,\n"
        "W1,2019-12-01,-4.0,-0.5\n"
        "W9,2020-02-01,-9.0,-9.0\n"
    )
    records = read_groundwater(str(table))
    months = np.array(["2020-02-01", "2020-03-01", "2020-04-01"], dtype="datetime64[D]")
    ps = np.array([[-1.0, -2.0, -3.0], [0.0, 0.0, np.nan]])
    aligned = align_groundwater(["W1", "P2"], months, ps, records)
    assert aligned.layers == ["unconfined", "confined_1"]
    # February is the mean of the two February records.
    np.testing.assert_allclose(aligned.levels_m[0, 0], [-1.5, np.nan, np.nan])
    np.testing.assert_allclose(aligned.levels_m[0, 1], [-5.5, -7.0, np.nan])
    assert np.all(np.isnan(aligned.levels_m[1])) and aligned.matched.tolist() == [True, False]
    note = aligned.notes[0]
    assert "well W1: 2 month(s) overlap (2020-02..2020-03)" in note
    assert "PS months without groundwater: 2020-04" in note
    assert "groundwater months without PS: 2019-12" in note
    assert "P2" in aligned.notes[-1]
    with pytest.raises(ValueError, match="no feature id matches a well id"):
        align_groundwater(["X"], months, ps[:1], records)


def test_alignment_with_the_dino_export(realdata_dir):
    records = read_groundwater(realdata_dir / "dino-B21B0214-multifilter")
    months = np.arange(np.datetime64("2019-10"), np.datetime64("2020-03")).astype("datetime64[D]")
    aligned = align_groundwater(["B21B0214"], months, np.zeros((1, months.size)), records)
    assert aligned.layers == [f"filter_00{i}" for i in range(1, 6)]
    # The export ends on 2019-12-31: Oct..Dec overlap, Jan..Feb 2020 do not.
    have = ~np.all(np.isnan(aligned.levels_m[0]), axis=0)
    assert have.tolist() == [True, True, True, False, False]
    assert (
        "2019-10..2019-12" in aligned.notes[0] and "without groundwater: 2020-01..2020-02" in aligned.notes[0]
    )
