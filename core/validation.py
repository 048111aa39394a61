"""Validation against benchmark stations and a stable area (METHODS.md section 3, seed 003 4.1).

Seed 003 validates its series against 4 CORS + 5 levelling sites (correlation, RMSE) and
compares methods by the RMS in a non-deforming area (its Table 2). Here:

* **PS series at a station**: the series of the nearest PS point, or the NaN-aware mean of
  the series of all PS within ``radius_m`` of the station.
* **Time alignment** **[choice]**: the PS series is linearly interpolated (over its observed
  dates) to the station dates that fall inside the PS date span (no extrapolation); both
  series are then referenced to their *first common date* (the value there is subtracted
  from each), and the reference date itself, where the difference is 0 by construction, is
  not counted in the statistics.
* **Statistics** per station and pooled over all stations: RMSE of (PS - station), Pearson
  correlation of the pairs, mean difference (PS - station), number of pairs.
* **RMS in a stable area** (:func:`stable_area_rms`): the root mean square, over the stable
  points and all epochs (gaps skipped), of the series minus the true deformation when it is
  known (synthetic data), else of the series itself (a stable area has no deformation, so
  what is left there is error). The same definition is used for raw, filtered and corrected
  series so the methods are comparable.
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np
from scipy.spatial import cKDTree

RMS_BLOCK_ROWS = 8192


@dataclass
class StationComparison:
    """One station's comparison (series on the common dates, after referencing)."""

    station_id: object
    x: float
    y: float
    n_ps: int
    distance_m: float
    dates: np.ndarray
    ps_mm: np.ndarray
    station_mm: np.ndarray
    n_pairs: int
    rmse_mm: float
    correlation: float
    mean_difference_mm: float


@dataclass
class BenchmarkReport:
    """Per-station comparisons and the pooled statistics over all of them."""

    stations: List[StationComparison] = field(default_factory=list)
    n_pairs: int = 0
    rmse_mm: float = float("nan")
    correlation: float = float("nan")
    mean_difference_mm: float = float("nan")


def stable_area_rms(series_mm, stable_mask, truth_mm=None) -> float:
    """RMS (mm) over stable points and epochs of ``series - truth`` (or of the series); see module doc."""
    series_mm = np.asarray(series_mm, dtype=np.float64)
    stable_mask = np.asarray(stable_mask, dtype=bool)
    if stable_mask.shape != series_mm.shape[:1]:
        raise ValueError(f"stable_mask: expected {series_mm.shape[0]} values, got shape {stable_mask.shape}")
    if not stable_mask.any():
        raise ValueError("stable_mask: no point is marked stable")
    truth = None if truth_mm is None else np.asarray(truth_mm, dtype=np.float64)
    rows = np.flatnonzero(stable_mask)
    total, count = 0.0, 0
    for start in range(0, rows.size, RMS_BLOCK_ROWS):  # cache-sized copies, no (m, n) temporaries
        block = rows[start : start + RMS_BLOCK_ROWS]
        values = series_mm[block]
        if truth is not None:
            values -= truth[block]
        observed = ~np.isnan(values)
        values[~observed] = 0.0
        total += float(np.einsum("ij,ij->", values, values))
        count += int(observed.sum())
    if count == 0:
        raise ValueError("series_mm: the stable points have no observed value")
    return float(np.sqrt(total / count))


def _statistics(ps, station):
    diff = ps - station
    n = diff.size
    if n == 0:
        return 0, float("nan"), float("nan"), float("nan")
    rmse = float(np.sqrt(np.mean(diff**2)))
    corr = float("nan")
    if n > 1 and np.std(ps) > 0 and np.std(station) > 0:
        corr = float(np.corrcoef(ps, station)[0, 1])
    return n, rmse, corr, float(np.mean(diff))


