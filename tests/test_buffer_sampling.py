"""Buffer sampling with hand-placed points (issue 10, acceptance 1; METHODS.md section 4).

Expected members and distances are worked out by hand in each test (Pythagorean triples, axis
offsets), never by the code under test.
"""

import numpy as np
import pytest
from osgeo import ogr

from subsidence_lab.core.buffer_sampling import nan_median, sample_buffers, weighted_median
from subsidence_lab.core.feature_geometry import (
    FeatureGeometry,
    from_ogr,
    metric_crs,
    reproject_points,
    transform_geometries,
)

DATES = np.array(["2020-01-05", "2020-02-10", "2020-03-01"], dtype="datetime64[D]")


def _series(values_per_point):
    """Three-date series: point k gets ``v * [0, 1, 2]`` so mean/median are known by hand."""
    v = np.asarray(values_per_point, dtype=float)
    return v[:, None] * np.array([0.0, 1.0, 2.0])[None, :]


def _run(x, y, geometries, ids=None, radius=300.0, **kwargs):
    d = _series(np.arange(1, len(x) + 1))
    ids = ids if ids is not None else [f"F{i}" for i in range(len(geometries))]
    return sample_buffers(np.array(x, float), np.array(y, float), d, DATES, geometries, ids, radius, **kwargs)


def _members(result, feature):
    rows = result.member_feature == feature
    return dict(zip(result.member_ps[rows].tolist(), result.member_distance_m[rows].tolist()))


def test_point_radius_boundary_is_inclusive():
    # Well at (1000, 2000). 300 m exactly: (300, 0), (180, 240) [3-4-5], (0, -300). Just out:
    # 300.001 m. Inside: (10, 0). Far: (0, 900).
    wx, wy = 1000.0, 2000.0
    offsets = [(300, 0), (180, 240), (0, -300), (300.001, 0), (10, 0), (0, 900), (-212.1, 212.1)]
    x = [wx + dx for dx, _ in offsets]
    y = [wy + dy for _, dy in offsets]
    result = _run(x, y, [FeatureGeometry.point(wx, wy)])
    members = _members(result, 0)
    assert sorted(members) == [0, 1, 2, 4, 6]  # hypot(212.1, 212.1) = 299.96 m
    assert members[0] == 300.0 and members[1] == 300.0 and members[2] == 300.0
    assert members[4] == pytest.approx(10.0)
    assert result.ps_count.tolist() == [5]
    # Members carry values 1, 2, 3, 5, 7 (point k: k + 1): mean 3.6, median 3 at the 2nd date.
    assert result.mean_mm[0].tolist() == pytest.approx([0.0, 3.6, 7.2])
    assert result.median_mm[0].tolist() == pytest.approx([0.0, 3.0, 6.0])
    assert result.std_mm[0, 1] == pytest.approx(np.std([1, 2, 3, 5, 7], ddof=1))
    assert result.count[0].tolist() == [5, 5, 5]


def test_line_members_by_exact_distance():
    # Line (0,0)-(1000,0)-(1000,1000). Points: above the middle of the first leg at 300 (in)
    # and 300.5 (out); beyond the first end at (-180, -240) -> 300 (in, to the end vertex);
    # (-250, -200) -> 320.2 (out); right of the second leg at (1300, 500) (in); near the
    # corner outside (1220, -220) -> 311.1 (out) although its bounding box overlaps.
    x = [500, 500, -180, -250, 1300, 1220, 700]
    y = [300, 300.5, -240, -200, 500, -220, 900]
    line = FeatureGeometry.line([(0, 0), (1000, 0), (1000, 1000)])
    members = _members(_run(x, y, [line]), 0)
    assert sorted(members) == [0, 2, 4, 6]
    assert members[0] == pytest.approx(300.0) and members[2] == pytest.approx(300.0)
    assert members[4] == pytest.approx(300.0) and members[6] == pytest.approx(300.0)


def test_long_segment_is_searched_along_its_whole_length():
    # One 20 km segment, 1.5 km buffer (Chen et al. 2023): points near the far end are found.
    line = FeatureGeometry.line([(0, 0), (20000, 0)])
    x = [19900, 10000, 21499, 21501, 5000]
    y = [1500, -1499, 0, 0, 1500.2]
    members = _members(_run(x, y, [line], radius=1500.0), 0)
    assert sorted(members) == [0, 1, 2]


