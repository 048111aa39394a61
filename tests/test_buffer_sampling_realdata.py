"""Buffer sampling on the real StaMPS SBAS export against OGR's own buffers (issue 10, acceptance 4).

The StaMPS-Visualizer CSV is read as the rest of the plugin reads it (``core.ps_io.read_ps_file``,
WGS84 lon/lat); the author's event points and lines (CRS84 GeoJSON) are the features. The check
is written here with OGR only: every PS point and feature is transformed with OSR to the same
UTM zone, each feature is buffered with ``Geometry.Buffer`` and the PS points are counted with
``Intersects``. OGR's buffer is a polygon with 4 x 64 segments per circle, inside the true
circle by at most r (1 - cos(pi / 256)) (< 0.01 % of r): points that close to the edge, if any,
are compared with OGR's exact ``Distance`` instead.
"""

import pytest
from osgeo import ogr, osr

from subsidence_lab.core.buffer_sampling import sample_buffers
from subsidence_lab.core.feature_geometry import from_ogr, in_metres
from subsidence_lab.core.ps_io import read_ps_file

QUAD_SEGMENTS = 64


def _features(path):
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    ids, wkbs = [], []
    for feature in layer:
        ids.append(str(feature.GetField("id")))
        wkbs.append(bytes(feature.GetGeometryRef().ExportToWkb()))
    return ids, wkbs


def _ogr_counts(ps, wkbs, target, radius):
    src = osr.SpatialReference()
    src.ImportFromEPSG(4326)
    dst = osr.SpatialReference()
    dst.SetFromUserInput(target)
    for srs in (src, dst):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(src, dst)
    points = []
    for lon, lat in zip(ps.x, ps.y):
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(float(lon), float(lat))
        point.Transform(transform)
        points.append(point)
    counts, borderline = [], 0
    for wkb in wkbs:
        geometry = ogr.CreateGeometryFromWkb(wkb)
        geometry.Transform(transform)
        buffer = geometry.Buffer(radius, QUAD_SEGMENTS)
        count = 0
        for point in points:
            distance = geometry.Distance(point)
            if abs(distance - radius) < 1e-4 * radius:
                borderline += 1
                count += distance <= radius
            else:
                count += buffer.Intersects(point)
        counts.append(count)
    return counts, borderline


@pytest.mark.parametrize("name", ["Maoxian_points", "Maoxian_lines", "Maoxian_polygon"])
@pytest.mark.parametrize("radius", [50.0, 150.0, 300.0])
def test_stamps_counts_match_ogr_buffers(realdata_dir, name, radius):
    folder = realdata_dir / "stamps-maoxian"
    ps = read_ps_file(str(folder / "Maoxian_SBAS.csv"))
    assert ps.crs == "EPSG:4326" and ps.n_points == 608
    ids, wkbs = _features(folder / "geometries" / f"{name}.geojson")
    geometries = [from_ogr(wkb) for wkb in wkbs]
    x, y, metric, target, note = in_metres(ps.x, ps.y, ps.crs, geometries, "EPSG:4326")
    assert target == "EPSG:32648"  # 103.65 E: UTM zone 48 N
    assert "reprojected PS points from EPSG:4326 and features from EPSG:4326" in note
    result = sample_buffers(x, y, ps.displacement_mm, ps.dates, metric, ids, radius)
    expected, borderline = _ogr_counts(ps, wkbs, target, radius)
    assert result.ps_count.tolist() == expected
    assert borderline <= 2
    assert sum(expected) > 0  # the features do reach the PS
