"""The linear baseline of the AM-LSTM comparison (core/linear_baseline.py): ridge regression on
the networks' own scaled windows, its penalty chosen on the validation months only."""

import numpy as np
import pytest

from subsidence_lab.core.amlstm import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION
from subsidence_lab.core.linear_baseline import RIDGE_GRID, LinearFit, fit_linear, predict_linear


def planted(n=90, t=6, n_layers=3, noise=0.05, seed=0):
    """Windows, a planted linear response (only layer 1 matters) and a 70/15/15 split."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, t, n_layers))
    coef = np.zeros((t, n_layers))
    coef[:, 1] = np.linspace(-3.0, 1.0, t)
    y = x.reshape(n, -1) @ coef.reshape(-1) - 2.5 + rng.normal(0, noise, n)
    split = np.full(n, SPLIT_TEST)
    split[: int(0.7 * n)] = SPLIT_TRAIN
    split[int(0.7 * n) : int(0.85 * n)] = SPLIT_VALIDATION
    return x, y, split, coef


def test_recovers_a_planted_linear_response_and_predicts_the_unseen_months():
    x, y, split, coef = planted()
    fit = fit_linear(x, y, split)
    np.testing.assert_allclose(fit.coef, coef, atol=0.1)
    assert fit.intercept == pytest.approx(-2.5, abs=0.05)
    test = split == SPLIT_TEST
    truth = x[test].reshape(test.sum(), -1) @ coef.reshape(-1) - 2.5
    assert np.sqrt(np.mean((predict_linear(fit, x[test]) - truth) ** 2)) < 0.1


def test_the_test_months_never_touch_the_fit():
    x, y, split, _ = planted(noise=0.5)
    fit = fit_linear(x, y, split)
    wild = y.copy()
    wild[split == SPLIT_TEST] = np.random.default_rng(1).normal(0, 100.0, (split == SPLIT_TEST).sum())
    other = fit_linear(x, wild, split)
    np.testing.assert_array_equal(other.coef, fit.coef)
    assert (other.ridge, other.intercept) == (fit.ridge, fit.intercept)


def test_the_penalty_is_the_grid_value_with_the_lowest_validation_error():
    x, y, split, _ = planted(n=60, t=12, n_layers=4, noise=2.0, seed=3)
    fit = fit_linear(x, y, split)
    assert fit.ridge in RIDGE_GRID
    val = split == SPLIT_VALIDATION
    errors = {}
    for ridge in RIDGE_GRID:
        one = fit_linear(x, y, split, grid=(ridge,))
        errors[ridge] = np.sqrt(np.mean((predict_linear(one, x[val]) - y[val]) ** 2))
    assert fit.ridge == min(errors, key=errors.get)
    assert fit.validation_rmse_mm == pytest.approx(errors[fit.ridge])
    # 48 coefficients from 42 noisy months: an almost free fit is not what validation picks
    assert fit.ridge > min(RIDGE_GRID)


def test_missing_targets_are_skipped_and_too_few_are_a_clear_error():
    x, y, split, coef = planted()
    gappy = y.copy()
    gappy[::3] = np.nan
    np.testing.assert_allclose(fit_linear(x, gappy, split).coef, coef, atol=0.15)
    none = np.where(split == SPLIT_TRAIN, np.nan, y)
    with pytest.raises(ValueError, match="increment_mm: 0 observed training months"):
        fit_linear(x, none, split)


def test_a_fit_survives_its_dictionary_form():
    x, y, split, _ = planted()
    fit = fit_linear(x, y, split)
    again = LinearFit.from_dict(fit.to_dict())
    np.testing.assert_array_equal(predict_linear(again, x), predict_linear(fit, x))
    with pytest.raises(ValueError, match="windows of shape"):
        predict_linear(fit, x[:, :, :2])
