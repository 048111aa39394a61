"""Scores and naive baselines for simulated monthly deformation (METHODS.md section 5).

Every model of the AM-LSTM comparison (Cao et al.) is scored the same way, on the test
months of the same chronological split: RMSE and MAE in mm, the Nash-Sutcliffe efficiency
(NSE, 1 = perfect, 0 = no better than the test-part mean) and the skill against persistence
(MSE skill score ``1 - MSE_model / MSE_persistence``: > 0 means better than repeating last
month's deformation).

The naive baselines a hydrogeologist expects beside any learned model:

* persistence (**[choice]**, the reference of every skill score): the last observed increment
  before the test part, carried through it. The networks and the physical baseline *simulate*
  the test months from the heads alone and never see a test target, so the honest naive
  reference is what is known at the same forecast origin: the deformation of the last month
  before the test part, repeated. Before the test part it is the one-step value below (the
  origin there is every month).
* persistence_1step, reported under its own name so nothing is hidden: next month's increment
  is this month's observed increment. Inside the test part it reads the test targets (each
  month sees the previous month's truth), so it is a one-step forecast, not a simulation; on
  smooth deformation it is hard to beat and it is not a fair reference for a simulation;
* linear trend: the cumulative deformation's least-squares rate over the training months,
  i.e. a constant monthly increment (**[choice]** a line through the cumulative series, not
  through the noisy increments, so it cannot run away when extrapolated).
"""

from typing import Dict

import numpy as np

MODEL_NAMES = ("amlstm", "lstm", "physical", "linear", "trend", "persistence", "persistence_1step")


def _pair(observed, predicted):
    obs = np.asarray(observed, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    if obs.shape != pred.shape:
        raise ValueError(f"predicted: shape {pred.shape} does not match observed {obs.shape}")
    ok = np.isfinite(obs) & np.isfinite(pred)
    return obs[ok], pred[ok]


def rmse(observed, predicted) -> float:
    obs, pred = _pair(observed, predicted)
    return float(np.sqrt(np.mean((obs - pred) ** 2))) if obs.size else float("nan")


def mae(observed, predicted) -> float:
    obs, pred = _pair(observed, predicted)
    return float(np.mean(np.abs(obs - pred))) if obs.size else float("nan")


def nse(observed, predicted) -> float:
    """Nash-Sutcliffe efficiency: ``1 - SSE / sum((obs - mean(obs))^2)``."""
    obs, pred = _pair(observed, predicted)
    if obs.size < 2:
        return float("nan")
    spread = np.sum((obs - obs.mean()) ** 2)
    if spread == 0:
        return float("nan")
    return float(1.0 - np.sum((obs - pred) ** 2) / spread)


def skill(observed, predicted, reference) -> float:
    """MSE skill score of ``predicted`` against ``reference`` on the months both cover."""
    obs = np.asarray(observed, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(obs) & np.isfinite(pred) & np.isfinite(ref)
    mse_ref = np.mean((obs[ok] - ref[ok]) ** 2) if ok.any() else np.nan
    if not ok.any() or mse_ref == 0:
        return float("nan")
    return float(1.0 - np.mean((obs[ok] - pred[ok]) ** 2) / mse_ref)


def scores(observed, predicted, persistence) -> Dict[str, float]:
    """``rmse_mm, mae_mm, nse, skill`` (skill against ``persistence``) in one dict."""
    return {
        "rmse_mm": rmse(observed, predicted),
        "mae_mm": mae(observed, predicted),
        "nse": nse(observed, predicted),
        "skill": skill(observed, predicted, persistence),
    }


def persistence(increments_mm) -> np.ndarray:
    """(..., n) last month's observed increment; the first month is NaN.

    A gap carries the last observed value forward, as a forecaster without that month would.
    """
    inc = np.asarray(increments_mm, dtype=np.float64)
    out = np.full(inc.shape, np.nan)
    last = np.full(inc.shape[:-1], np.nan)
    for k in range(1, inc.shape[-1]):
        prev = inc[..., k - 1]
        last = np.where(np.isfinite(prev), prev, last)
        out[..., k] = last
    return out


def persistence_from_origin(increments_mm, test_mask) -> np.ndarray:
    """(..., n) :func:`persistence`, except in the test months (``test_mask`` (n,)): there the
    last increment observed before the first test month, carried through the test part."""
    one_step = persistence(increments_mm)
    test_mask = np.asarray(test_mask, dtype=bool)
    if not test_mask.any():
        return one_step
    first = int(np.argmax(test_mask))
    inc = np.asarray(increments_mm, dtype=np.float64)
    out = one_step.copy()
    # the value known at the origin: the last observed increment up to (excluding) ``first``
    origin = persistence(inc[..., : first + 1])[..., first]
    out[..., test_mask] = origin[..., None]
    return out


def linear_trend(increments_mm, train_mask) -> np.ndarray:
    """(..., n) constant increment: the training months' least-squares rate of the cumulative
    series (the running sum of the increments, gaps counted as zero change)."""
    inc = np.asarray(increments_mm, dtype=np.float64)
    train_mask = np.asarray(train_mask, dtype=bool)
    cum = np.cumsum(np.nan_to_num(inc), axis=-1)
    t = np.arange(inc.shape[-1], dtype=np.float64)
    use = (train_mask & np.isfinite(inc)).astype(np.float64)
    count = use.sum(axis=-1, keepdims=True)
    safe = np.maximum(count, 1.0)
    t_mean = (use * t).sum(axis=-1, keepdims=True) / safe
    c_mean = (use * cum).sum(axis=-1, keepdims=True) / safe
    dt = (t - t_mean) * use
    denom = (dt * (t - t_mean)).sum(axis=-1, keepdims=True)
    slope = np.where(
        (count >= 2) & (denom > 0),
        (dt * (cum - c_mean)).sum(axis=-1, keepdims=True) / np.where(denom > 0, denom, 1.0),
        np.nan,
    )
    return np.broadcast_to(slope, inc.shape).copy()