def align_series(ps_dates, ps_series_mm, station_dates, station_mm):
    """PS series interpolated to the station dates and both referenced to the first common date.

    Returns ``(dates, ps_mm, station_mm)`` on the common dates after the reference date
    (empty arrays when fewer than two common dates exist).
    """
    ps_t = np.asarray(ps_dates, dtype="datetime64[D]").astype(np.int64).astype(np.float64)
    st_t = np.asarray(station_dates, dtype="datetime64[D]").astype(np.int64).astype(np.float64)
    ps_series_mm = np.asarray(ps_series_mm, dtype=np.float64)
    station_mm = np.asarray(station_mm, dtype=np.float64)
    if station_mm.shape != st_t.shape:
        raise ValueError(f"station_mm: expected {st_t.size} values (one per date), got {station_mm.shape}")
    empty = (np.array([], dtype="datetime64[D]"), np.array([]), np.array([]))
    obs = ~np.isnan(ps_series_mm)
    if obs.sum() < 2:
        return empty
    order = np.argsort(st_t)
    st_t, station_mm = st_t[order], station_mm[order]
    inside = (st_t >= ps_t[obs][0]) & (st_t <= ps_t[obs][-1]) & ~np.isnan(station_mm)
    if inside.sum() < 2:
        return empty
    t = st_t[inside]
    ps_at = np.interp(t, ps_t[obs], ps_series_mm[obs])
    st = station_mm[inside]
    ps_ref = ps_at[1:] - ps_at[0]
    st_ref = st[1:] - st[0]
    return t[1:].astype(np.int64).astype("datetime64[D]"), ps_ref, st_ref


def compare_with_benchmarks(
    x, y, dates, series_mm, stations, mode="nearest", radius_m=None, max_distance_m=None
) -> BenchmarkReport:
    """Compare a PS series matrix with benchmark stations (GNSS or levelling), see module doc.

    Args:
        x, y: (m,) PS coordinates (same CRS as the stations, metres).
        dates: (n,) PS dates; series_mm: (m, n) PS series (NaN gaps).
        stations: iterable of dicts with ``id``, ``x``, ``y``, ``dates`` (t,), ``values_mm`` (t,).
        mode: ``"nearest"`` (nearest PS) or ``"radius"`` (mean of the PS within ``radius_m``).
        radius_m: search radius for ``"radius"`` mode (metres).
        max_distance_m: in ``"nearest"`` mode, a station whose nearest PS is farther than this
            is not compared (None = no limit).
    """
    if mode not in ("nearest", "radius"):
        raise ValueError(f"mode: expected 'nearest' or 'radius', got {mode!r}")
    if mode == "radius" and (radius_m is None or radius_m <= 0):
        raise ValueError(f"radius_m: a positive radius is needed in 'radius' mode, got {radius_m}")
    series_mm = np.asarray(series_mm, dtype=np.float64)
    tree = cKDTree(np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)]))
    report = BenchmarkReport()
    pooled_ps, pooled_st = [], []
    for station in stations:
        sx, sy = float(station["x"]), float(station["y"])
        distance, nearest = tree.query([sx, sy])
        if mode == "nearest":
            far = max_distance_m is not None and distance > max_distance_m
            members = np.array([], dtype=int) if far else np.array([nearest])
        else:
            members = np.asarray(tree.query_ball_point([sx, sy], radius_m), dtype=int)
        if members.size:
            block = series_mm[members]
            with np.errstate(invalid="ignore"):
                counts = (~np.isnan(block)).sum(axis=0)
                ps_series = np.where(counts > 0, np.nansum(block, axis=0) / np.maximum(counts, 1), np.nan)
            t, ps_mm, st_mm = align_series(dates, ps_series, station["dates"], station["values_mm"])
        else:
            t, ps_mm, st_mm = np.array([], dtype="datetime64[D]"), np.array([]), np.array([])
        n_pairs, rmse, corr, mean_diff = _statistics(ps_mm, st_mm)
        report.stations.append(
            StationComparison(
                station["id"], sx, sy, int(members.size), float(distance), t, ps_mm, st_mm,
                n_pairs, rmse, corr, mean_diff,
            )
        )
        pooled_ps.append(ps_mm)
        pooled_st.append(st_mm)
    if pooled_ps:
        n, rmse, corr, mean_diff = _statistics(np.concatenate(pooled_ps), np.concatenate(pooled_st))
        report.n_pairs, report.rmse_mm = n, rmse
        report.correlation, report.mean_difference_mm = corr, mean_diff
    return report
