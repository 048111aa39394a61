"""core.spatiotemporal_filter: the temporal high-pass x spatial low-pass baseline."""

import numpy as np
import pytest

from subsidence_lab.core.spatiotemporal_filter import (
    spatiotemporal_filter,
    temporal_high_pass,
    window_average_matrix,
)


def _dates(n, step=12):
    return np.datetime64("2019-01-01") + np.arange(n) * step


def test_temporal_high_pass_keeps_nothing_of_a_linear_trend_and_passes_white_noise():
    rng = np.random.default_rng(1)
    n = 80
    dates = _dates(n)
    trend = np.outer(np.array([-30.0, 5.0]), np.arange(n) / 30.0)
    hp = temporal_high_pass(trend, dates, window_days=100)
    np.testing.assert_allclose(hp, 0.0, atol=1e-9)
    noise = rng.normal(0, 1, (200, n))
    hp = temporal_high_pass(noise, dates, window_days=100)
    # A 100-day Gaussian on 12-day steps takes only a small share of white-noise power.
    assert 0.75 < hp.std() / noise.std() < 1.0


def test_window_matrix_is_a_square_window():
    x = np.array([0.0, 39.0, 41.0, 0.0, 30.0])
    y = np.array([0.0, 0.0, 0.0, 39.5, 30.0])
    w = window_average_matrix(x, y, 80.0).toarray()
    assert w[0].tolist() == [1, 1, 0, 1, 1]  # (30, 30) is inside the square, 41 m is not
    assert np.array_equal(w, w.T)


def test_filter_removes_spatially_smooth_temporally_random_atmosphere_and_keeps_deformation():
    rng = np.random.default_rng(2)
    side, n = 30, 60
    gx, gy = np.meshgrid(np.arange(side) * 20.0, np.arange(side) * 20.0)
    x, y = gx.ravel(), gy.ravel()
    m = x.size
    dates = _dates(n)
    years = np.arange(n) * 12 / 365.25
    velocity = -10.0 * np.exp(-((x - 300) ** 2 + (y - 300) ** 2) / 200.0**2)
    deformation = np.outer(velocity, years)
    # One value per epoch over the whole (small) area: smooth in space, white in time.
    atmosphere = np.tile(rng.normal(0, 4.0, n), (m, 1))
    observed = deformation + atmosphere
    observed[rng.random((m, n)) < 0.02] = np.nan
    result = spatiotemporal_filter(observed, x, y, dates, window_days=100, window_m=80)
    ok = ~np.isnan(observed)
    before = np.sqrt(np.mean((observed - deformation)[ok] ** 2))
    after = np.sqrt(np.mean((result.corrected_mm - deformation)[ok] ** 2))
    assert after < 0.6 * before
    assert np.array_equal(np.isnan(result.corrected_mm), ~ok)
    # corrected + removed = input (nothing else touched)
    np.testing.assert_allclose((result.corrected_mm + result.atmosphere_mm)[ok], observed[ok])


def test_filter_rejects_bad_windows_by_name():
    with pytest.raises(ValueError, match="window_days"):
        temporal_high_pass(np.zeros((2, 5)), _dates(5), window_days=0)
    with pytest.raises(ValueError, match="window_m"):
        window_average_matrix([0.0], [0.0], -1.0)
