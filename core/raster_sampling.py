"""Sample a raster (a DEM) at points, with GDAL only (used for the elevation z of METHODS.md 2/3.4).

The value of the pixel that contains each point (nearest-neighbour, no interpolation: a DEM
pixel is already an area average, and interpolation would smear nodata edges). Points are
transformed from their CRS to the raster's with OSR in the traditional GIS (x = easting /
longitude) axis order. Points outside the raster or on nodata pixels get NaN. Only the window
covering the points is read, so a large DEM costs little for a small area.

GDAL's error mode is process-wide and shared with QGIS and every other plugin: it is switched to
exceptions only inside :func:`gdal_exceptions` and put back as it was, never at import.
"""

from contextlib import contextmanager

import numpy as np
from osgeo import gdal, osr


@contextmanager
def gdal_exceptions():
    """GDAL and OSR raise RuntimeError inside the block; the caller's error mode is restored after."""
    before = gdal.GetUseExceptions(), osr.GetUseExceptions()
    gdal.UseExceptions()
    osr.UseExceptions()
    try:
        yield
    finally:  # GDAL keeps a stack of error handlers: undo in reverse order
        if not before[1]:
            osr.DontUseExceptions()
        if not before[0]:
            gdal.DontUseExceptions()


def _srs(text, what):
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(str(text))
    except RuntimeError as exc:
        raise ValueError(f"{what}: cannot understand the CRS {text!r} ({exc})") from exc
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def sample_raster(path, x, y, crs_wkt_or_authid, band=1) -> np.ndarray:
    """Raster values (float64, shape (m,)) at points (x, y) given in ``crs_wkt_or_authid``.

    ``crs_wkt_or_authid`` may be "" when the points are known to be in the raster's CRS.
    Raises ValueError naming the file, band or CRS at fault.
    """
    with gdal_exceptions():
        return _sample(path, x, y, crs_wkt_or_authid, band)


def _sample(path, x, y, crs_wkt_or_authid, band):
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x, y: expected the same number of values, got {x.shape} and {y.shape}")
    try:
        ds = gdal.Open(str(path), gdal.GA_ReadOnly)
    except RuntimeError as exc:
        raise ValueError(f"raster {path!s}: cannot open it ({exc})") from exc
    if ds is None:
        raise ValueError(f"raster {path!s}: cannot open it")
    if not 1 <= int(band) <= ds.RasterCount:
        raise ValueError(f"band: {band} out of range, raster {path!s} has {ds.RasterCount} band(s)")
    raster_wkt = ds.GetProjection()
    if crs_wkt_or_authid and raster_wkt:
        src = _srs(crs_wkt_or_authid, "points CRS")
        dst = _srs(raster_wkt, f"raster {path!s} CRS")
        if not src.IsSame(dst):
            transform = osr.CoordinateTransformation(src, dst)
            pts = np.asarray(transform.TransformPoints(np.column_stack([x, y])), dtype=np.float64)
            x, y = pts[:, 0], pts[:, 1]
    gt = ds.GetGeoTransform()
    det = gt[1] * gt[5] - gt[2] * gt[4]
    if det == 0:
        raise ValueError(f"raster {path!s}: degenerate geotransform {gt}")
    dx, dy = x - gt[0], y - gt[3]
    col = np.floor((gt[5] * dx - gt[2] * dy) / det)
    row = np.floor((-gt[4] * dx + gt[1] * dy) / det)
    out = np.full(x.shape, np.nan)
    inside = (
        np.isfinite(col) & np.isfinite(row)
        & (col >= 0) & (col < ds.RasterXSize) & (row >= 0) & (row < ds.RasterYSize)
    )
    if not inside.any():
        return out
    col_i = col[inside].astype(np.int64)
    row_i = row[inside].astype(np.int64)
    c0, c1 = int(col_i.min()), int(col_i.max())
    r0, r1 = int(row_i.min()), int(row_i.max())
    rb = ds.GetRasterBand(int(band))
    window = rb.ReadAsArray(c0, r0, c1 - c0 + 1, r1 - r0 + 1).astype(np.float64)
    values = window[row_i - r0, col_i - c0]
    nodata = rb.GetNoDataValue()
    if nodata is not None:
        values[values == nodata] = np.nan
    scale, offset = rb.GetScale(), rb.GetOffset()
    values = values * (1.0 if scale is None else scale) + (0.0 if offset is None else offset)
    out[inside] = values
    return out
