"""The residual error screen, interpolated per date from stable ground (issue 8).

After the error components and the per-date polynomial are removed (METHODS 3 steps 3-4), what
is left on stable ground is error only: turbulent atmosphere at scales the polynomial cannot
follow and the error components did not hold, plus noise. **[choice]** Per date, that residual
is interpolated to every point with a Gaussian kernel of width ``length_m`` over the
``neighbours`` nearest stable points, shrunk towards zero where stable points are few or far:

    screen_i = sum_j w_ij r_j / (sum_j w_ij + SHRINK),   w_ij = exp(-d_ij^2 / (2 length_m^2))

and removed. A stable point's own value is left out of its estimate (leave-one-out), so its
noise is not "removed" by itself. Stable ground holds no deformation, so the screen carries no
trend into moving ground beyond what stable ground has; it is part of the removed surface and
is checked by :func:`core.stable_ground.removed_trend_check` like the rest.

This is the spatial half of the spatio-temporal filter (Chen et al. 2023 compare against one),
restricted to stable ground, so it cannot smooth away deformation. Default ``length_m``: the
median distance from a point to its ``neighbours``-th nearest stable point, between
``MIN_LENGTH_M`` and ``MAX_LENGTH_M``.
"""

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

NEIGHBOURS = 8
ERROR_MAP_NEIGHBOURS = 16
SHRINK = 1.0
MIN_LENGTH_M = 150.0
MAX_LENGTH_M = 1500.0


def screen_weights(x, y, stable_mask, length_m=None, neighbours=NEIGHBOURS):
    """(m, s) sparse kernel weights from the s stable points to every point (self left out)."""
    xy = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    stable = np.flatnonzero(np.asarray(stable_mask, dtype=bool))
    m, s = xy.shape[0], stable.size
    count = int(min(neighbours + 1, s))
    distance, index = cKDTree(xy[stable]).query(xy, k=count, workers=-1)
    distance = distance.reshape(m, count)
    index = index.reshape(m, count)
    own = stable[index] == np.arange(m)[:, None]
    if length_m is None:
        length_m = float(np.clip(np.median(distance[:, -1]), MIN_LENGTH_M, MAX_LENGTH_M))
    weight = np.exp(-0.5 * (distance / length_m) ** 2)
    weight[own] = 0.0
    rows = np.repeat(np.arange(m), count)
    return sparse.csr_matrix((weight.ravel(), (rows, index.ravel())), shape=(m, s)), length_m


def residual_screen(residual_mm, x, y, stable_mask, length_m=None):
    """Per-date screen (m, n) interpolated from ``residual_mm`` on the stable points (module doc).

    Returns ``(screen_mm, length_m)``. NaN residuals (gaps) count as 0.
    """
    residual_mm = np.asarray(residual_mm, dtype=np.float64)
    weights, stable_residual, denominator, length_m = screen_factors(
        residual_mm[np.asarray(stable_mask, dtype=bool)], x, y, stable_mask, length_m
    )
    return (weights @ stable_residual) / denominator, length_m


def screen_factors(stable_residual_mm, x, y, stable_mask, length_m=None, weights=None):
    """The screen as ``(weights (m, s), residual (s, n), denominator (m, 1), length_m)``.

    ``stable_residual_mm``: the residual at the stable points only, in row order. The screen of
    any rows is ``weights[rows] @ residual / denominator[rows]`` (:func:`residual_screen` for all).
    ``weights``: :func:`screen_weights`' answer (or a future of it) when already started.
    """
    if weights is None:
        weights = screen_weights(x, y, stable_mask, length_m)
    weights, length_m = weights.result() if hasattr(weights, "result") else weights
    # Gaps count as 0 (no error seen there): a slight extra shrink where they are, instead of a
    # second (m x n) product for the weights actually used.
    r = np.asarray(stable_residual_mm, dtype=np.float64)
    if not np.isfinite(r).all():
        r = np.nan_to_num(r, nan=0.0)
    denominator = np.asarray(weights.sum(axis=1)).reshape(-1, 1) + SHRINK
    return weights, r, denominator, length_m


def interpolate_from_stable(maps, x, y, stable_mask, neighbours=ERROR_MAP_NEIGHBOURS):
    """Values of ``maps`` (m, k) kept on stable points and interpolated elsewhere (module doc).

    Each non-stable point gets the inverse-squared-distance weighted mean of the maps at its
    ``neighbours`` nearest stable points (a stable point with a NaN map is skipped).
    """
    maps = np.asarray(maps, dtype=np.float64)
    stable_mask = np.asarray(stable_mask, dtype=bool)
    if x is None or y is None:
        raise ValueError("x, y: coordinates are needed to carry the error maps from the stable area")
    source = stable_mask & np.all(np.isfinite(maps), axis=1)
    target = ~stable_mask
    if not target.any():
        return maps
    if not source.any():
        raise ValueError("fit_mask: no stable point has a finite error-component map")
    xy = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    count = int(min(neighbours, source.sum()))
    distance, index = cKDTree(xy[source]).query(xy[target], k=count, workers=-1)
    distance = distance.reshape(-1, count)
    index = index.reshape(-1, count)
    weight = 1.0 / np.maximum(distance, 1e-6) ** 2
    weight /= weight.sum(axis=1, keepdims=True)
    out = maps.copy()
    out[target] = np.einsum("uj,ujk->uk", weight, maps[source][index])
    return out
