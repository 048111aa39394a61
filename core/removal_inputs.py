"""What :func:`core.error_removal.remove_errors` checks and aligns before it works (issue 8 split).

The component numbers, the decomposition's rows matched to the layer's ids, and the old
automatic stable area (:func:`quiet_points`, kept for comparison: within 2 mm/yr of the median
model velocity, it keeps bowl fringes; the default is :mod:`.stable_ground`).
"""

import numpy as np

from .psdata import years_since_first

QUIET_VELOCITY_MM_PER_YEAR = 2.0


def _components(numbers, k, name):
    numbers = sorted({int(c) for c in numbers})
    bad = [c for c in numbers if c < 1 or c > k]
    if bad:
        raise ValueError(f"{name}: component numbers must be between 1 and {k}, got {bad}")
    return numbers


def default_components(labels, wanted):
    """1-based numbers of the components whose label is in ``wanted``."""
    return [i + 1 for i, label in enumerate(labels or []) if label in wanted]


def align_spatial(decomposition, ids):
    """The decomposition's spatial matrix S with its rows in the order of ``ids``.

    Raises ValueError naming how many ids are missing on either side when the sets differ.
    """
    spatial = np.asarray(decomposition.spatial, dtype=np.float64)
    dec_ids = getattr(decomposition, "ids", None)
    if ids is None or dec_ids is None:
        return spatial
    ids = np.asarray(ids)
    dec_ids = np.asarray(dec_ids)
    if dec_ids.shape == ids.shape and np.array_equal(dec_ids, ids):
        return spatial
    position = {key: i for i, key in enumerate(dec_ids.tolist())}
    rows = np.fromiter((position.get(key, -1) for key in ids.tolist()), dtype=np.int64, count=ids.size)
    missing = int((rows < 0).sum())
    extra = len(position) - (ids.size - missing)
    if missing or extra or len(position) != dec_ids.size:
        example = ids[rows < 0][:3].tolist() if missing else []
        raise ValueError(
            f"ids: the decomposition's point ids do not match the layer's: {missing} layer ids are not "
            f"in the decomposition (e.g. {example}), {extra} decomposition ids are not in the layer"
        )
    return spatial[rows]


def quiet_points(decomposition, deformation_components, ids=None,
                 threshold_mm_per_year=QUIET_VELOCITY_MM_PER_YEAR):
    """Points the deformation model calls non-deforming: the automatic stable area.

    The velocity of ``D = S_d W_d T'_d^T`` at every point is ``S_d W_d s_d`` with ``s_d`` the
    least-squares slopes (per year) of the deformation components' T_d (METHODS 3 step 1), so
    no (m x n) matrix is built. Points within ``threshold_mm_per_year`` of the median velocity
    are quiet (the median, not zero: D is centred per epoch, so the stable ground sits at
    minus the mean motion).

    Raises:
        ValueError: no deformation component, a non-positive threshold, or no quiet point.
    """
    if threshold_mm_per_year <= 0:
        raise ValueError(f"threshold_mm_per_year: must be > 0, got {threshold_mm_per_year}")
    spatial = align_spatial(decomposition, ids)
    k = np.asarray(decomposition.sigma).size
    d_idx = np.asarray(_components(deformation_components, k, "deformation_components"), dtype=int) - 1
    if d_idx.size == 0:
        raise ValueError("deformation_components: the automatic stable area needs at least one")
    t = years_since_first(decomposition.dates)
    tc = t - t.mean()
    temporal = np.asarray(decomposition.temporal, dtype=np.float64)[:, d_idx]
    slopes = tc @ temporal / (tc @ tc)
    v = np.nan_to_num(spatial[:, d_idx]) @ (np.asarray(decomposition.sigma)[d_idx] * slopes)
    quiet = np.abs(v - np.median(v)) < threshold_mm_per_year
    quiet &= np.all(np.isfinite(spatial[:, d_idx]), axis=1)
    if not quiet.any():
        raise ValueError(f"threshold_mm_per_year: no point moves less than {threshold_mm_per_year} mm/yr")
    return quiet
