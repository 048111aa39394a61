"""Stable ground that cannot eat deformation, and the check that nothing was eaten (issue 8).

The per-date surfaces and the error maps of :mod:`core.error_removal` are fitted on stable
ground. If that ground holds slowly deforming points (the gentle fringe around a subsidence
bowl), the surfaces learn their trend and carry it into the bowls by extrapolation: on an
independent generator a fixed "within 2 mm/yr of the median" rule kept fringes (only 66-70 %
of its points truly stable) and the bowls came out 0.5-0.8 mm/yr shallower.

**Selection by significance** (:func:`select_stable_ground`) **[choice]**, measured against
the truth of both generators (tests/test_stable_ground.py, bench/bench_error_removal_truth.py):

1. every point's velocity ``v`` and its standard error ``se`` (least-squares line, mm after
   unit conversion, :func:`core.ps_ops.velocity`);
2. the reference ``v0``: at first the densest velocity (stable ground piles up at one value,
   deformation spreads; the median of all points is subsiding ground where most points are),
   then the median velocity of the current stable set;
3. a point is *moving* when ``|v - v0| > significance * se`` (default 2.5, i.e. about 1 %
   of truly stable points are rejected by chance) **or** when its neighbourhood is: the median
   ``v`` of its ``NEIGHBOURS`` nearest points departs from ``v0`` by more than ``significance``
   times the larger of the standard error of that median (``1.25 median(se) /
   sqrt(NEIGHBOURS)``, times 2 because the errors of neighbours are correlated) and the robust
   spread (1.4826 MAD) of the local medians over the current stable set: the errors left in
   velocities (turbulent trends) are spatially correlated, so neighbourhoods of stable ground
   differ by more than their standard errors say. The neighbourhood test finds slow fringes
   whose single points are not significant;
4. **margin**: a point is stable only when no point of a moving *neighbourhood* lies within
   ``margin_m`` (default ``MARGIN_M`` = 400 m), since a fringe fades out below any threshold
   before it ends. Measured on 4000 points: at 150 m a third of the urban generator's
   selection was fringe (purity 0.63-0.74), at 300 m 0.79-0.93, at 600 m 0.92-1.0 but then
   only half of the truly stable ground is used;
5. velocities below ``FLOOR_MM_PER_YEAR`` never count as motion (long, dense series such as
   EGMS have standard errors of 0.1 mm/yr: without a floor nothing would be stable).

:func:`automatic_stable_ground` runs it on the input, removes a first per-date surface fitted
on that ground, and selects again on the corrected series (smaller standard errors, no
error trend); twice.

**The check** (:func:`removed_trend_check`): the velocity of what was removed
(``observed - corrected``) at every point; at each moving point it is compared with what the
nearest stable points had removed (inverse-distance mean of ``CHECK_NEIGHBOURS`` of them). A
median excess beyond ``TREND_TOLERANCE_MM_PER_YEAR`` means the removed parts put a trend into
the deforming area that stable ground does not have: the caller warns.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .polynomial import fit_epoch_polynomials
from .ps_ops import velocity as ps_velocity

SIGNIFICANCE = 2.5
NEIGHBOURS = 12
MARGIN_M = 400.0
FLOOR_MM_PER_YEAR = 0.3
MIN_STABLE_SHARE = 0.05
MIN_SPREAD_SHARE = 0.3
SELECT_MAX_POINTS = 15_000
CHECK_NEIGHBOURS = 8
TREND_TOLERANCE_MM_PER_YEAR = 0.2


@dataclass
class StableGround:
    """The selected stable points and how they were chosen.

    Attributes:
        mask: (m,) bool, the stable points.
        moving: (m,) bool, points whose motion (own or of their neighbourhood) is significant.
        reference_velocity_mm_per_year: ``v0``, the median velocity of the stable points.
        margin_m: the margin kept around moving neighbourhoods.
        relaxed: True when too few points passed and the least-moving ones were taken instead.
        usable: False when relaxed or when the stable points cover too small a part of the area
            (spatial spread below ``MIN_SPREAD_SHARE`` of all points'): surfaces fitted on them
            would be extrapolated far, so the caller fits on all points instead.
    """

    mask: np.ndarray
    moving: np.ndarray
    reference_velocity_mm_per_year: float
    margin_m: float
    relaxed: bool = False
    usable: bool = True


def _xy(x, y):
    return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])


def _mode(values, bandwidth):
    """The densest velocity (Gaussian-smoothed histogram): where stable ground piles up.

    Not the median: on a city over pumped aquifers most points may be subsiding.
    """
    lo, hi = np.percentile(values, [0.5, 99.5])
    bandwidth = max(bandwidth, 1e-3)
    edges = np.arange(lo, hi + bandwidth / 4, bandwidth / 4)
    if edges.size < 3:
        return float(np.median(values))
    counts = np.histogram(values, bins=edges)[0].astype(np.float64)
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / 4.0) ** 2)
    smooth = np.convolve(counts, kernel, mode="same")
    peak = int(np.argmax(smooth))
    return float(0.5 * (edges[peak] + edges[peak + 1]))


def _neighbourhoods(xy, known, neighbours):
    """Indices (m, count) of each point's nearest points with a known velocity."""
    count = int(min(neighbours, known.sum()))
    index = cKDTree(xy[known]).query(xy, k=count)[1].reshape(xy.shape[0], count)
    return np.flatnonzero(known)[index]


def select_stable_ground(velocity, velocity_se, x, y, significance=SIGNIFICANCE, margin_m=None,
                         neighbours=NEIGHBOURS, iterations=3, _index=None) -> StableGround:
    """Stable points by significance, with a margin from moving ground (module doc, steps 2-5).

    Args:
        velocity, velocity_se: (m,) mm/yr (NaN where unknown: such points are never stable).
        x, y: (m,) metres.
        significance: how many standard errors make a motion significant (> 0).
        margin_m: metres kept from moving neighbourhoods; None = ``MARGIN_M``.

    Raises:
        ValueError: bad significance, or fewer than ten points with a known velocity.
    """
    if not significance > 0:
        raise ValueError(f"significance: must be > 0, got {significance}")
    v = np.asarray(velocity, dtype=np.float64)
    se = np.asarray(velocity_se, dtype=np.float64)
    known = np.isfinite(v) & np.isfinite(se)
    m = v.size
    if known.sum() < 10:
        raise ValueError(f"velocity: only {int(known.sum())} points have a velocity; no stable ground")
    xy = _xy(x, y)
    index = _neighbourhoods(xy, known, neighbours) if _index is None else _index
    margin_m = MARGIN_M if margin_m is None else margin_m
    with np.errstate(invalid="ignore"):
        local_v = np.nanmedian(v[index], axis=1)
        local_se = 2.0 * 1.25 * np.nanmedian(se[index], axis=1) / np.sqrt(index.shape[1])
    stable = known.copy()
    v0 = _mode(v[known], float(np.median(se[known])))
    spread = 0.0
    for iteration in range(iterations):
        if iteration and stable.any():
            v0 = float(np.median(v[stable]))
        if stable.any():
            # Errors left in the velocities are spatially correlated: the spread of the local
            # medians over the current stable set is the scale their significance is judged on.
            spread = 1.4826 * np.median(np.abs(local_v[stable] - np.median(local_v[stable])))
        with np.errstate(invalid="ignore"):
            own = np.abs(v - v0) > np.maximum(significance * se, FLOOR_MM_PER_YEAR)
            scale = np.maximum(local_se, spread)
            area = (np.abs(local_v - v0) > np.maximum(significance * scale, FLOOR_MM_PER_YEAR)) & known
        moving = (own | area) & known
        near_moving = np.zeros(m, dtype=bool)
        if area.any():
            hits = cKDTree(xy[area]).query(xy, k=1, distance_upper_bound=margin_m)[0]
            near_moving = np.isfinite(hits)
        stable = known & ~moving & ~near_moving
    relaxed = False
    if stable.sum() < max(10, MIN_STABLE_SHARE * m):
        # Too little stable ground: the least significant points, so the run still goes on.
        relaxed = True
        score = np.where(known, np.abs(v - v0) / np.maximum(se, 1e-9), np.inf)
        stable = np.zeros(m, dtype=bool)
        stable[np.argsort(score)[: int(max(10, MIN_STABLE_SHARE * m))]] = True
        stable &= known
    v0 = float(np.median(v[stable]))
    spread = np.hypot(*xy[stable].std(axis=0)) / max(np.hypot(*xy[known].std(axis=0)), 1e-9)
    usable = not relaxed and spread >= MIN_SPREAD_SHARE
    return StableGround(stable, moving, v0, float(margin_m), relaxed, usable)


def automatic_stable_ground(displacement_mm, dates, x, y, z=None, polynomial="quadratic",
                            significance=SIGNIFICANCE, margin_m=None, passes=1) -> StableGround:
    """Select stable ground, remove a per-date surface fitted on it, select again (module doc).

    **[choice]** Above ``SELECT_MAX_POINTS`` points the selection runs on a fixed random
    subsample (seed 0): thousands of stable points determine a per-date surface as well as
    hundreds of thousands, and the cost stays bounded. The other points' ``moving`` flag is
    their nearest sampled point's.
    """
    series = np.asarray(displacement_mm, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = series.shape[0]
    sample = np.arange(m)
    if m > SELECT_MAX_POINTS:
        sample = np.sort(np.random.default_rng(0).choice(m, SELECT_MAX_POINTS, replace=False))
    sub = series[sample]
    xs, ys = x[sample], y[sample]
    zs = None if z is None else np.asarray(z, dtype=np.float64)[sample]
    v, se = ps_velocity(sub, dates)
    index = _neighbourhoods(_xy(xs, ys), np.isfinite(v) & np.isfinite(se), NEIGHBOURS)
    ground = select_stable_ground(v, se, xs, ys, significance, margin_m, _index=index)
    kind = polynomial if polynomial != "none" else "plane"
    for _ in range(passes):
        surface = fit_epoch_polynomials(sub, xs, ys, zs, kind, ground.mask).surface_mm
        v, se = ps_velocity(sub - surface, dates)
        ground = select_stable_ground(v, se, xs, ys, significance, margin_m, _index=index)
    if sample.size == m:
        return ground
    mask = np.zeros(m, dtype=bool)
    mask[sample] = ground.mask
    nearest = cKDTree(_xy(xs, ys)).query(_xy(x, y), k=1)[1]
    moving = ground.moving[nearest]
    moving[sample] = ground.moving
    return StableGround(mask, moving, ground.reference_velocity_mm_per_year, ground.margin_m,
                        ground.relaxed, ground.usable)


@dataclass
class TrendCheck:
    """What the removed parts did to the velocities (mm/yr)."""

    removed_velocity_mm_per_year: np.ndarray
    stable_median: float
    moving_median: float
    excess_median: float
    excess_fast_median: float
    n_moving: int
    warn: bool


def removed_trend_check(removed_mm, dates, stable_mask, moving_mask, x, y, fast_mask=None,
                        tolerance=TREND_TOLERANCE_MM_PER_YEAR, removed_velocity=None) -> TrendCheck:
    """Velocity of the removed parts per point, and whether moving points got a trend of their own.

    ``excess`` at a moving point = its removed velocity minus the inverse-distance mean of the
    removed velocities of its ``CHECK_NEIGHBOURS`` nearest stable points. ``warn`` when the
    median excess (over the moving points, or over ``fast_mask``) exceeds ``tolerance``.
    ``removed_velocity`` (m,) replaces the velocity of ``removed_mm`` when given (then
    ``removed_mm`` may be None). The medians use at most ``SELECT_MAX_POINTS`` moving points.
    """
    if removed_velocity is None:
        removed_velocity = ps_velocity(np.asarray(removed_mm, dtype=np.float64), dates)[0]
    removed_v = np.asarray(removed_velocity, dtype=np.float64)
    stable = np.asarray(stable_mask, dtype=bool) & np.isfinite(removed_v)
    moving = np.asarray(moving_mask, dtype=bool) & ~stable & np.isfinite(removed_v)
    nan = float("nan")
    if not stable.any() or not moving.any():
        med = float(np.nanmedian(removed_v[stable])) if stable.any() else nan
        return TrendCheck(removed_v, med, nan, nan, nan, int(moving.sum()), False)
    n_moving = int(moving.sum())
    if n_moving > SELECT_MAX_POINTS:
        keep = np.random.default_rng(0).choice(np.flatnonzero(moving), SELECT_MAX_POINTS, replace=False)
        moving = np.zeros_like(moving)
        moving[keep] = True
    xy = _xy(x, y)
    count = int(min(CHECK_NEIGHBOURS, stable.sum()))
    distance, index = cKDTree(xy[stable]).query(xy[moving], k=count)
    weight = 1.0 / np.maximum(distance.reshape(-1, count), 1.0) ** 2
    expected = (weight * removed_v[stable][index.reshape(-1, count)]).sum(axis=1) / weight.sum(axis=1)
    excess = removed_v[moving] - expected
    fast = np.asarray(fast_mask, dtype=bool)[moving] if fast_mask is not None else np.zeros(excess.size, bool)
    excess_fast = float(np.median(excess[fast])) if fast.any() else nan
    worst = max(abs(float(np.median(excess))), abs(excess_fast) if fast.any() else 0.0)
    return TrendCheck(
        removed_v, float(np.median(removed_v[stable])), float(np.median(removed_v[moving])),
        float(np.median(excess)), excess_fast, n_moving, bool(worst > tolerance),
    )


def self_report(observed_mm, result, dates, x, y, raw_velocity=None):
    """What the run did, told honestly: ``(lines, warnings, trend_check)``.

    Next to the RMS on stable ground (which every correction lowers, even a harmful one): the
    velocity change at the moving points, and the trend of what was removed there against what
    stable ground had removed (:func:`removed_trend_check`). ``result`` is an
    :class:`~core.error_removal.ErrorRemovalResult` of ``observed_mm``.
    """
    observed_mm = np.asarray(observed_mm, dtype=np.float64)
    ground = result.stable_ground
    stable = np.asarray(result.fit_mask if ground is None else ground.mask, dtype=bool)
    moving = ground.moving if ground is not None else ~stable
    raw_v = ps_velocity(observed_mm, dates)[0] if raw_velocity is None else raw_velocity
    # Velocity is linear in the series and the corrected series has the input's gaps, so the
    # velocity of what was removed is exactly the velocity lost.
    change = result.velocity_mm_per_year - raw_v
    fast = moving & (np.abs(raw_v - np.nanmedian(raw_v[stable])) > 10.0)
    check = removed_trend_check(None, dates, stable, moving, x, y, fast_mask=fast, removed_velocity=-change)
    lines, warnings = [], []
    if moving.any():
        lines.append(
            f"Velocity change at the {int(moving.sum())} moving points: "
            f"median {np.nanmedian(change[moving]):+.2f} mm/yr, "
            f"95 % within {np.nanpercentile(np.abs(change[moving]), 95):.2f} mm/yr "
            f"(stable points: median {np.nanmedian(change[stable]):+.2f})."
        )
        lines.append(
            f"Trend of the removed parts: {check.stable_median:+.2f} mm/yr on stable ground, "
            f"{check.moving_median:+.2f} at moving points; excess over nearby stable ground "
            f"{check.excess_median:+.2f} (points faster than 10 mm/yr: {check.excess_fast_median:+.2f})."
        )
    if check.warn:
        warnings.append(
            "The removed parts put a trend into the moving points that the stable ground next to them does "
            f"not have (median excess {check.excess_median:+.2f} mm/yr, fast points "
            f"{check.excess_fast_median:+.2f}): the deformation there may be biased. Check the stable area "
            "and the error components (see removed_velocity_mm_per_year)."
        )
    v = result.reference_velocity_mm_per_year
    if np.isfinite(v) and result.reference_kept:
        lines.append(f"Reference: the input's is kept (stable ground moves {v:+.2f} mm/yr in it).")
    elif np.isfinite(v) and result.reference == "stable":
        warnings.append(
            f"Reference: zero on the stable ground, as asked: every velocity shifted by {-v:+.2f} mm/yr "
            "(the stable ground's own motion in the input is removed)."
        )
    elif np.isfinite(v):
        lines.append(
            f"Reference: the stable ground's velocity in the input, {v:+.2f} mm/yr, is within 4 standard "
            f"errors of its date-to-date scatter, so it is treated as error: velocities shifted by {-v:+.2f} "
            "mm/yr. Choose 'Keep the input's reference' to keep it."
        )
    if ground is not None and not ground.usable:
        warnings.append(
            f"No stable ground could be told apart ({int(ground.mask.sum())} points, too few or too "
            "clustered to carry a surface over the area): the surfaces were fitted on all points with the "
            "deformation model set aside (Chen et al. 2023 literally). Give a stable area if you know one."
        )
    return lines, warnings, check
