"""Point coordinates from WKB geometries (OGR Arrow/NumPy batches): numpy over one buffer when
every row is a simple point, else OGR per row; a multi-point of more than one part is an error."""

import numpy as np

_WKB_POINT_TYPES = np.array([1, 1001, 2001, 3001, 0x80000001], dtype=np.uint32)


def points_from_wkb(geometries) -> tuple:
    """x, y of point geometries given as WKB (numpy over one buffer when all are simple)."""
    if (
        isinstance(geometries, np.ndarray)
        and not np.ma.isMaskedArray(geometries)
        and geometries.dtype.kind == "V"
        and geometries.dtype.itemsize in (21, 29, 37)
        and geometries.size
    ):
        # Arrow batches of same-size WKB arrive as one fixed-width array: read the
        # coordinates straight from its buffer when every row is a little-endian point.
        buf = np.ascontiguousarray(geometries).view(np.uint8).reshape(geometries.size, -1)
        kinds = buf[:, 1:5].copy().view("<u4")[:, 0]
        if np.all(buf[:, 0] == 1) and np.all(np.isin(kinds, _WKB_POINT_TYPES)):
            coords = buf[:, 5:21].copy().view("<f8")
            return coords[:, 0].copy(), coords[:, 1].copy()
    if np.ma.isMaskedArray(geometries):
        geometries = np.ma.filled(geometries.astype(object), None)
    # OGR's NumPy batches hold each WKB as a numpy.void (len() is 0): take its bytes.
    geoms = [g.tobytes() if isinstance(g, np.void) else (None if g is None else bytes(g)) for g in geometries]
    m = len(geoms)
    x = np.full(m, np.nan)
    y = np.full(m, np.nan)
    if m == 0:
        return x, y
    lengths = np.fromiter((0 if g is None else len(g) for g in geoms), dtype=np.int64, count=m)
    if lengths.min() == lengths.max() and lengths[0] in (21, 29, 37):
        buf = np.frombuffer(b"".join(geoms), dtype=np.uint8).reshape(m, lengths[0])
        if np.all(buf[:, 0] == 1):  # little-endian WKB, the norm
            coords = buf[:, 5:21].copy().view("<f8")
            return coords[:, 0].copy(), coords[:, 1].copy()
    from osgeo import ogr

    for i, wkb in enumerate(geoms):
        if wkb is None or len(wkb) == 0:
            continue
        geometry = ogr.CreateGeometryFromWkb(bytes(wkb))
        if geometry is None or geometry.IsEmpty():
            continue
        point = _single_point(geometry, i)
        x[i], y[i] = point.GetX(), point.GetY()
    return x, y


def _single_point(geometry, row):
    """The point of an OGR point or one-part multi-point geometry; ValueError for anything else."""
    from osgeo import ogr

    kind = ogr.GT_Flatten(geometry.GetGeometryType())
    if kind == ogr.wkbPoint:
        return geometry
    parts = geometry.GetGeometryCount()
    if kind != ogr.wkbMultiPoint or parts != 1:
        raise ValueError(
            f"geometry: row {row + 1} is a {geometry.GetGeometryName()} with {parts} part(s); a PS "
            "is one point: split it (Vector > Geometry Tools > Multipart to Singleparts)"
        )
    return geometry.GetGeometryRef(0)
