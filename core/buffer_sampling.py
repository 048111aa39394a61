"""Buffer sampling of PS points around wells, lines and polygons (METHODS.md section 4).

Cao et al. take the PS points within r = 300 m of each well and use their mean series;
Chen et al. (2023) buffer subway lines by 1.5 km. Membership here is an *exact* distance
test, never a polygonised buffer: a PS point belongs to a feature when its Euclidean distance
(metric CRS) to the feature is ``<= radius_m``. The distance to a point feature is to its
nearest vertex, to a line the minimum point-to-segment distance, and to a polygon 0 inside
(even-odd rule over all rings) else the distance to its boundary.

Speed: a ``cKDTree`` over the PS gives the candidates (a ball per point vertex, a ball per
stretch of at most ``radius_m`` of every segment), then exact distances are computed over the
candidates only, vectorised over (candidate, segment) pairs.

Per feature: member count, member distances, the mean / median / standard deviation series
over the members at each date (NaN-aware: a member without a value at a date is left out of
that date, and ``count`` says how many were used), and the mean velocity: the least-squares
velocity of the mean series (the members' mean velocity when no value is missing).
Optional inverse-distance weighting (**[choice]**: ``w = 1 / max(d, radius_m / 10)^2``, the
floor keeping points on or inside the feature from taking all the weight) weights the mean,
the median (weighted median), the standard deviation and the mean velocity.
"""

from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np

from .feature_geometry import FeatureGeometry
from .ps_ops import velocity

STATISTICS = ("mean", "median")
IDW_POWER = 2.0
IDW_FLOOR_SHARE = 0.1
# (candidate x segment) pairs per vectorised batch: a few tens of MB of float64 temporaries.
PAIR_BATCH = 2_000_000
# Points come to within this relative margin of the radius from the tree; the exact test decides.
_TREE_MARGIN = 1e-9


@dataclass
class BufferSampling:
    """The result of :func:`sample_buffers` (f features, n dates, M memberships).

    Attributes:
        feature_ids: (f,) the feature ids, as strings.
        dates: (n,) ``datetime64[D]``.
        value_mm: (f, n) the chosen statistic (mean or median; weighted with IDW).
        mean_mm, median_mm, std_mm: (f, n) each statistic (NaN where no member has a value;
            ``std_mm`` NaN with fewer than two values).
        count: (f, n) members with a value at each date.
        ps_count: (f,) members per feature.
        mean_velocity_mm_per_year: (f,) least-squares velocity of ``mean_mm`` (IDW-weighted with IDW).
        member_feature, member_ps: (M,) feature index and PS index of each membership.
        member_distance_m: (M,) distance of the member to its feature (0 inside a polygon).
        statistic, radius_m, idw: the settings used.
        notes: log lines (features without members, ...).
    """

    feature_ids: np.ndarray
    dates: np.ndarray
    value_mm: np.ndarray
    mean_mm: np.ndarray
    median_mm: np.ndarray
    std_mm: np.ndarray
    count: np.ndarray
    ps_count: np.ndarray
    mean_velocity_mm_per_year: np.ndarray
    member_feature: np.ndarray
    member_ps: np.ndarray
    member_distance_m: np.ndarray
    statistic: str = "mean"
    radius_m: float = 300.0
    idw: bool = False
    notes: List[str] = field(default_factory=list)


def check_feature_ids(feature_ids) -> np.ndarray:
    """The ids as strings; ``ValueError`` naming every duplicate or empty id."""
    ids = np.array([("" if v is None else str(v)).strip() for v in feature_ids], dtype=object)
    empty = int(sum(1 for v in ids if v == ""))
    if empty:
        raise ValueError(f"feature id: {empty} feature(s) without an id (NULL or empty)")
    unique, counts = np.unique(ids.astype(str), return_counts=True)
    duplicated = unique[counts > 1]
    if duplicated.size:
        shown = ", ".join(repr(v) for v in duplicated[:20].tolist())
        more = f" and {duplicated.size - 20} more" if duplicated.size > 20 else ""
        raise ValueError(f"feature id: duplicate ids {shown}{more}; each feature needs its own id")
    return ids.astype(str)


