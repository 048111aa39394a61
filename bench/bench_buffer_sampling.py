"""Benchmark of the buffer sampling (issue 10, acceptance 3; METHODS.md section 4). Not a test.

    /opt/subsidence-lab-venv/bin/python bench/bench_buffer_sampling.py
    (options: --dates 60 --skip-large --brute-large-features 100)

Two cases, on PS spread uniformly over 20 km x 20 km (UTM metres), 60 dates with 2 % gaps,
radius 300 m (Cao et al.):

1. 100k PS x 100 wells: :func:`core.buffer_sampling.sample_buffers` (KD-tree candidates, exact
   distances, mean / median / std per date, member velocities) against a brute-force baseline
   in the same run: the distance from every PS to every feature, then the same statistics
   (target: under 2 s).
2. 1M PS x 1000 features (800 wells, 150 five-vertex lines ~2 km long, 50 polygons ~1 km
   across): target under 20 s. The brute force runs on the first ``--brute-large-features``
   features of each kind in proportion and is scaled up linearly (it is linear in the number
   of features); the members it finds are compared with the sampler's.
"""

import argparse

import numpy as np
from common import mount_package, timed

mount_package()

from subsidence_lab.core.buffer_sampling import (  # noqa: E402
    _feature_statistics,
    inside_polygon,
    point_segment_distance,
    sample_buffers,
)
from subsidence_lab.core.feature_geometry import FeatureGeometry  # noqa: E402
from subsidence_lab.core.ps_ops import velocity  # noqa: E402

EXTENT_M = 20000.0
RADIUS_M = 300.0


def make_ps(n_points, n_dates, rng):
    x = rng.uniform(0, EXTENT_M, n_points)
    y = rng.uniform(0, EXTENT_M, n_points)
    dates = np.datetime64("2015-01-01") + np.arange(n_dates) * 24
    rate = rng.normal(-10, 5, n_points)
    years = np.arange(n_dates) * 24 / 365.25
    d = rate[:, None] * years[None, :] + rng.normal(0, 2, (n_points, n_dates))
    d[rng.random(d.shape) < 0.02] = np.nan
    d[:, 0] = 0.0
    return x, y, dates, d


def make_features(n_wells, n_lines, n_polygons, rng):
    margin = 1500.0
    features = [FeatureGeometry.point(*rng.uniform(margin, EXTENT_M - margin, 2)) for _ in range(n_wells)]
    for _ in range(n_lines):
        start = rng.uniform(margin, EXTENT_M - margin, 2)
        steps = rng.normal(0, 350, (4, 2)) + rng.normal(0, 1, 2) * 200
        features.append(FeatureGeometry.line(np.vstack([start, start + np.cumsum(steps, axis=0)])))
    for _ in range(n_polygons):
        centre = rng.uniform(margin, EXTENT_M - margin, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        radii = rng.uniform(300, 600, 7)
        features.append(
            FeatureGeometry.polygon(
                centre + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
            )
        )
    return features


def brute_force(x, y, d, dates, features):
    """Every PS against every feature, then the same per-feature statistics and mean velocity."""
    out = []
    for geometry in features:
        if geometry.kind == "point":
            dist = np.hypot(x - geometry.points[0, 0], y - geometry.points[0, 1])
        else:
            dist = np.full(x.size, np.inf)
            for segment in geometry.segments:
                dist = np.minimum(dist, point_segment_distance(x, y, np.broadcast_to(segment, (x.size, 4))))
            if geometry.kind == "polygon":
                dist[inside_polygon(x, y, geometry.segments)] = 0.0
        members = np.flatnonzero(dist <= RADIUS_M)
        stats = _feature_statistics(d[members], np.ones(members.size), False)
        out.append((members, stats, velocity(stats[0], dates)[0][0] if members.size else np.nan))
    return out


def compare(result, brute, subset):
    for k, (members, stats, mean_velocity) in zip(subset, brute):
        mine = result.member_ps[result.member_feature == k]
        assert mine.tolist() == members.tolist(), f"feature {k}: members differ"
        np.testing.assert_allclose(result.mean_mm[k], stats[0], equal_nan=True)
        np.testing.assert_allclose(result.mean_velocity_mm_per_year[k], mean_velocity, equal_nan=True)


def run_case(label, n_points, features, n_dates, rng, brute_subset=None):
    x, y, dates, d = make_ps(n_points, n_dates, rng)
    ids = [f"F{i}" for i in range(len(features))]
    import scipy.spatial  # noqa: F401  (imported once per session: not part of the timing)

    result, seconds = timed(sample_buffers, x, y, d, dates, features, ids, RADIUS_M)
    subset = list(range(len(features))) if brute_subset is None else brute_subset
    brute, brute_seconds = timed(brute_force, x, y, d, dates, [features[k] for k in subset])
    compare(result, brute, subset)
    scale = len(features) / len(subset)
    brute_total = brute_seconds * scale
    note = "" if scale == 1 else f" (measured on {len(subset)} features, x{scale:.0f})"
    print(f"== {label}: {n_points:,} PS x {len(features)} features x {n_dates} dates, radius {RADIUS_M:g} m")
    print(f"   members: {result.member_ps.size:,} (median {np.median(result.ps_count):.0f} per feature)")
    print(f"   sample_buffers  {seconds:8.2f} s")
    print(f"   brute force     {brute_total:8.2f} s{note}")
    print(f"   speed-up        {brute_total / seconds:8.1f} x   (same members and means: checked)")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--brute-large-features", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(10)
    print("(timings on a shared 2-core machine: several engineers run tests at the same time)")
    small = run_case("wells", 100_000, make_features(100, 0, 0, rng), args.dates, rng)
    print(f"   target < 2 s: {'yes' if small < 2 else 'NO'}")
    if args.skip_large:
        return
    features = make_features(800, 150, 50, rng)
    share = args.brute_large_features / len(features)
    subset = sorted(
        set(np.linspace(0, 799, max(1, int(800 * share))).astype(int).tolist())
        | set((800 + np.linspace(0, 149, max(1, int(150 * share)))).astype(int).tolist())
        | set((950 + np.linspace(0, 49, max(1, int(50 * share)))).astype(int).tolist())
    )
    large = run_case("wells, lines, polygons", 1_000_000, features, args.dates, rng, subset)
    print(f"   target < 20 s: {'yes' if large < 20 else 'NO'}")


if __name__ == "__main__":
    main()
