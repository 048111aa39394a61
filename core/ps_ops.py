"""Operations on PS series: LOS -> vertical, re-referencing, velocity, monthly resampling.

All functions take plain arrays or a :class:`~core.psdata.PSDataset` and return new objects;
inputs are never modified. NaN marks a missing value throughout (METHODS.md section 1).
"""

from dataclasses import replace
from typing import Optional, Tuple

import numpy as np

from .field_names import LOS_UP_FIELD_CANDIDATES, find_field
from .psdata import PSDataset, years_since_first
from .row_blocks import map_row_blocks

# Beyond this the 1/cos(theta) factor explodes; SAR incidence angles are 20..50 degrees.
MAX_INCIDENCE_DEG = 80.0
VELOCITY_BLOCK_ROWS = 4096
VELOCITY_THREADS = 2


def _los_up_values(ps: PSDataset, los_up_field: Optional[str]):
    """``(name, values)`` of the LOS up-component field: the one named, else a detected one."""
    if los_up_field:
        if los_up_field not in ps.attributes:
            raise ValueError(
                f"los_up_field: no field {los_up_field!r}; fields are: {', '.join(ps.attributes)}"
            )
        name = los_up_field
    else:
        name = find_field(list(ps.attributes), LOS_UP_FIELD_CANDIDATES)
        if name is None:
            return None, None
    values = np.asarray(ps.attributes[name])
    if values.dtype.kind not in "fiu":
        raise ValueError(f"los_up_field: field {name!r} is not numeric (a LOS unit-vector up component)")
    return name, values.astype(np.float64)


def los_to_vertical(
    ps: PSDataset, scene_incidence_deg: Optional[float] = None, los_up_field: Optional[str] = None
) -> PSDataset:
    """Vertical displacement from line-of-sight, assuming the motion is vertical (METHODS.md 1).

    ``D_v = D_LOS / u_up`` with ``u_up`` the up component of the LOS unit vector (ground to
    satellite), or ``D_v = D_LOS / cos(theta)`` with the incidence angle ``theta`` (seed 000;
    ``cos(theta)`` is ``u_up`` on a flat ellipsoid). Per point, in this order:

    1. the LOS up-component field ``los_up_field`` when named (a field of ``ps.attributes``);
    2. the per-point incidence angle ``ps.incidence_deg`` (EGMS ``incidence_angle``...);
    3. a detected LOS up-component field (``los_up`` in EGMS, ``cosU`` in SARscape exports;
       :data:`core.field_names.LOS_UP_FIELD_CANDIDATES`);
    4. ``scene_incidence_deg``, one angle for the scene, also where the per-point value is NaN.

    Horizontal motion is not separable from one geometry.

    Raises:
        ValueError: the dataset is already vertical, nothing gives the geometry, or a factor is
            not usable (angle outside [0, 80) degrees, up component outside (cos 80deg, 1]).
    """
    if ps.direction != "LOS":
        raise ValueError(f"direction: the dataset is already {ps.direction!r}, not line-of-sight")
    name, up = _los_up_values(ps, los_up_field)
    m = ps.n_points
    if ps.incidence_deg is not None and not los_up_field:
        theta, up = ps.incidence_deg.astype(np.float64), None
    elif up is not None:
        theta = np.full(m, np.nan)
    elif scene_incidence_deg is not None:
        theta = np.full(m, float(scene_incidence_deg))
    else:
        raise ValueError(
            "incidence_deg: no incidence angle field, no LOS up-component field (los_up, cosU) and no scene "
            "incidence angle; give one of them"
        )
    from_up = np.zeros(m, dtype=bool) if up is None else ~np.isnan(up)
    if scene_incidence_deg is not None:
        theta[np.isnan(theta) & ~from_up] = float(scene_incidence_deg)
    factor = np.where(from_up, up if up is not None else 0.0, np.cos(np.deg2rad(theta)))
    min_up = np.cos(np.deg2rad(MAX_INCIDENCE_DEG))
    bad_angle = ~from_up & (np.isnan(theta) | (theta < 0) | (theta >= MAX_INCIDENCE_DEG))
    bad_up = from_up & ((factor <= min_up) | (factor > 1))
    if np.any(bad_angle):
        i = int(np.flatnonzero(bad_angle)[0])
        raise ValueError(
            f"incidence_deg: {theta[i]} degrees at point {ps.ids[i]} is not a usable incidence angle "
            f"(expected 0 <= theta < {MAX_INCIDENCE_DEG:g})"
        )
    if np.any(bad_up):
        i = int(np.flatnonzero(bad_up)[0])
        raise ValueError(
            f"los_up_field: field {name!r} holds {factor[i]} at point {ps.ids[i]}, not a usable LOS up "
            f"component (expected {min_up:.3f} < up <= 1, the cosine of the incidence angle)"
        )
    vertical = ps.displacement_mm / factor[:, None]
    return ps.with_displacement(vertical, direction="vertical")