def point_segment_distance(px, py, segments) -> np.ndarray:
    """Distance from points (px, py) to segments ``x0, y0, x1, y1`` (row-wise pairs, same length)."""
    x0, y0, x1, y1 = segments[:, 0], segments[:, 1], segments[:, 2], segments[:, 3]
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    safe = np.where(length2 > 0, length2, 1.0)
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / safe, 0.0, 1.0)
    t = np.where(length2 > 0, t, 0.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def inside_polygon(px, py, segments) -> np.ndarray:
    """Even-odd rule for points against all ring edges (holes and parts included)."""
    inside = np.zeros(px.shape[0], dtype=bool)
    if px.size == 0 or segments.shape[0] == 0:
        return inside
    step = max(1, PAIR_BATCH // segments.shape[0])
    x0, y0, x1, y1 = (segments[:, k][None, :] for k in range(4))
    for start in range(0, px.size, step):
        bx = px[start : start + step, None]
        by = py[start : start + step, None]
        straddle = (y0 > by) != (y1 > by)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x0 + (by - y0) * (x1 - x0) / (y1 - y0)
        crossings = (straddle & (bx < x_cross)).sum(axis=1)
        inside[start : start + step] = crossings % 2 == 1
    return inside


def _candidates_near_segments(tree, segments, radius_m) -> tuple:
    """(segment index, PS index) pairs whose PS may lie within ``radius_m`` of that segment."""
    x0, y0, x1, y1 = segments.T
    length = np.hypot(x1 - x0, y1 - y0)
    pieces = np.maximum(1, np.ceil(length / max(radius_m, 1e-9))).astype(np.int64)
    seg_of_piece = np.repeat(np.arange(segments.shape[0]), pieces)
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = np.arange(seg_of_piece.size) - first
    frac = (k + 0.5) / pieces[seg_of_piece]
    cx = x0[seg_of_piece] + frac * (x1 - x0)[seg_of_piece]
    cy = y0[seg_of_piece] + frac * (y1 - y0)[seg_of_piece]
    reach = 0.5 * length[seg_of_piece] / pieces[seg_of_piece] + radius_m * (1 + _TREE_MARGIN) + 1e-6
    found = tree.query_ball_point(np.column_stack([cx, cy]), reach)
    sizes = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    if sizes.sum() == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ps_index = np.concatenate([np.asarray(f, dtype=np.int64) for f in found if f])
    seg_index = np.repeat(seg_of_piece, sizes)
    n_seg = segments.shape[0]
    pairs = np.unique(ps_index * n_seg + seg_index)  # sorted by PS, then segment
    return pairs % n_seg, pairs // n_seg


def members_of(tree, x, y, geometry: FeatureGeometry, radius_m: float):
    """``(ps indices, distances)`` of the PS within ``radius_m`` of ``geometry`` (sorted by index)."""
    if geometry.kind == "point":
        reach = radius_m * (1 + _TREE_MARGIN) + 1e-6
        found = tree.query_ball_point(geometry.points, reach)
        index = np.unique(
            np.concatenate([np.asarray(f, dtype=np.int64) for f in found] + [np.empty(0, np.int64)])
        )
        dist = np.full(index.size, np.inf)
        for vx, vy in geometry.points:
            dist = np.minimum(dist, np.hypot(x[index] - vx, y[index] - vy))
    else:
        seg_index, ps_index = _candidates_near_segments(tree, geometry.segments, radius_m)
        pair_dist = np.empty(ps_index.size)
        for start in range(0, ps_index.size, PAIR_BATCH):
            sl = slice(start, start + PAIR_BATCH)
            pair_dist[sl] = point_segment_distance(
                x[ps_index[sl]], y[ps_index[sl]], geometry.segments[seg_index[sl]]
            )
        # Pairs come sorted by PS: the nearest segment of each PS is a reduceat over its run.
        starts = np.flatnonzero(np.r_[True, ps_index[1:] != ps_index[:-1]]) if ps_index.size else ps_index
        index = ps_index[starts]
        dist = np.minimum.reduceat(pair_dist, starts) if ps_index.size else np.empty(0)
        if geometry.kind == "polygon":
            index, dist = _with_interior(tree, x, y, geometry, index, dist)
    keep = dist <= radius_m
    return index[keep], dist[keep]


def _with_interior(tree, x, y, geometry, index, dist):
    """Add the PS inside a polygon (distance 0) to the boundary candidates ``index``/``dist``."""
    xmin, ymin, xmax, ymax = geometry.bounds()
    centre = ((xmin + xmax) / 2, (ymin + ymax) / 2)
    box = np.asarray(tree.query_ball_point(centre, 0.5 * np.hypot(xmax - xmin, ymax - ymin) + 1e-6), np.int64)
    box = box[(x[box] >= xmin) & (x[box] <= xmax) & (y[box] >= ymin) & (y[box] <= ymax)]
    everything = np.union1d(index, box)
    out = np.full(everything.size, np.inf)
    out[np.searchsorted(everything, index)] = dist
    in_box = np.searchsorted(everything, box)
    out[in_box[inside_polygon(x[box], y[box], geometry.segments)]] = 0.0
    return everything, out


def idw_weights(distance_m, radius_m) -> np.ndarray:
    """Inverse-distance weights ``1 / max(d, radius_m / 10)^2`` (module doc)."""
    floor = IDW_FLOOR_SHARE * radius_m
    return 1.0 / np.maximum(np.asarray(distance_m, dtype=np.float64), floor) ** IDW_POWER


def weighted_median(values, weights) -> np.ndarray:
    """Per column of ``values`` (k, n): the weighted median over its non-NaN rows (NaN if none).

    The lower weighted median: the smallest value whose cumulative weight reaches half the total.
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, axis=0)  # NaN sort last
    sorted_values = np.take_along_axis(values, order, axis=0)
    w = np.where(np.isnan(sorted_values), 0.0, np.asarray(weights, dtype=np.float64)[order])
    cumulative = np.cumsum(w, axis=0)
    total = cumulative[-1] if values.shape[0] else np.zeros(values.shape[1])
    pick = np.argmax(cumulative >= 0.5 * total[None, :] - 1e-12 * total[None, :], axis=0)
    out = (
        sorted_values[pick, np.arange(values.shape[1])]
        if values.shape[0]
        else np.full(values.shape[1], np.nan)
    )
    return np.where(total > 0, out, np.nan)


def _feature_statistics(series, weights, weighted):
    """mean, median, std, count over the rows of ``series`` (k, n), NaN-aware, weighted."""
    block = np.ascontiguousarray(np.asarray(series, dtype=np.float64).T)  # (n, k): contiguous reductions
    valid = ~np.isnan(block)
    count = valid.sum(axis=1)
    filled = np.where(valid, block, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if weighted:
            total = valid @ weights
            mean = (filled @ weights) / total
            dev = np.where(valid, block - mean[:, None], 0.0)
            spread = (dev * dev) @ weights
            # The reliability-weights form; it is n - 1 for equal weights.
            denominator = total - (valid @ (weights * weights)) / total
            median = weighted_median(series, weights)
        else:
            mean = filled.sum(axis=1) / count
            dev = np.where(valid, block - mean[:, None], 0.0)
            spread = np.einsum("ij,ij->i", dev, dev)
            denominator = count - 1.0
            median = _median_rows(np.where(valid, block, np.inf), count)
        std = np.where((count >= 2) & (denominator > 0), np.sqrt(spread / denominator), np.nan)
    return np.where(count > 0, mean, np.nan), median, std, count


def nan_median(series, count) -> np.ndarray:
    """Column medians of ``series`` (k, n) over non-NaN rows; ``count`` (n,) of them per column.

    The same numbers as ``np.nanmedian(series, axis=0)`` (middle pair's mean for an even count,
    NaN for none), which takes milliseconds per small block through masked arrays.
    """
    block = np.ascontiguousarray(np.asarray(series, dtype=np.float64).T)
    return _median_rows(np.where(np.isnan(block), np.inf, block), np.asarray(count))


def _median_rows(block, count) -> np.ndarray:
    """Row medians of ``block`` (n, k) whose missing values are +inf (so they rank last)."""
    n, k = block.shape
    if k == 0:
        return np.full(n, np.nan)
    low = np.clip((count - 1) // 2, 0, k - 1)
    high = np.clip(count // 2, 0, k - 1)
    first, last = int(low.min()), int(high.max())
    # Two selections bracket every rank needed; only the few values between them are sorted.
    ordered = np.partition(block, sorted({first, last}), axis=1)
    window = np.sort(ordered[:, first : last + 1], axis=1)
    rows = np.arange(n)
    median = 0.5 * (window[rows, low - first] + window[rows, high - first])
    return np.where(count > 0, median, np.nan)


def sample_buffers(
    x,
    y,
    displacement_mm,
    dates,
    geometries: Sequence[FeatureGeometry],
    feature_ids,
    radius_m: float = 300.0,
    statistic: str = "mean",
    idw: bool = False,
    progress=None,
) -> BufferSampling:
    """Sample the PS around each feature (METHODS.md section 4; module doc for the rules).

    Args:
        x, y: (m,) PS coordinates in the same metric CRS as ``geometries``.
        displacement_mm: (m, n) cumulative series (raw, vertical or corrected), NaN gaps.
        dates: (n,) dates of the columns.
        geometries: one :class:`FeatureGeometry` per feature.
        feature_ids: one id per feature (unique; compared as text).
        radius_m: buffer radius (Cao et al.: 300 m around wells; Chen et al. 2023: 1.5 km
            around subway lines).
        statistic: ``"mean"`` or ``"median"``: which one is ``value_mm``.
        idw: weight members by inverse distance (module doc).
        progress: optional ``cb(fraction, message=None)``.

    Raises:
        ValueError: bad radius or statistic, duplicate feature ids, shapes that do not match.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic: expected one of {', '.join(STATISTICS)}, got {statistic!r}")
    radius_m = float(radius_m)
    if not np.isfinite(radius_m) or radius_m <= 0:
        raise ValueError(f"radius_m: must be a positive number of metres, got {radius_m}")
    ids = check_feature_ids(feature_ids)
    if len(geometries) != ids.size:
        raise ValueError(f"geometries: {len(geometries)} geometries for {ids.size} feature ids")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = np.asarray(displacement_mm, dtype=np.float64)
    dates = np.asarray(dates, dtype="datetime64[D]")
    if d.ndim != 2 or d.shape != (x.size, dates.size) or y.shape != x.shape:
        raise ValueError(
            f"displacement_mm: shape {d.shape} does not match {x.size} points x {dates.size} dates"
        )
    from scipy.spatial import cKDTree

    finite = np.isfinite(x) & np.isfinite(y)
    # An unbalanced, non-compact tree builds several times faster and queries as fast here.
    tree = cKDTree(
        np.column_stack([np.where(finite, x, 1e300), np.where(finite, y, 1e300)]),
        balanced_tree=False,
        compact_nodes=False,
    )
    f, n = ids.size, dates.size
    member_feature: List[np.ndarray] = []
    member_ps: List[np.ndarray] = []
    member_distance: List[np.ndarray] = []
    for i, geometry in enumerate(geometries):
        index, dist = (
            (np.empty(0, np.int64), np.empty(0))
            if geometry.is_empty
            else members_of(tree, x, y, geometry, radius_m)
        )
        member_feature.append(np.full(index.size, i, dtype=np.int64))
        member_ps.append(index)
        member_distance.append(dist)
        if progress is not None and i % 50 == 0:
            progress(0.5 * i / max(f, 1), None)
    m_feature = np.concatenate(member_feature + [np.empty(0, np.int64)])
    m_ps = np.concatenate(member_ps + [np.empty(0, np.int64)])
    m_dist = np.concatenate(member_distance + [np.empty(0)])
    stats = {name: np.full((f, n), np.nan) for name in ("mean", "median", "std")}
    count = np.zeros((f, n), dtype=np.int64)
    ps_count = np.bincount(m_feature, minlength=f)
    bounds = np.concatenate([[0], np.cumsum(ps_count)])
    for i in range(f):
        rows = slice(bounds[i], bounds[i + 1])
        if ps_count[i] == 0:
            continue
        weights = idw_weights(m_dist[rows], radius_m) if idw else np.ones(ps_count[i])
        stats["mean"][i], stats["median"][i], stats["std"][i], count[i] = _feature_statistics(
            d[m_ps[rows]], weights, idw
        )
        if progress is not None and i % 50 == 0:
            progress(0.5 + 0.5 * i / max(f, 1), None)
    # The slope is linear in the series: the velocity of the mean series is the members' mean
    # velocity when no value is missing (and it costs f rows, not every member's).
    mean_velocity = velocity(stats["mean"], dates)[0] if f else np.empty(0)
    notes = _notes(ids, ps_count, radius_m, geometries)
    return BufferSampling(
        feature_ids=ids,
        dates=dates,
        value_mm=stats[statistic].copy(),
        mean_mm=stats["mean"],
        median_mm=stats["median"],
        std_mm=stats["std"],
        count=count,
        ps_count=ps_count,
        mean_velocity_mm_per_year=mean_velocity,
        member_feature=m_feature,
        member_ps=m_ps,
        member_distance_m=m_dist,
        statistic=statistic,
        radius_m=radius_m,
        idw=bool(idw),
        notes=notes,
    )


def _notes(ids, ps_count, radius_m, geometries) -> List[str]:
    notes = []
    empty_geometry = [ids[i] for i, g in enumerate(geometries) if g.is_empty]
    if empty_geometry:
        notes.append(
            f"{len(empty_geometry)} feature(s) without geometry, count 0: {', '.join(empty_geometry[:20])}"
        )
    none = [ids[i] for i in np.flatnonzero(ps_count == 0) if not geometries[i].is_empty]
    if none:
        shown = ", ".join(none[:20]) + (f" and {len(none) - 20} more" if len(none) > 20 else "")
        notes.append(f"{len(none)} feature(s) with no PS point within {radius_m:g} m (count 0): {shown}")
    return notes
