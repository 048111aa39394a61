"""Feature geometries (wells, lines, polygons) as plain arrays for buffer sampling (METHODS.md 4).

A :class:`FeatureGeometry` is what :mod:`core.buffer_sampling` needs to measure the exact
distance from a PS point to a feature: the vertices of a point feature, or the straight
segments of a line or of a polygon's rings. Polygons use the segments of *all* rings (outer
and holes, every part), so the even-odd rule over them answers "inside" correctly for holes
and multi-part polygons alike. Curved geometries are linearised by OGR first.
"""

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

KINDS = ("point", "line", "polygon")


@dataclass
class FeatureGeometry:
    """One feature: ``kind`` and its coordinates in a metric CRS.

    Attributes:
        kind: ``"point"``, ``"line"`` or ``"polygon"``.
        points: (k, 2) vertices of a (multi)point feature; empty (0, 2) otherwise.
        segments: (s, 4) rows ``x0, y0, x1, y1`` of a line's segments or a polygon's ring
            edges (rings closed); empty (0, 4) for points.
    """

    kind: str
    points: np.ndarray
    segments: np.ndarray

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        self.segments = np.asarray(self.segments, dtype=np.float64).reshape(-1, 4)

    @property
    def is_empty(self) -> bool:
        return self.points.shape[0] == 0 and self.segments.shape[0] == 0

    def bounds(self):
        """``(xmin, ymin, xmax, ymax)`` of the vertices."""
        xy = np.vstack([self.points, self.segments[:, :2], self.segments[:, 2:]])
        return xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()

    @classmethod
    def point(cls, x, y) -> "FeatureGeometry":
        return cls("point", np.column_stack([np.atleast_1d(x), np.atleast_1d(y)]), np.empty((0, 4)))

    @classmethod
    def line(cls, *paths) -> "FeatureGeometry":
        """A (multi)line from vertex sequences ``[(x, y), ...]``."""
        return cls("line", np.empty((0, 2)), _segments_of(paths, close=False))

    @classmethod
    def polygon(cls, *rings) -> "FeatureGeometry":
        """A polygon from rings ``[(x, y), ...]`` (outer ring, then holes; closed if needed)."""
        return cls("polygon", np.empty((0, 2)), _segments_of(rings, close=True))


def _segments_of(paths: Sequence, close: bool) -> np.ndarray:
    pieces = []
    for path in paths:
        xy = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        if close and xy.shape[0] > 1 and not np.array_equal(xy[0], xy[-1]):
            xy = np.vstack([xy, xy[:1]])
        if xy.shape[0] >= 2:
            pieces.append(np.hstack([xy[:-1], xy[1:]]))
        elif xy.shape[0] == 1:  # a degenerate one-vertex path is a zero-length segment
            pieces.append(np.hstack([xy, xy]))
    return np.vstack(pieces) if pieces else np.empty((0, 4))


def _ogr_geometry(wkb_or_geometry):
    from osgeo import ogr

    if isinstance(wkb_or_geometry, (bytes, bytearray, memoryview)):
        geometry = ogr.CreateGeometryFromWkb(bytes(wkb_or_geometry))
        if geometry is None:
            raise ValueError("geometry: not valid WKB")
        return geometry
    return wkb_or_geometry


def _collect(geometry, points: List, lines: List, rings: List) -> None:
    from osgeo import ogr

    if geometry.HasCurveGeometry():
        geometry = geometry.GetLinearGeometry()
    flat = ogr.GT_Flatten(geometry.GetGeometryType())
    if flat == ogr.wkbPoint:
        if not geometry.IsEmpty():
            points.append((geometry.GetX(), geometry.GetY()))
    elif flat == ogr.wkbLineString or flat == ogr.wkbLinearRing:
        lines.append(
            np.asarray(geometry.GetPoints(), dtype=np.float64)[:, :2] if geometry.GetPointCount() else []
        )
    elif flat == ogr.wkbPolygon:
        for i in range(geometry.GetGeometryCount()):
            ring = geometry.GetGeometryRef(i)
            if ring.GetPointCount():
                rings.append(np.asarray(ring.GetPoints(), dtype=np.float64)[:, :2])
    else:  # multi-geometries and collections
        for i in range(geometry.GetGeometryCount()):
            _collect(geometry.GetGeometryRef(i), points, lines, rings)


def from_ogr(wkb_or_geometry) -> FeatureGeometry:
    """A :class:`FeatureGeometry` from WKB bytes or an ``ogr.Geometry`` (any point/line/polygon type).

    A collection mixing dimensions takes its highest dimension (polygon > line > point).

    Raises:
        ValueError: empty or unreadable geometry.
    """
    geometry = _ogr_geometry(wkb_or_geometry)
    points: List = []
    lines: List = []
    rings: List = []
    _collect(geometry, points, lines, rings)
    if rings:
        return FeatureGeometry("polygon", np.empty((0, 2)), _segments_of(rings, close=True))
    lines = [line for line in lines if len(line)]
    if lines:
        return FeatureGeometry("line", np.empty((0, 2)), _segments_of(lines, close=False))
    if points:
        return FeatureGeometry("point", np.array(points), np.empty((0, 4)))
    raise ValueError("geometry: empty geometry")


