"""Qt-free parts of the time-series dock: point lookup, trend fit, linked-output parsing."""

import numpy as np
import pytest

from subsidence_lab.core import gpkg_writer
from subsidence_lab.core.linked_series import (
    attention_means,
    cumulate_from,
    member_predictions,
    well_levels,
    well_predictions,
)
from subsidence_lab.core.point_index import PointIndex, read_point_xy
from subsidence_lab.core.timeseries import fit_trend, write_series_csv

DATES = np.arange("2017-01-03", "2021-01-03", 12, dtype="datetime64[D]")
YEARS = (DATES - DATES[0]).astype(float) / 365.25


@pytest.mark.parametrize("layout", ["uniform", "clustered"])
def test_nearest_matches_brute_force_within_the_radius(layout):
    rng = np.random.default_rng(1)
    if layout == "uniform":
        x, y = rng.uniform(0, 1000, 5000), rng.uniform(0, 1000, 5000)
    else:  # dense clusters (buildings) and empty fields, as real PS sets are
        centres = rng.uniform(0, 1000, (20, 2))
        pick = rng.integers(0, 20, 5000)
        x, y = centres[pick, 0] + rng.normal(0, 5, 5000), centres[pick, 1] + rng.normal(0, 5, 5000)
    x[7] = np.nan  # an empty geometry is never found
    fids = np.arange(5000) * 3 + 10
    index = PointIndex(x, y, fids)
    assert len(index) == 4999
    for qx, qy in rng.uniform(0, 1000, (200, 2)):
        d = np.hypot(x - qx, y - qy)
        d[7] = np.inf
        radius = 15.0
        expected = fids[np.argmin(d)] if d.min() <= radius else None
        assert index.nearest(qx, qy, radius) == expected
        inside = np.sort(fids[d <= radius])
        np.testing.assert_array_equal(np.sort(index.within(qx, qy, radius)), inside)


def test_read_point_xy_gives_the_feature_ids_qgis_uses(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 100, 300), rng.uniform(0, 100, 300)
    x[4] = np.nan  # written as an empty point
    columns = [("pid", "int", np.arange(300))]
    path = gpkg_writer.write_points_gpkg(str(tmp_path / "p.gpkg"), x, y, "EPSG:32633", columns)
    fids, rx, ry = read_point_xy(path)
    np.testing.assert_array_equal(fids, np.arange(1, 301))  # the writer's fids are 1..m
    np.testing.assert_array_equal(rx[~np.isnan(x)], x[~np.isnan(x)])
    np.testing.assert_array_equal(ry, np.where(np.isnan(x), ry, y))
    assert np.isnan(rx[4])


def test_linear_trend_recovers_the_planted_velocity():
    rng = np.random.default_rng(3)
    values = 1.5 - 22.0 * YEARS + rng.normal(0, 2.0, YEARS.size)
    fit = fit_trend(DATES, values)
    assert abs(fit.velocity_mm_per_year + 22.0) < 3 * fit.velocity_std_mm_per_year
    assert 1.5 < fit.rmse_mm < 2.5 and fit.r2 > 0.95
    assert fit.label().startswith(f"{fit.velocity_mm_per_year:+.1f} ±")


def test_annual_term_recovers_velocity_and_amplitude_of_a_seasonal_series():
    rng = np.random.default_rng(4)
    phase = 0.7
    values = -8.0 * YEARS + 6.0 * np.sin(2 * np.pi * YEARS + phase) + rng.normal(0, 1.0, YEARS.size)
    values[::9] = np.nan  # gaps are skipped
    fit = fit_trend(DATES, values, annual=True)
    assert abs(fit.velocity_mm_per_year + 8.0) < 0.4
    assert abs(fit.annual_amplitude_mm - 6.0) < 0.5
    linear = fit_trend(DATES, values)
    assert linear.rmse_mm > 3 * fit.rmse_mm  # the line alone leaves the season in the residuals


def test_date_range_restricts_the_fit_to_the_dates_inside():
    break_date = DATES[60]
    values = np.where(break_date > DATES, -2.0 * YEARS, -2.0 * YEARS[60] - 30.0 * (YEARS - YEARS[60]))
    after = fit_trend(DATES, values, start=break_date)
    before = fit_trend(DATES, values, end=DATES[59])
    np.testing.assert_allclose([after.velocity_mm_per_year, before.velocity_mm_per_year], [-30.0, -2.0])
    assert after.n_used == DATES.size - 60
    np.testing.assert_allclose(after.evaluate(DATES[60:]), values[60:], atol=1e-9)
    assert fit_trend(DATES, values, start=DATES[-1]) is None  # one date: no trend


