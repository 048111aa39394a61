"""CRS helpers for PS coordinates, Qt-free: geographic or not, the UTM zone of the data,
reprojection with OSR, and :func:`ensure_projected` (metres where the methods need them)."""

import numpy as np

from .psdata import PSDataset


def _osr_srs(crs: str):
    from osgeo import osr

    srs = osr.SpatialReference()
    if srs.SetFromUserInput(crs) != 0:
        raise ValueError(f"crs: {crs!r} is not a CRS GDAL understands")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def is_geographic(crs: str) -> bool:
    """True when ``crs`` is a geographic (degrees) CRS; False for projected or unknown."""
    if not crs:
        return False
    return bool(_osr_srs(crs).IsGeographic())


def utm_crs_for(lon, lat) -> str:
    """The WGS84 UTM zone (``EPSG:326zz`` north / ``EPSG:327zz`` south) of a lon/lat centroid."""
    lon = float(np.nanmean(lon))
    lat = float(np.nanmean(lat))
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def reproject(x, y, src_crs: str, dst_crs: str):
    """Coordinates transformed from ``src_crs`` to ``dst_crs`` (x = easting/longitude)."""
    from osgeo import osr

    transform = osr.CoordinateTransformation(_osr_srs(src_crs), _osr_srs(dst_crs))
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    out = np.asarray(transform.TransformPoints(points), dtype=np.float64)
    return out[:, 0], out[:, 1]


def ensure_projected(ps: PSDataset):
    """``(ps, note)``: ``ps`` itself when its CRS is projected, else a copy in metres.

    Geographic coordinates go to the UTM zone of the points' centroid (:func:`utm_crs_for`);
    ``note`` says so (None when nothing changed). Distances and buffers (METHODS.md 4) need
    metres, and a UTM zone keeps scale error below 0.1 % over a study area.
    """
    if not is_geographic(ps.crs):
        return ps, None
    from dataclasses import replace

    target = utm_crs_for(ps.x, ps.y)
    x, y = reproject(ps.x, ps.y, ps.crs, target)
    return replace(ps, x=x, y=y, crs=target), f"geographic CRS {ps.crs} reprojected to {target} (UTM, metres)"
