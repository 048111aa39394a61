"""core.validation: benchmark comparison and stable-area RMS against hand-computed values."""

import numpy as np
import pytest

from subsidence_lab.core.validation import align_series, compare_with_benchmarks, stable_area_rms

DATES = np.array(["2020-01-01", "2020-01-11", "2020-01-21", "2020-01-31"], dtype="datetime64[D]")


def test_align_series_interpolates_ps_to_station_dates_and_references_first_common_date():
    ps = np.array([10.0, 12.0, 14.0, 20.0])  # +0.2 mm/day, then +0.6 mm/day
    station_dates = np.array(["2019-12-25", "2020-01-06", "2020-01-16", "2020-01-26"], dtype="datetime64[D]")
    station = np.array([99.0, 5.0, 6.0, 9.0])
    t, ps_at, st = align_series(DATES, ps, station_dates, station)
    # 2019-12-25 lies before the PS span: dropped; reference = 2020-01-06 (PS 11, station 5).
    assert t.tolist() == np.array(["2020-01-16", "2020-01-26"], dtype="datetime64[D]").tolist()
    np.testing.assert_allclose(ps_at, [13.0 - 11.0, 17.0 - 11.0])
    np.testing.assert_allclose(st, [1.0, 4.0])


def test_compare_with_benchmarks_reproduces_hand_computed_statistics():
    x = np.array([0.0, 100.0, 1000.0])
    y = np.zeros(3)
    series = np.array(
        [
            [0.0, -2.0, -4.0, -6.0],
            [0.0, -4.0, -8.0, -12.0],
            [0.0, 1.0, np.nan, 3.0],
        ]
    )
    stations = [
        {"id": "A", "x": 10.0, "y": 0.0, "dates": DATES, "values_mm": np.array([5.0, 4.0, 1.0, 0.0])},
        {"id": "B", "x": 990.0, "y": 0.0, "dates": DATES, "values_mm": np.array([0.0, 2.0, 2.0, 2.0])},
    ]
    report = compare_with_benchmarks(x, y, DATES, series, stations, mode="nearest")
    a, b = report.stations
    # A: PS (nearest = point 0) -2,-4,-6 ; station -1,-4,-5 ; diff -1,0,-1
    np.testing.assert_allclose(a.ps_mm, [-2, -4, -6])
    np.testing.assert_allclose(a.station_mm, [-1, -4, -5])
    assert a.n_pairs == 3 and a.n_ps == 1 and a.distance_m == pytest.approx(10.0)
    assert a.rmse_mm == pytest.approx(np.sqrt(2 / 3))
    assert a.mean_difference_mm == pytest.approx(-2 / 3)
    assert a.correlation == pytest.approx(np.corrcoef([-2, -4, -6], [-1, -4, -5])[0, 1])
    # B: point 2 has a gap on day 20, interpolated to 2.0: PS 1,2,3 ; station 2,2,2
    np.testing.assert_allclose(b.ps_mm, [1, 2, 3])
    assert b.rmse_mm == pytest.approx(np.sqrt((1 + 0 + 1) / 3))
    assert np.isnan(b.correlation)  # a flat station series has no correlation
    # Pooled over both stations: diffs -1,0,-1,-1,0,1
    assert report.n_pairs == 6
    assert report.rmse_mm == pytest.approx(np.sqrt(4 / 6))
    assert report.mean_difference_mm == pytest.approx(-2 / 6)
    pooled = np.corrcoef([-2, -4, -6, 1, 2, 3], [-1, -4, -5, 2, 2, 2])[0, 1]
    assert report.correlation == pytest.approx(pooled)


def test_radius_mode_averages_the_ps_within_the_radius():
    x = np.array([0.0, 100.0, 1000.0])
    y = np.zeros(3)
    series = np.array([[0.0, -2.0, -4.0, -6.0], [0.0, -4.0, -8.0, -12.0], [0.0, 50.0, 50.0, 50.0]])
    station = {"id": 7, "x": 50.0, "y": 0.0, "dates": DATES, "values_mm": np.array([0.0, -3.0, -6.0, -9.0])}
    report = compare_with_benchmarks(x, y, DATES, series, [station], mode="radius", radius_m=60.0)
    (s,) = report.stations
    assert s.n_ps == 2
    np.testing.assert_allclose(s.ps_mm, [-3, -6, -9])
    assert s.rmse_mm == pytest.approx(0.0)
    assert s.correlation == pytest.approx(1.0)


def test_stable_area_rms_uses_only_stable_points_and_subtracts_truth():
    series = np.array([[1.0, -1.0, np.nan], [3.0, 3.0, 3.0], [100.0, 100.0, 100.0]])
    mask = np.array([True, True, False])
    assert stable_area_rms(series, mask) == pytest.approx(np.sqrt((1 + 1 + 9 + 9 + 9) / 5))
    truth = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    assert stable_area_rms(series, mask, truth) == pytest.approx(np.sqrt(2 / 5))
    with pytest.raises(ValueError, match="stable_mask"):
        stable_area_rms(series, np.zeros(3, dtype=bool))


def test_bad_mode_and_radius_are_rejected_by_name():
    with pytest.raises(ValueError, match="mode"):
        compare_with_benchmarks([0], [0], DATES, np.zeros((1, 4)), [], mode="closest")
    with pytest.raises(ValueError, match="radius_m"):
        compare_with_benchmarks([0], [0], DATES, np.zeros((1, 4)), [], mode="radius")