def test_series_csv_round_trip(tmp_path):
    path = tmp_path / "s.csv"
    n = write_series_csv(str(path), [("7", "observed", DATES[:3], [1.0, np.nan, 2.5], "mm")])
    lines = path.read_text().splitlines()
    assert n == 3 and lines[0] == "date,point_id,curve,value,unit"
    assert lines[2] == f"{DATES[1]},7,observed,,mm" and lines[3].startswith(f"{DATES[2]},7,observed,2.5")


def test_well_predictions_are_cumulated_from_the_series_mean():
    months = np.arange("2020-01", "2020-07", dtype="datetime64[M]").astype("datetime64[D]")
    increments = np.array([-1.0, -2.0, -1.5, -3.0, -2.0, -1.0])
    mean = np.cumsum(increments)
    series_rows = [{"date": str(d), "value_mm": m, "gw_a": 10.0 - i, "gw_b": 5.0} for i, (d, m) in
                   enumerate(zip(months, mean))]  # fmt: skip
    dates, levels, got_mean = well_levels(series_rows[::-1])  # any row order
    np.testing.assert_array_equal(dates, months)
    np.testing.assert_allclose(levels["a"], 10.0 - np.arange(6))
    prediction_rows = [
        {"date": str(months[i]), "observed_mm": increments[i], "amlstm_mm": increments[i] + 0.5,
         "lstm_mm": None, "split": "test"}
        for i in range(3, 6)
    ]  # fmt: skip
    p_dates, curves, split = well_predictions(prediction_rows, dates, got_mean)
    np.testing.assert_array_equal(p_dates, months[3:])
    np.testing.assert_allclose(curves["observed"], mean[3:])  # retraces the buffer mean
    np.testing.assert_allclose(curves["amlstm"], mean[2] + np.cumsum(increments[3:] + 0.5))
    assert "lstm" not in curves and split == ["test"] * 3


def test_attention_means_and_member_predictions():
    rows = [{"layer": "a", "date": None, "weight": 0.2}, {"layer": "b", "date": "", "weight": 0.8},
            {"layer": "a", "date": "2020-01-01", "weight": 0.9}]  # fmt: skip
    assert attention_means(rows) == {"a": 0.2, "b": 0.8}
    attrs = {"pid": 3, "amlstm_20200301": 2.0, "amlstm_20200101": 1.0, "D20200101": 5.0, "lstm_x": 1}
    predicted = member_predictions(attrs)
    assert list(predicted) == ["amlstm"]
    expected_dates = np.array(["2020-01-01", "2020-03-01"], "datetime64[D]")
    np.testing.assert_array_equal(predicted["amlstm"][0], expected_dates)
    np.testing.assert_allclose(predicted["amlstm"][1], [1.0, 2.0])


def test_point_increments_continue_the_series_they_model():
    # a PS sinking 2 mm per 30 days, sampled every 12 days; monthly increments from June 2020
    dates = np.arange("2020-01-03", "2021-01-03", 12, dtype="datetime64[D]")
    values = -2.0 * (dates - dates[0]).astype(float) / 30.0
    months = np.arange("2020-06", "2020-10", dtype="datetime64[M]").astype("datetime64[D]")
    increments = np.array([-2.0, np.nan, -2.0, -3.0])  # no July increment (a gap)

    def level(day):
        return -2.0 * (np.datetime64(day) - dates[0]).astype(float) / 30.0

    got = cumulate_from(months, increments, dates, values)
    # June from May 1st's level; after the gap, August again from the series (July 1st's level)
    expected = [level("2020-05-01") - 2, np.nan, level("2020-07-01") - 2, level("2020-07-01") - 5]
    np.testing.assert_allclose(got, expected)
    # without a series: from 0, the level carried over the gap
    np.testing.assert_allclose(cumulate_from(months, increments), [-2, np.nan, -4, -7])
    # a month left out of the table is a gap too
    skipped = months[[0, 2, 3]]
    got = cumulate_from(skipped, [-2.0, -2.0, -3.0], dates, values)
    after_gap = level("2020-07-01")
    np.testing.assert_allclose(got, [level("2020-05-01") - 2, after_gap - 2, after_gap - 5])
