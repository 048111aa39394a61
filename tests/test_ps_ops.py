"""LOS -> vertical, re-referencing, velocity and monthly resampling against hand values."""

import numpy as np
import pytest

from subsidence_lab.core import ps_ops
from subsidence_lab.core.psdata import PSDataset

DATES = np.array(["2020-01-01", "2020-04-01", "2020-07-01", "2021-01-01"], dtype="datetime64[D]")


def dataset(series, incidence=None):
    series = np.asarray(series, dtype=float)
    m = series.shape[0]
    return PSDataset(
        ids=np.arange(1, m + 1),
        x=np.arange(m) * 10.0,
        y=np.zeros(m),
        dates=DATES[: series.shape[1]],
        displacement_mm=series,
        incidence_deg=incidence,
        crs="EPSG:32650",
    )


def test_los_to_vertical_hand_values():
    ps = dataset([[0.0, -10.0, np.nan, -20.0], [0.0, 5.0, 5.0, 5.0]], incidence=[60.0, np.nan])
    out = ps_ops.los_to_vertical(ps, scene_incidence_deg=0.0)
    # cos 60 = 0.5 -> doubled; NaN angle falls back to the scene angle 0 -> unchanged
    np.testing.assert_allclose(out.displacement_mm[0], [0.0, -20.0, np.nan, -40.0])
    np.testing.assert_allclose(out.displacement_mm[1], [0.0, 5.0, 5.0, 5.0])
    assert out.direction == "vertical" and ps.direction == "LOS"
    assert ps.displacement_mm[0, 1] == -10.0  # input untouched
    scene = ps_ops.los_to_vertical(dataset([[0.0, -3.0]]), scene_incidence_deg=36.87)
    np.testing.assert_allclose(scene.displacement_mm[0, 1], -3.0 / 0.8, rtol=1e-5)  # cos(36.87 deg) = 0.8


def test_los_to_vertical_errors():
    with pytest.raises(ValueError, match="no incidence angle"):
        ps_ops.los_to_vertical(dataset([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="85.0 degrees at point 1"):
        ps_ops.los_to_vertical(dataset([[0.0, 1.0]], incidence=[85.0]))
    vertical = ps_ops.los_to_vertical(dataset([[0.0, 1.0]]), 30.0)
    with pytest.raises(ValueError, match="already 'vertical'"):
        ps_ops.los_to_vertical(vertical, 30.0)


def test_rereference_subtracts_mean_reference_series():
    ps = dataset([[0, 2, 4, 6], [0, 4, np.nan, 10], [0, 1, 1, 1]])
    out = ps_ops.rereference(ps, np.array([True, True, False]))
    # reference mean: [0, 3, 4 (only point 1), 8]
    np.testing.assert_allclose(out.displacement_mm[2], [0, -2, -3, -7])
    np.testing.assert_allclose(out.displacement_mm[1], [0, 1, np.nan, 2])
    mask = ps_ops.reference_mask_from_ids(ps, ["3"])
    np.testing.assert_array_equal(mask, [False, False, True])
    with pytest.raises(ValueError, match="7 not found"):
        ps_ops.reference_mask_from_ids(ps, ["7"])
    with pytest.raises(ValueError, match="no reference point has a value at 2020-07-01"):
        ps_ops.rereference(ps, [1])


def test_velocity_and_standard_error_hand_computed():
    dates = np.array(["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"], dtype="datetime64[D]")
    t = (dates - dates[0]).astype(np.int64) / 365.25
    exact = -12.0 * t + 3.0
    noisy = exact + np.array([0.5, -0.5, -0.5, 0.5])
    series = np.vstack([exact, noisy, [0.0, np.nan, 1.0, np.nan], [1.0, np.nan, np.nan, np.nan]])
    v, se = ps_ops.velocity(series, dates)
    assert v[0] == pytest.approx(-12.0) and se[0] == pytest.approx(0.0, abs=1e-9)
    # hand OLS for the noisy row
    tc = t - t.mean()
    slope = (tc * (noisy - noisy.mean())).sum() / (tc**2).sum()
    rss = ((noisy - noisy.mean() - slope * tc) ** 2).sum()
    assert v[1] == pytest.approx(slope)
    assert se[1] == pytest.approx(np.sqrt(rss / 2 / (tc**2).sum()))
    assert v[2] == pytest.approx(1.0 / t[2]) and np.isnan(se[2])  # two dates: slope, no error
    assert np.isnan(v[3]) and np.isnan(se[3])


def test_monthly_resampling_of_an_analytic_series():
    dates = np.array(
        ["2020-01-10", "2020-02-21", "2020-03-04", "2020-05-27", "2020-07-15"], dtype="datetime64[D]"
    )
    days = (dates - dates[0]).astype(float)
    linear = 0.25 * days - 4.0  # linear interpolation reproduces a linear series exactly
    gappy = linear.copy()
    gappy[[0, 2]] = np.nan
    months, out = ps_ops.resample_monthly(np.vstack([linear, gappy]), dates)
    expected_months = np.array(
        ["2020-02-01", "2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01"],
        dtype="datetime64[D]",
    )
    np.testing.assert_array_equal(months, expected_months)
    truth = 0.25 * (months - dates[0]).astype(float) - 4.0
    np.testing.assert_allclose(out[0], truth)
    # the gappy point starts at 2020-02-21: February 1st is outside its span (NaN), the rest exact
    assert np.isnan(out[1, 0])
    np.testing.assert_allclose(out[1, 1:], truth[1:])
    ps = PSDataset(ids=[1, 2], x=[0, 1], y=[0, 1], dates=dates, displacement_mm=np.vstack([linear, gappy]))
    monthly = ps_ops.resample_dataset_monthly(ps)
    np.testing.assert_array_equal(monthly.dates, expected_months)
    assert monthly.date_fields is None


def test_monthly_resampling_of_a_sine_is_piecewise_linear():
    dates = np.arange(np.datetime64("2019-12-20"), np.datetime64("2021-01-05"), 12)
    days = (dates - dates[0]).astype(float)
    series = 10 * np.sin(2 * np.pi * days / 365.25)
    months, out = ps_ops.resample_monthly(series[None, :], dates)
    tm = (months - dates[0]).astype(float)
    np.testing.assert_allclose(out[0], np.interp(tm, days, series))
    # 12-day sampling of a yearly sine: linear interpolation within 10*(2 pi/365.25)^2*6^2/2 = 0.053 mm
    assert np.max(np.abs(out[0] - 10 * np.sin(2 * np.pi * tm / 365.25))) < 0.06
