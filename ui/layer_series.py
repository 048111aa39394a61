"""A PS layer as the time-series dock reads it: date fields, a point index built once, one row.

:class:`LayerSeries` detects the date fields by name (``core.dates``: ``D20101122``, EGMS bare
``20101122``, ``D_2010...``), builds a :class:`core.point_index.PointIndex` the first time a
click needs it (geometry only: OGR Arrow batches for a plain file, else the QGIS feature
iterator without attributes), and fetches only the clicked feature's attributes.
"""

from dataclasses import dataclass

import numpy as np
from qgis.core import (
    QgsExpression,
    QgsFeatureRequest,
    QgsProviderRegistry,
)
from qgis.PyQt.QtCore import QDate, QDateTime

from ..compat import REQUEST_NO_GEOMETRY
from ..core.dates import detect_date_fields
from ..core.point_index import PointIndex, read_point_xy
from ..core.ps_io import ID_FIELD_CANDIDATES


def python_value(value):
    """A QGIS attribute as plain Python: None for NULL, ISO text for dates."""
    if value is None:
        return None
    if isinstance(value, (QDate, QDateTime)):
        if value.isNull():
            return None
        return (value.date() if isinstance(value, QDateTime) else value).toString("yyyy-MM-dd")
    if hasattr(value, "isNull") and value.isNull():  # a NULL QVariant (PyQt5)
        return None
    return value


def find_field(names, candidates):
    lowered = {n.lower(): n for n in names}
    return next((lowered[c] for c in candidates if c in lowered), None)


@dataclass
class PointSeries:
    """One PS as shown: its feature id, point id, position (layer CRS) and series in mm."""

    layer_id: str
    fid: int
    point_id: str
    x: float
    y: float
    dates: np.ndarray
    values: np.ndarray


class LayerSeries:
    """Date fields and point index of one vector layer (build once, drop when the layer changes)."""

    def __init__(self, layer, date_spec=""):
        self.layer = layer
        names = layer.fields().names()
        try:
            self.date_names, self.dates = detect_date_fields(names, date_spec)
        except ValueError as exc:
            raise ValueError(f"layer '{layer.name()}': {exc}") from None
        others = [n for n in names if n not in set(self.date_names)]
        self.id_field = find_field(others, ID_FIELD_CANDIDATES)
        self._index = None

    @property
    def index(self) -> PointIndex:
        if self._index is None:
            fids, x, y = self._read_xy()
            self._index = PointIndex(x, y, fids)
        return self._index

    def _read_xy(self):
        layer = self.layer
        result = None
        if layer.providerType() == "ogr" and not layer.subsetString():
            parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
            try:
                result = read_point_xy(parts.get("path"), parts.get("layerName") or None)
            except (ValueError, RuntimeError, StopIteration):
                result = None  # not a plain geometry file: the iterator below reads it
            if result is not None and result[0].size != layer.featureCount():
                result = None
        if result is None:
            request = QgsFeatureRequest().setNoAttributes()
            fids, xs, ys = [], [], []
            for feature in layer.getFeatures(request):
                geometry = feature.geometry()
                if geometry.isNull() or geometry.isEmpty():
                    continue
                point = geometry.asPoint() if not geometry.isMultipart() else geometry.centroid().asPoint()
                fids.append(feature.id())
                xs.append(point.x())
                ys.append(point.y())
            result = (np.asarray(fids, np.int64), np.asarray(xs, float), np.asarray(ys, float))
        return result

    def nearest(self, x, y, radius):
        """Feature id of the PS nearest to (x, y) in the layer's CRS within ``radius``, or None."""
        return self.index.nearest(x, y, radius)

    def fetch(self, fid) -> PointSeries:
        """The series of feature ``fid`` (its attributes only are read)."""
        feature = self.layer.getFeature(int(fid))
        if not feature.isValid():
            raise ValueError(f"layer '{self.layer.name()}': feature {fid} not found")
        values = np.array(
            [_float(feature[name]) for name in self.date_names], dtype=np.float64
        )
        point = feature.geometry().asPoint() if not feature.geometry().isNull() else None
        point_id = python_value(feature[self.id_field]) if self.id_field else None
        return PointSeries(
            layer_id=self.layer.id(),
            fid=int(fid),
            point_id=str(point_id if point_id is not None else fid),
            x=point.x() if point else np.nan,
            y=point.y() if point else np.nan,
            dates=self.dates,
            values=values,
        )

    def attributes(self, fid) -> dict:
        feature = self.layer.getFeature(int(fid))
        return {name: python_value(feature[name]) for name in self.layer.fields().names()}

    def fids_with_value(self, field, value, limit=50):
        """Feature ids whose ``field`` equals ``value`` (an attribute filter, for linked layers)."""
        return [f.id() for f in rows_where(self.layer, field, value, limit=limit, features=True)]


def _float(value):
    value = python_value(value)
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def rows_where(layer, field, value, limit=-1, features=False):
    """Rows of ``layer`` whose ``field`` equals ``value``: plain dicts (or the features)."""
    if layer is None or layer.fields().indexOf(field) < 0:
        return []
    expression = QgsExpression.createFieldEqualityExpression(field, value)
    request = QgsFeatureRequest().setFilterExpression(expression)
    if not features:
        request.setFlags(REQUEST_NO_GEOMETRY)
    if limit > 0:
        request.setLimit(limit)
    names = layer.fields().names()
    found = list(layer.getFeatures(request))
    if not found and isinstance(value, str):  # a text id against a numeric field, or the reverse
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None:
            number = int(number) if number.is_integer() else number
            request.setFilterExpression(QgsExpression.createFieldEqualityExpression(field, number))
            found = list(layer.getFeatures(request))
    if features:
        return found
    return [{n: python_value(f[n]) for n in names} for f in found]
