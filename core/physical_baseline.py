"""Physical baseline for the AM-LSTM comparison: delayed compaction from head change.

METHODS.md section 5 (**[choice]** beside Cao et al.'s LSTM baseline): the simplest aquitard
drainage model (Terzaghi; MODFLOW SUB-CR in its simplest form), per layer i an exponential
delay of time constant ``a_i`` (months) and a compressibility ``A_i`` (mm per m of head):

    s(t) = sum_i A_i * sum_{tau <= t} dh_i(tau) * (1 - exp(-(t - tau) / a_i))

The target is the monthly increment ``s(t) - s(t - 1)``. **[choice]** on a monthly grid the head
change ``dh(tau) = h(tau) - h(tau - 1)`` happened during month tau, so it has acted for half a
month at ``t = tau`` on average: the elapsed time is taken as ``t - tau + 1/2`` (with ``t - tau``
a change would have no effect in its own month, a one-month lag the data do not have).
Optionally (``inelastic=True``) each layer's head change is split at its lowest past head:
the part that makes a new low (``dh_in``, the preconsolidation head is passed) gets its own,
usually larger, ``A_i``.

The fit is variable projection: for given delays the model is linear in ``A`` and solved by
non-negative least squares (compaction follows head decline, so ``A >= 0``); the delays are
found by ``scipy.optimize.least_squares`` on their logarithms from a few starting values.
numpy/scipy only, no torch.

**[choice]** The non-negative least squares carries a small ridge, ``RIDGE`` times the largest
squared column norm of the design: a column that the fitted months barely excite (typically
the inelastic part when no new head low occurs in the training months, then new lows in the
test months) otherwise takes an unbounded compressibility, and its prediction diverged (1e8 mm
on a sample-area well). For a well-excited column the bias is of order ``RIDGE``.
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np
from scipy.optimize import least_squares, nnls
from scipy.signal import lfilter

DELAY_BOUNDS_MONTHS = (0.2, 240.0)
RIDGE = 1e-4
_STARTS_MONTHS = (1.0, 4.0, 16.0)


@dataclass
class PhysicalFit:
    """A fitted response: ``delay_months`` (L,), ``a_mm_per_m`` (L,) and, when inelastic,
    ``a_inelastic_mm_per_m`` (L,); ``rmse_mm`` on the fitted months."""

    delay_months: np.ndarray
    a_mm_per_m: np.ndarray
    inelastic: bool = False
    a_inelastic_mm_per_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rmse_mm: float = float("nan")

    def to_dict(self):
        return {
            "delay_months": [float(v) for v in self.delay_months],
            "a_mm_per_m": [float(v) for v in self.a_mm_per_m],
            "inelastic": bool(self.inelastic),
            "a_inelastic_mm_per_m": [float(v) for v in self.a_inelastic_mm_per_m],
            "rmse_mm": float(self.rmse_mm),
        }

    @classmethod
    def from_dict(cls, data):
        return cls(
            delay_months=np.asarray(data["delay_months"], float),
            a_mm_per_m=np.asarray(data["a_mm_per_m"], float),
            inelastic=bool(data["inelastic"]),
            a_inelastic_mm_per_m=np.asarray(data["a_inelastic_mm_per_m"], float),
            rmse_mm=float(data["rmse_mm"]),
        )


def delayed_response(dh, delay_months):
    """``r(t) = sum_{tau <= t} dh(tau) (1 - exp(-(t - tau + 1/2) / a))`` along the last axis.

    The sum of ``dh`` minus its exponentially decaying memory (a first-order recursion)."""
    dh = np.asarray(dh, dtype=np.float64)
    a = float(delay_months)
    q = np.exp(-1.0 / a)
    return np.cumsum(dh, axis=-1) - np.exp(-0.5 / a) * lfilter([1.0], [1.0, -q], dh, axis=-1)


def head_changes(heads_m, inelastic=False):
    """Monthly head changes per layer, (L, n) -> list of (L, n) arrays (first month 0).

    With ``inelastic``: ``[elastic part, new-low part]``, the new-low part being the change of
    the running minimum (the head falling below its lowest past value)."""
    heads = _filled(np.asarray(heads_m, dtype=np.float64))
    dh = np.diff(heads, axis=-1, prepend=heads[:, :1])
    if not inelastic:
        return [dh]
    low = np.minimum.accumulate(heads, axis=-1)
    dh_in = np.diff(low, axis=-1, prepend=low[:, :1])
    return [dh - dh_in, dh_in]


def _filled(heads):
    """Gaps filled by linear interpolation in time (nearest value at the ends)."""
    out = heads.copy()
    t = np.arange(heads.shape[-1])
    for row in out:
        ok = np.isfinite(row)
        if not ok.any():
            raise ValueError("heads_m: a layer has no water level at all")
        if not ok.all():
            row[~ok] = np.interp(t[~ok], t[ok], row[ok])
    return out


def _increment_design(parts, delays, months_index):
    """(k, P) columns: monthly increments of each layer's (and part's) delayed response."""
    cols = []
    for part in parts:
        for i, a in enumerate(delays):
            r = delayed_response(part[i], a)
            inc = np.diff(r, prepend=r[:1])
            cols.append(inc[months_index])
    return np.stack(cols, axis=1)


def fit_physical(heads_m, increments_mm, months_index, inelastic=False) -> PhysicalFit:
    """Fit the delayed response of ``heads_m`` (L, n_gw) to ``increments_mm`` (k,).

    Args:
        heads_m: heads (m above datum; rise when water rises) of L layers on a monthly grid.
        increments_mm: observed monthly deformation (negative = subsidence) to fit; NaN ignored.
        months_index: (k,) index of each target month in the heads' grid.
        inelastic: separate compressibility below the lowest past head.
    """
    heads = np.asarray(heads_m, dtype=np.float64)
    y = np.asarray(increments_mm, dtype=np.float64)
    idx = np.asarray(months_index, dtype=np.int64)
    ok = np.isfinite(y)
    if ok.sum() < 3:
        raise ValueError(f"increments_mm: need at least 3 observed months to fit, got {int(ok.sum())}")
    parts = head_changes(heads, inelastic)
    n_layers = heads.shape[0]

    def solve(log_delays):
        design = _increment_design(parts, np.exp(log_delays), idx[ok])
        scale = np.sqrt(RIDGE) * max(float(np.max(np.linalg.norm(design, axis=0))), 1e-12)
        ridge = scale * np.eye(design.shape[1])
        coef, _ = nnls(np.vstack([design, ridge]), np.concatenate([y[ok], np.zeros(design.shape[1])]))
        return coef, np.concatenate([design @ coef - y[ok], ridge @ coef])

    lo, hi = np.log(DELAY_BOUNDS_MONTHS)
    best = None
    for start in _STARTS_MONTHS:
        x0 = np.full(n_layers, np.log(start))
        result = least_squares(lambda v: solve(v)[1], x0, bounds=(lo, hi), x_scale=1.0, max_nfev=200)
        cost = float(np.sum(solve(result.x)[1] ** 2))
        if best is None or cost < best[0]:
            best = (cost, result.x)
    coef, resid = solve(best[1])
    resid = resid[: int(ok.sum())]
    return PhysicalFit(
        delay_months=np.exp(best[1]),
        a_mm_per_m=coef[:n_layers],
        inelastic=inelastic,
        a_inelastic_mm_per_m=coef[n_layers:] if inelastic else np.zeros(0),
        rmse_mm=float(np.sqrt(np.mean(resid**2))),
    )


def predict_physical(fit: PhysicalFit, heads_m, months_index) -> np.ndarray:
    """Monthly increments (k,) of a fitted response to ``heads_m`` (L, n_gw)."""
    parts = head_changes(np.asarray(heads_m, dtype=np.float64), fit.inelastic)
    coef = np.concatenate([fit.a_mm_per_m, fit.a_inelastic_mm_per_m]) if fit.inelastic else fit.a_mm_per_m
    design = _increment_design(parts, fit.delay_months, np.asarray(months_index, dtype=np.int64))
    return design @ coef


def fit_many(heads_m, increments_mm, months_index, fit_mask, inelastic=False) -> List[PhysicalFit]:
    """One fit per feature: heads (W, L, n_gw), increments (W, k), fitted on ``fit_mask`` (k,)."""
    fits = []
    for w in range(np.asarray(heads_m).shape[0]):
        y = np.where(fit_mask, increments_mm[w], np.nan)
        fits.append(fit_physical(heads_m[w], y, months_index, inelastic))
    return fits