def test_polygon_inside_is_distance_zero_and_holes_are_outside():
    # 2 km square with a 1 km square hole in the middle; radius 100 m.
    outer = [(0, 0), (2000, 0), (2000, 2000), (0, 2000)]
    hole = [(500, 500), (1500, 500), (1500, 1500), (500, 1500)]
    polygon = FeatureGeometry.polygon(outer, hole)
    x = [100, 1000, 600, 1000, 2100, 2100.5, -60, 1000]
    y = [100, 1000, 1000, 400, 1000, 1000, -80, 2050]
    members = _members(_run(x, y, [polygon], radius=100.0), 0)
    # 0 inside (0 m); 1 centre of the hole (500 m from its edge: out); 2 in the hole 100 m from
    # its edge (in); 3 in the ring (0 m); 4 100 m outside (in); 5 out; 6 100 m from the corner
    # (60-80-100); 7 50 m above the top edge.
    assert sorted(members) == [0, 2, 3, 4, 6, 7]
    assert members[0] == 0.0 and members[3] == 0.0
    assert members[2] == pytest.approx(100.0) and members[6] == pytest.approx(100.0)
    assert members[7] == pytest.approx(50.0)


def test_multipolygon_from_ogr_and_multipoint():
    geometry = from_ogr(
        ogr.CreateGeometryFromWkt(
            "MULTIPOLYGON (((0 0, 10 0, 10 10, 0 10, 0 0)), ((100 0, 110 0, 110 10, 100 10, 100 0)))"
        )
    )
    wells = from_ogr(ogr.CreateGeometryFromWkt("MULTIPOINT ((0 0), (1000 0))").ExportToWkb())
    assert geometry.kind == "polygon" and wells.kind == "point"
    x = [5, 105, 55, 1000, 1003, 500]
    y = [5, 5, 5, 4, 0, 0]
    result = _run(x, y, [geometry, wells], radius=4.0)
    assert sorted(_members(result, 0)) == [0, 1]
    assert _members(result, 1) == {3: 4.0, 4: 3.0}


def test_different_crs_give_the_same_members():
    # PS in UTM 50N, wells and a line given in WGS84 lon/lat (geographic): transformed to the
    # PS CRS, they must select the members selected when everything is in UTM.
    rng = np.random.default_rng(7)
    x = 440000 + rng.uniform(0, 3000, 2000)
    y = 4410000 + rng.uniform(0, 3000, 2000)
    utm = [
        FeatureGeometry.point(441000.0, 4411000.0),
        FeatureGeometry.line([(440200, 4410500), (442800, 4412600)]),
    ]
    reference = _run(x, y, utm, radius=250.0)
    lonlat = transform_geometries(utm, "EPSG:32650", "EPSG:4326")
    target, note = metric_crs("EPSG:32650", "EPSG:4326", x, y)
    assert target == "EPSG:32650" and "EPSG:4326" in note
    back = transform_geometries(lonlat, "EPSG:4326", target)
    moved = _run(x, y, back, radius=250.0)
    assert moved.member_ps.tolist() == reference.member_ps.tolist()
    np.testing.assert_allclose(moved.member_distance_m, reference.member_distance_m, atol=1e-4)
    # Both geographic: the UTM zone of the PS is chosen, and the same members come out.
    lon, lat = reproject_points(x, y, "EPSG:32650", "EPSG:4326")
    target, note = metric_crs("EPSG:4326", "EPSG:4326", lon, lat)
    assert target == "EPSG:32650" and "PS points from EPSG:4326" in note
    px, py = reproject_points(lon, lat, "EPSG:4326", target)
    both = _run(px, py, transform_geometries(lonlat, "EPSG:4326", target), radius=250.0)
    assert both.member_ps.tolist() == reference.member_ps.tolist()
    assert reference.ps_count.min() > 20  # the comparison is not vacuous