def rereference(ps: PSDataset, reference) -> PSDataset:
    """Series relative to a reference point or area: subtract its mean series.

    ``reference`` selects the reference points (boolean mask or indices). At every date
    the NaN-aware mean of their series is subtracted from all points, so the reference
    becomes stable by definition (METHODS.md section 1: displacement is relative).

    Raises:
        ValueError: no reference point selected, or a date where no reference point has a value.
    """
    index = np.asarray(reference)
    if index.dtype == bool:
        if index.shape != (ps.n_points,):
            raise ValueError(f"reference: mask has shape {index.shape}, expected ({ps.n_points},)")
        index = np.flatnonzero(index)
    if index.size == 0:
        raise ValueError("reference: no reference point selected")
    block = ps.displacement_mm[index]
    valid = ~np.isnan(block)
    counts = valid.sum(axis=0)
    if np.any(counts == 0):
        j = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"reference: no reference point has a value at {ps.dates[j]}")
    reference_series = np.where(valid, block, 0.0).sum(axis=0) / counts
    return ps.with_displacement(ps.displacement_mm - reference_series[None, :])


def reference_mask_from_ids(ps: PSDataset, ids) -> np.ndarray:
    """Boolean mask of the points whose id is in ``ids`` (ids compared as text).

    Each id must name exactly one point: an id missing from the layer, or held by several points
    (a layer with duplicate ids), is a ValueError naming the id and the rows (1-based)."""
    wanted = {str(i).strip() for i in ids}
    have = np.array([str(i) for i in ps.ids.tolist()])
    mask = np.isin(have, list(wanted))
    missing = wanted - set(have[mask].tolist())
    if missing:
        raise ValueError(f"reference ids: {', '.join(sorted(missing))} not found among the point ids")
    for key in sorted(wanted):
        rows = np.flatnonzero(have == key)
        if rows.size > 1:
            listed = ", ".join(str(r + 1) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
            raise ValueError(
                f"reference ids: id {key} is held by {rows.size} points (rows {listed}) of the "
                f"{ps.id_field or 'id'} field; the ids must be unique: choose a unique ID_FIELD or use a "
                "reference area"
            )
    return mask


years_of = years_since_first  # the name older callers use


def velocity(displacement_mm, dates, residual_rms=False):
    """Least-squares linear velocity (mm/yr) and its standard error per point.

    For each point, over its observed dates: ``d(t) = a + v t``;
    ``v = S_td / S_tt`` with ``S_tt = sum (t - t_mean)^2``, and standard error
    ``se(v) = sqrt(RSS / (k - 2) / S_tt)`` (ordinary least squares, k observed dates).
    ``v`` is NaN with fewer than 2 dates, ``se`` with fewer than 3.
    With ``residual_rms``, also the RMS of the residuals about the line, ``sqrt(RSS / k)``
    (NaN with fewer than 2 dates), as a third array.
    """
    d = np.asarray(displacement_mm, dtype=np.float64)
    if d.ndim == 1:
        d = d[None, :]
    t = years_of(dates)
    if t.shape[0] != d.shape[1]:
        raise ValueError(f"dates: {t.shape[0]} dates for a series of {d.shape[1]} values")
    slope = np.empty(d.shape[0])
    std_error = np.empty(d.shape[0])
    rms = np.empty(d.shape[0])
    # Row blocks: the same per-row arithmetic, but temporaries of a few MB that stay in the
    # CPU cache instead of a dozen (m, n) arrays (page faults and memory traffic dominated).
    # **[choice]** The blocks are shared by VELOCITY_THREADS threads (numpy releases the GIL;
    # each block writes its own rows, so results do not depend on the threads).
    def run(start):
        stop = start + VELOCITY_BLOCK_ROWS
        slope[start:stop], std_error[start:stop], rms[start:stop] = _velocity_block(d[start:stop], t)

    map_row_blocks(run, d.shape[0], VELOCITY_BLOCK_ROWS, VELOCITY_THREADS)
    return (slope, std_error, rms) if residual_rms else (slope, std_error)


def line_fit(d, t):
    """The plugin's one NaN-aware least-squares line, per row of ``d`` (m, n) in ``t`` (n,).

    Returns ``(obs, k, t_mean, d_mean, slope, s_tt, ok)``: the observed mask, the number of
    observed dates, the means of t and d over them, the slope (NaN where ``ok`` is False: fewer
    than 2 dates or no spread in t) and ``S_tt = sum (t - t_mean)^2``. Sums with masks, no per-row
    Python; used by :func:`velocity` and :func:`core.spatiotemporal_filter.detrend`.
    """
    obs = ~np.isnan(d)
    w = obs.astype(np.float64)
    k = w.sum(axis=1)
    safe_k = np.where(k > 0, k, 1.0)
    t_mean = (w * t).sum(axis=1) / safe_k
    d0 = np.where(obs, d, 0.0)
    d_mean = d0.sum(axis=1) / safe_k
    tc = (t[None, :] - t_mean[:, None]) * w
    s_tt = (tc * tc).sum(axis=1)
    s_td = (tc * (d0 - d_mean[:, None] * w)).sum(axis=1)
    ok = (k >= 2) & (s_tt > 0)
    slope = np.where(ok, s_td / np.where(ok, s_tt, 1.0), np.nan)
    return obs, k, t_mean, d_mean, slope, s_tt, ok


def _velocity_block(d, t):
    """:func:`velocity` of a block of rows."""
    obs, k, t_mean, d_mean, slope, s_tt, ok = line_fit(d, t)
    safe_k = np.where(k > 0, k, 1.0)
    fitted = d_mean[:, None] + slope[:, None] * (t[None, :] - t_mean[:, None])
    rss = (np.where(obs, d - fitted, 0.0) ** 2).sum(axis=1)
    ok3 = ok & (k >= 3)
    std_error = np.where(ok3, np.sqrt(rss / np.maximum(k - 2, 1) / np.where(ok, s_tt, 1.0)), np.nan)
    rms = np.where(k >= 2, np.sqrt(rss / safe_k), np.nan)
    return slope, std_error, rms


def month_starts(dates) -> np.ndarray:
    """First days of the months within [first date, last date] (``datetime64[D]``)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    first = dates[0].astype("datetime64[M]")
    if first.astype("datetime64[D]") < dates[0]:
        first = first + 1
    last = dates[-1].astype("datetime64[M]")
    return np.arange(first, last + 1).astype("datetime64[D]")


def resample_monthly(displacement_mm, dates, progress=None) -> Tuple[np.ndarray, np.ndarray]:
    """Series on the first day of each month, by linear interpolation in time (METHODS.md 4).

    Month steps cover the months whose first day lies within the acquisition period (groundwater
    records are monthly on the 1st). Per point, only its observed dates are used; a month
    outside a point's observed span is NaN (no extrapolation).

    Returns:
        ``(months, series)``: ``datetime64[D]`` (k,) and float (m, k).
    """
    d = np.asarray(displacement_mm, dtype=np.float64)
    dates = np.asarray(dates, dtype="datetime64[D]")
    if d.ndim != 2 or d.shape[1] != dates.shape[0]:
        raise ValueError(f"displacement_mm: shape {d.shape} does not match {dates.shape[0]} dates")
    months = month_starts(dates)
    t = (dates - dates[0]).astype(np.float64)
    tm = (months - dates[0]).astype(np.float64)
    out = np.full((d.shape[0], months.shape[0]), np.nan)
    if months.size == 0:
        return months, out
    complete = ~np.isnan(d).any(axis=1)
    # Points without gaps share one interpolation matrix: out = d @ W.
    hi = np.clip(np.searchsorted(t, tm, side="right"), 1, t.size - 1)
    lo = hi - 1
    frac = (tm - t[lo]) / (t[hi] - t[lo]) if t.size > 1 else np.zeros_like(tm)
    weights = np.zeros((t.size, tm.size))
    cols = np.arange(tm.size)
    if t.size > 1:
        weights[lo, cols] += 1.0 - frac
        weights[hi, cols] += frac
    else:
        weights[0, cols] = 1.0
    out[complete] = d[complete] @ weights
    gappy = np.flatnonzero(~complete)
    for count, i in enumerate(gappy):
        obs = ~np.isnan(d[i])
        if obs.sum() < 2:
            if obs.sum() == 1:
                out[i, tm == t[obs][0]] = d[i, obs][0]
            continue
        ti = t[obs]
        inside = (tm >= ti[0]) & (tm <= ti[-1])
        out[i, inside] = np.interp(tm[inside], ti, d[i, obs])
        if progress is not None and count % 5000 == 0:
            progress(count / max(gappy.size, 1), None)
    return months, out


def resample_dataset_monthly(ps: PSDataset, progress=None) -> PSDataset:
    """``ps`` on month steps (:func:`resample_monthly`); date fields are dropped."""
    months, series = resample_monthly(ps.displacement_mm, ps.dates, progress)
    if months.size == 0:
        raise ValueError(f"dates: {ps.dates[0]} .. {ps.dates[-1]} contains no first day of a month")
    return replace(ps, dates=months, displacement_mm=series, date_fields=None)