def transform_geometries(geometries: Sequence[FeatureGeometry], src_crs: str, dst_crs: str):
    """The geometries with every vertex transformed from ``src_crs`` to ``dst_crs`` (new objects).

    Vertices are transformed, edges stay straight in the target CRS: over a buffer radius of a
    few kilometres the curvature of a projected great-circle edge is far below a metre.
    """
    from .ps_io import reproject

    if src_crs == dst_crs or not geometries:
        return list(geometries)
    xy = np.vstack(
        [np.vstack([g.points, g.segments[:, :2], g.segments[:, 2:]]) for g in geometries] + [np.empty((0, 2))]
    )
    tx, ty = reproject(xy[:, 0], xy[:, 1], src_crs, dst_crs)
    out_xy = np.column_stack([tx, ty])
    out, row = [], 0
    for g in geometries:
        k, s = g.points.shape[0], g.segments.shape[0]
        points = out_xy[row : row + k]
        start, end = out_xy[row + k : row + k + s], out_xy[row + k + s : row + k + 2 * s]
        row += k + 2 * s
        out.append(FeatureGeometry(g.kind, points, np.hstack([start, end])))
    return out


# A projected CRS whose scale is off by more than this where the PS are (Web Mercator: 1/cos(lat))
# is not used for metres: the UTM zone is.
MAX_SCALE_ERROR = 0.01
_WGS84_A = 6378137.0
_WGS84_E2 = 0.00669437999014


def scale_error(crs: str, lon: float, lat: float) -> float:
    """Largest relative error of map distances in ``crs`` at (lon, lat), east and north (100 m steps)."""
    from .ps_io import reproject

    x, y = reproject([lon], [lat], "EPSG:4326", crs)
    lons, lats = reproject([x[0] + 100.0, x[0]], [y[0], y[0] + 100.0], crs, "EPSG:4326")
    phi = np.deg2rad(lat)
    w = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    normal = _WGS84_A / np.sqrt(w)
    east = np.hypot(normal * np.cos(phi) * np.deg2rad(lons[0] - lon), meridian * np.deg2rad(lats[0] - lat))
    north = np.hypot(normal * np.cos(phi) * np.deg2rad(lons[1] - lon), meridian * np.deg2rad(lats[1] - lat))
    return float(max(abs(100.0 / east - 1.0), abs(100.0 / north - 1.0)))


def metric_crs(ps_crs: str, feature_crs: str, ps_x, ps_y) -> tuple:
    """``(crs, note)``: the projected CRS to measure in, and a log line when something is reprojected.

    The PS CRS when it is projected; else the features' CRS when projected; else the UTM zone
    of the PS centroid (both geographic). A projected CRS whose scale is off by more than
    1 % at the PS (Web Mercator away from the equator) gives way to the UTM zone too. An
    unknown CRS ("") is taken as already metric.
    """
    from .ps_io import is_geographic, reproject, utm_crs_for

    ok = np.isfinite(ps_x) & np.isfinite(ps_y)
    if not ps_crs or not ok.any():
        return (ps_crs or feature_crs), None
    lon, lat = np.asarray(ps_x)[ok], np.asarray(ps_y)[ok]
    if not is_geographic(ps_crs):
        lon, lat = reproject(lon, lat, ps_crs, "EPSG:4326")
    lon, lat = float(np.mean(lon)), float(np.mean(lat))
    candidates = [c for c in (ps_crs, feature_crs) if c and not is_geographic(c)]
    distorted = [c for c in candidates if scale_error(c, lon, lat) > MAX_SCALE_ERROR]
    usable = [c for c in candidates if c not in distorted]
    target = usable[0] if usable else utm_crs_for(lon, lat)
    moved = [
        f"{what} from {crs}"
        for what, crs in (("PS points", ps_crs), ("features", feature_crs))
        if crs and crs != target
    ]
    notes = [f"{c} distorts distances by more than {MAX_SCALE_ERROR:.0%} here" for c in distorted]
    if moved and target:
        notes.append(f"distances in metres in {target}: reprojected {' and '.join(moved)}")
    return target, ("; ".join(notes) or None)


def reproject_points(x, y, src_crs: str, dst_crs: str):
    """``(x, y)`` in ``dst_crs`` (unchanged when the CRSs are equal or one is unknown)."""
    from .ps_io import reproject

    if not src_crs or not dst_crs or src_crs == dst_crs:
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return reproject(x, y, src_crs, dst_crs)


def in_metres(ps_x, ps_y, ps_crs: str, geometries: Sequence[FeatureGeometry], feature_crs: str):
    """``(x, y, geometries, crs, note)``: PS and features in one projected CRS (:func:`metric_crs`)."""
    target, note = metric_crs(ps_crs, feature_crs, ps_x, ps_y)
    x, y = reproject_points(ps_x, ps_y, ps_crs, target)
    if feature_crs and target and feature_crs != target:
        geometries = transform_geometries(geometries, feature_crs, target)
    return x, y, list(geometries), target, note
