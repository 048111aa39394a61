"""Finding the PS point under a click among millions, Qt-free.

A click must answer at once on a 1-2 M point layer (1.9 M-point exports are common), so the
positions are read once per layer -- geometry only, through OGR's Arrow batches when the layer
is a plain file -- and kept in a k-d tree (``scipy.spatial.cKDTree``, built in ~1 s for 1 M
points); each click is then one tree query (tens of microseconds). Only the clicked feature's
attributes are fetched afterwards, by its feature id.
"""

from typing import Optional

import numpy as np


class PointIndex:
    """Nearest-point lookup over fixed positions.

    Args:
        x, y: (m,) coordinates in the layer's CRS; NaN rows (empty geometries) are never found.
        fids: (m,) feature ids the rows stand for (default 0..m-1).
    """

    def __init__(self, x, y, fids=None):
        from scipy.spatial import cKDTree

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"x, y: shapes {x.shape} and {y.shape} differ or are not 1-D")
        fids = np.arange(x.size, dtype=np.int64) if fids is None else np.asarray(fids, dtype=np.int64)
        if fids.shape != x.shape:
            raise ValueError(f"fids: {fids.size} ids for {x.size} points")
        ok = np.isfinite(x) & np.isfinite(y)
        self.fids = fids[ok]
        self.xy = np.column_stack([x[ok], y[ok]])
        self._tree = cKDTree(self.xy, balanced_tree=False, compact_nodes=False) if ok.any() else None

    def __len__(self):
        return int(self.fids.size)

    def nearest(self, x: float, y: float, radius: float) -> Optional[int]:
        """The feature id of the point nearest to (x, y) within ``radius`` (same units), or None."""
        if self._tree is None or not np.isfinite(radius) or radius < 0:
            return None
        distance, row = self._tree.query((float(x), float(y)), k=1, distance_upper_bound=float(radius))
        if not np.isfinite(distance):
            return None
        return int(self.fids[row])

    def within(self, x: float, y: float, radius: float) -> np.ndarray:
        """Feature ids of every point within ``radius`` of (x, y)."""
        if self._tree is None:
            return np.empty(0, dtype=np.int64)
        rows = self._tree.query_ball_point((float(x), float(y)), float(radius))
        return self.fids[np.asarray(rows, dtype=np.int64)]


def read_point_xy(path: str, layer_name: Optional[str] = None):
    """``(fids, x, y)`` of every feature of an OGR point layer, geometry only.

    All attribute fields are ignored, so a 1 M-point GeoPackage with 300 date fields reads in
    well under a second. Raises ValueError when the layer has no geometry (e.g. a CSV table
    read without X/Y options): the caller then falls back to its own feature iterator.
    """
    from .ps_io import _layer_of, _open_ogr, points_from_wkb

    dataset = _open_ogr(path)
    layer = _layer_of(dataset, path, layer_name)
    if layer.GetGeomType() == 0 and not layer.GetGeometryColumn():
        raise ValueError(f"{path}: layer has no geometry column")
    definition = layer.GetLayerDefn()
    layer.SetIgnoredFields([definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())])
    geometry_name = layer.GetGeometryColumn() or "wkb_geometry"
    fids, xs, ys = [], [], []
    for batch in layer.GetArrowStreamAsNumPy(["INCLUDE_FID=YES", "MAX_FEATURES_IN_BATCH=262144"]):
        geometry = batch.get(geometry_name)
        if geometry is None:  # the stream names the geometry column by the driver's default
            geometry = next(v for k, v in batch.items() if k != "OGC_FID" and v.dtype.kind in "OV")
        x, y = points_from_wkb(geometry)
        fid = batch.get("OGC_FID")
        if fid is None:
            fid = next(iter(batch.values()))
        fids.append(np.asarray(fid, dtype=np.int64))
        xs.append(x)
        ys.append(y)
    del layer, dataset
    if not fids:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    return np.concatenate(fids), np.concatenate(xs), np.concatenate(ys)
