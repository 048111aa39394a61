"""Linear baseline for the AM-LSTM comparison: ridge regression on the networks' own windows.

**[choice]** (beside Cao et al.'s LSTM baseline, METHODS.md section 5): the monthly deformation
as a linear function of the same scaled driver windows the AM-LSTM and the LSTM read (T months x
L layers per window), ``y = x . w + b``. It answers the first question a network has to face:
does it add anything to a linear filter of its own inputs?

The penalty (ridge, on ``w`` only; the intercept is free) is chosen from :data:`RIDGE_GRID` by
the RMSE on the validation months, as the networks' early stopping is, and the coefficients are
fitted on the training months alone: the test months never touch the fit. Without validation
months the middle of the grid is used. numpy only.
"""

from dataclasses import dataclass

import numpy as np

from .amlstm import SPLIT_TRAIN, SPLIT_VALIDATION

RIDGE_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_RIDGE = 1.0


@dataclass
class LinearFit:
    """``coef`` (T, L) on the scaled windows, ``intercept`` (mm), the chosen ``ridge`` and the
    validation RMSE (mm) that chose it (NaN without validation months)."""

    coef: np.ndarray
    intercept: float
    ridge: float
    validation_rmse_mm: float = float("nan")

    def to_dict(self):
        return {
            "coef": np.asarray(self.coef, dtype=float).tolist(),
            "intercept": float(self.intercept),
            "ridge": float(self.ridge),
            "validation_rmse_mm": float(self.validation_rmse_mm),
        }

    @classmethod
    def from_dict(cls, blob):
        return cls(
            coef=np.array(blob["coef"], dtype=float),
            intercept=float(blob["intercept"]),
            ridge=float(blob["ridge"]),
            validation_rmse_mm=float(blob.get("validation_rmse_mm", float("nan"))),
        )


def _solve(x, y, ridge):
    """Ridge solution on rows ``x`` (n, P), ``y`` (n,), the intercept unpenalised (centring)."""
    mx, my = x.mean(axis=0), y.mean()
    xc = x - mx
    coef = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y - my))
    return coef, float(my - mx @ coef)


def fit_linear(x, y, split, grid=RIDGE_GRID) -> LinearFit:
    """Fit one feature.

    Args:
        x: (N, T, L) scaled windows (as :func:`core.amlstm_data.make_windows` gives them).
        y: (N,) monthly deformation (mm), NaN where not observed.
        split: (N,) split codes (0 train, 1 validation, 2 test); test rows are never read.
        grid: the ridge penalties to choose from.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    split = np.asarray(split)
    if x.ndim != 3 or x.shape[0] != y.shape[0] or split.shape != y.shape:
        raise ValueError(f"x: expected (N, T, L) windows for {y.shape[0]} targets, got {x.shape}")
    flat = x.reshape(x.shape[0], -1)
    train = (split == SPLIT_TRAIN) & np.isfinite(y)
    val = (split == SPLIT_VALIDATION) & np.isfinite(y)
    if train.sum() < 2:
        raise ValueError(
            f"increment_mm: {int(train.sum())} observed training months; the linear baseline needs 2"
        )
    if not val.any():
        coef, b = _solve(flat[train], y[train], DEFAULT_RIDGE)
        return LinearFit(coef.reshape(x.shape[1:]), b, DEFAULT_RIDGE)
    best = None
    for ridge in grid:
        coef, b = _solve(flat[train], y[train], float(ridge))
        err = float(np.sqrt(np.mean((flat[val] @ coef + b - y[val]) ** 2)))
        if best is None or err < best[0]:
            best = (err, float(ridge), coef, b)
    err, ridge, coef, b = best
    return LinearFit(coef.reshape(x.shape[1:]), b, ridge, err)


def predict_linear(fit: LinearFit, x) -> np.ndarray:
    """(N,) mm from (N, T, L) scaled windows."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1:] != np.shape(fit.coef):
        raise ValueError(f"x: windows of shape {x.shape[1:]} for a fit of shape {np.shape(fit.coef)}")
    return x.reshape(x.shape[0], -1) @ np.asarray(fit.coef).reshape(-1) + fit.intercept


__all__ = ["LinearFit", "RIDGE_GRID", "fit_linear", "predict_linear"]