def test_feature_without_members_is_count_zero():
    result = _run(
        [0, 10], [0, 0], [FeatureGeometry.point(0, 0), FeatureGeometry.point(5000, 5000)], ids=["W1", "W2"]
    )
    assert result.ps_count.tolist() == [2, 0]
    assert np.all(np.isnan(result.value_mm[1])) and result.count[1].tolist() == [0, 0, 0]
    assert np.isnan(result.mean_velocity_mm_per_year[1])
    assert any("W2" in note and "no PS point within 300 m" in note for note in result.notes)


def test_duplicate_feature_ids_are_named():
    wells = [FeatureGeometry.point(0, 0), FeatureGeometry.point(10, 0), FeatureGeometry.point(20, 0)]
    with pytest.raises(ValueError, match=r"duplicate ids 'A'"):
        _run([0], [0], wells, ids=["A", "B", "A"])
    with pytest.raises(ValueError, match="radius_m"):
        _run([0], [0], wells[:1], radius=-5)
    with pytest.raises(ValueError, match="statistic"):
        _run([0], [0], wells[:1], statistic="mode")


def test_idw_and_gaps():
    # Members at 30 m (value 1) and 300 m (value 2): weights 1/30^2 and 1/300^2 (floor 30 m).
    x = [30.0, 300.0]
    d = np.array([[0.0, 1.0, np.nan], [0.0, 2.0, 4.0]])
    result = sample_buffers(x, [0.0, 0.0], d, DATES, [FeatureGeometry.point(0, 0)], ["W"], 300.0, idw=True)
    w1, w2 = 1 / 30.0**2, 1 / 300.0**2
    assert result.mean_mm[0, 1] == pytest.approx((w1 * 1 + w2 * 2) / (w1 + w2))
    assert result.median_mm[0, 1] == 1.0  # the near member carries > half the weight
    assert result.mean_mm[0, 2] == 4.0 and result.count[0].tolist() == [2, 2, 1]
    assert np.isnan(result.std_mm[0, 2])
    assert weighted_median(np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 1.0, 5.0]))[0] == 3.0


def test_mean_velocity_of_members():
    # Member k rises at k mm per 365.25 days: velocities 1 and 3 mm/yr, mean 2.
    dates = np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]")
    span = (dates[1] - dates[0]).astype(int) / 365.25
    d = np.array([[0.0, 1.0 * span], [0.0, 3.0 * span], [0.0, 50.0]])
    result = sample_buffers([0, 100, 900], [0, 0, 0], d, dates, [FeatureGeometry.point(0, 0)], ["W"], 300.0)
    assert result.mean_velocity_mm_per_year[0] == pytest.approx(2.0)


def test_web_mercator_is_not_taken_for_metres():
    # At 40 N, 1 m of Web Mercator is 0.77 m of ground: the UTM zone is used instead.
    lon = np.array([117.0, 117.02])
    lat = np.array([40.0, 40.01])
    x, y = reproject_points(lon, lat, "EPSG:4326", "EPSG:3857")
    target, note = metric_crs("EPSG:3857", "EPSG:4326", x, y)
    assert target == "EPSG:32650"
    assert "EPSG:3857 distorts distances" in note and "PS points from EPSG:3857" in note
    target, note = metric_crs(
        "EPSG:32650", "EPSG:3857", *reproject_points(lon, lat, "EPSG:4326", "EPSG:32650")
    )
    assert target == "EPSG:32650" and "features from EPSG:3857" in note


def test_unweighted_median_of_an_even_count_is_the_middle_pair_mean():
    # Members with values 1, 2, 3, 4 at the second date: median 2.5.
    result = _run([0, 1, 2, 3], [0, 0, 0, 0], [FeatureGeometry.point(0, 0)], radius=10.0)
    assert result.median_mm[0].tolist() == pytest.approx([0.0, 2.5, 5.0])


def test_nan_median_is_numpys():
    rng = np.random.default_rng(3)
    block = rng.normal(size=(9, 40))
    block[rng.random(block.shape) < 0.3] = np.nan
    block[:, 0] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(block, axis=0)
    np.testing.assert_array_equal(nan_median(block, (~np.isnan(block)).sum(axis=0)), expected)
