"""Everything the dock plots for the clicked points, gathered from the PS layer and its linked outputs.

The PS layer gives the observed series; the linked outputs (see ``core/linked_series.py`` for
their fields) give the corrected series (same point, found by position then checked by id),
the AM-LSTM / LSTM / physical / linear predictions (per PS on the members layer, or per well in the
predictions table, cumulated), and the well's groundwater levels and attention weights.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from qgis.core import QgsCoordinateTransform, QgsProject

from ..core import linked_series as ls
from ..core.ps_io import ID_FIELD_CANDIDATES
from ..core.timeseries import fit_trend
from .layer_series import LayerSeries, PointSeries, find_field, rows_where
from .series_plot import Curve, groundwater_colour

WELL_FIELD = "feature_id"


@dataclass
class LinkedOutputs:
    """Layers linked to the PS layer (any may be None)."""

    corrected: object = None
    members: object = None
    predicted_members: object = None
    series_table: object = None
    predictions: object = None
    attention: object = None


@dataclass
class Options:
    trend: bool = True
    annual: bool = False
    start: Optional[np.datetime64] = None  # fit range (inclusive); None = open
    end: Optional[np.datetime64] = None


@dataclass
class ShownPoint:
    """A clicked PS with its corrected series (if any) and the well it belongs to (if any)."""

    series: PointSeries
    corrected: Optional[np.ndarray] = None
    well: Optional[str] = None
    member: Dict[str, object] = field(default_factory=dict)  # its buffer-members row
    predicted: Dict[str, object] = field(default_factory=dict)  # its AM-LSTM members row


class Sources:
    """Looks up linked rows for clicked points; caches one :class:`LayerSeries` per layer."""

    def __init__(self):
        self.linked = LinkedOutputs()
        self._layers: Dict[str, LayerSeries] = {}

    def layer_series(self, layer) -> LayerSeries:
        """The (cached) :class:`LayerSeries` of ``layer``; ValueError if it has no date fields."""
        cached = self._layers.get(layer.id())
        if cached is None or cached.layer is not layer:
            cached = LayerSeries(layer)
            self._layers[layer.id()] = cached
        return cached

    def forget(self, layer_id):
        self._layers.pop(layer_id, None)

    def clear(self):
        self._layers.clear()

    # --- one point ------------------------------------------------------------------------------

    def resolve(self, series: PointSeries, ps_layer) -> ShownPoint:
        shown = ShownPoint(series=series)
        shown.corrected = self._corrected(series, ps_layer)
        rows = _member_rows(self.linked.members, series.point_id)
        if rows:  # a PS in several buffers: its nearest well
            shown.member = min(rows, key=lambda r: float(r.get("distance_m") or 0.0))
        rows = _member_rows(self.linked.predicted_members, series.point_id)
        if shown.member:
            rows = [r for r in rows if r.get(WELL_FIELD) == shown.member.get(WELL_FIELD)]
        if rows:
            shown.predicted = rows[0]
        well = (shown.member or shown.predicted).get(WELL_FIELD)
        shown.well = None if well is None else str(well)
        return shown

    def _corrected(self, series: PointSeries, ps_layer) -> Optional[np.ndarray]:
        layer = self.linked.corrected
        if layer is None or layer is ps_layer:
            return None
        try:
            other = self.layer_series(layer)
        except ValueError:
            return None
        x, y = series.x, series.y
        if layer.crs() != ps_layer.crs():
            transform = QgsCoordinateTransform(ps_layer.crs(), layer.crs(), QgsProject.instance())
            point = transform.transform(float(x), float(y))
            x, y = point.x(), point.y()
        extent = layer.extent()
        tolerance = 1e-6 * (extent.width() + extent.height()) + 1e-9
        fid = other.nearest(x, y, tolerance)
        found = other.fetch(fid) if fid is not None else None
        if (found is None or found.point_id != series.point_id) and other.id_field:
            fids = other.fids_with_value(other.id_field, series.point_id, limit=1)
            found = other.fetch(fids[0]) if fids else None
        if found is None:
            return None
        return _on_dates(found.dates, found.values, series.dates)

    def well_rows(self, well):
        linked = self.linked
        return (
            rows_where(linked.series_table, WELL_FIELD, well),
            rows_where(linked.predictions, WELL_FIELD, well),
            rows_where(linked.attention, WELL_FIELD, well),
        )


def _member_rows(layer, point_id):
    """Rows of a members layer for one PS (its id field: pid/id/..., not feature_id)."""
    if layer is None:
        return []
    names = [n for n in layer.fields().names() if n != WELL_FIELD]
    id_field = find_field(names, ID_FIELD_CANDIDATES)
    return rows_where(layer, id_field, point_id) if id_field else []


def _on_dates(dates, values, target):
    """``values`` at the ``target`` dates (NaN where a date is missing)."""
    out = np.full(len(target), np.nan)
    index = {d: i for i, d in enumerate(np.asarray(dates, dtype="datetime64[D]").tolist())}
    for j, d in enumerate(np.asarray(target, dtype="datetime64[D]").tolist()):
        i = index.get(d)
        if i is not None:
            out[j] = values[i]
    return out


def build_curves(points: List[ShownPoint], sources: Sources, options: Options, reference=None, colours=None):
    """The curves, the ±σ band and notes for ``points`` (the last one gets every detail).

    ``reference``: a :class:`ShownPoint` subtracted from the observed and corrected series.
    """
    curves, notes, band = [], [], None
    for index, point in enumerate(points):
        colour = colours[index] if colours else "#1f77b4"
        detailed = index == len(points) - 1
        s = point.series
        observed, corrected = s.values, point.corrected
        if reference is not None:
            observed = observed - _on_dates(reference.series.dates, reference.series.values, s.dates)
            if corrected is not None:
                ref = reference.corrected if reference.corrected is not None else reference.series.values
                corrected = corrected - _on_dates(reference.series.dates, ref, s.dates)
        pid = s.point_id
        # markers only where they can be told apart: the last point, or a handful of points
        plain = {} if detailed or len(points) <= 5 else {"marker": "", "ms": 0}
        curves.append(Curve(pid, "observed", s.dates, observed, f"{pid} observed", colour, style=plain))
        if corrected is not None:
            curves.append(Curve(pid, "corrected", s.dates, corrected, f"{pid} corrected", colour))
        if options.trend:
            basis = corrected if corrected is not None else observed
            fit = fit_trend(s.dates, basis, options.annual, options.start, options.end)
            if fit is None:
                notes.append(f"{pid}: too few dates in the fit range for a trend")
            else:
                inside = np.ones(s.dates.size, bool)
                if options.start is not None:
                    inside &= s.dates >= options.start
                if options.end is not None:
                    inside &= s.dates <= options.end
                trend = fit.evaluate(s.dates[inside])
                label = f"{pid} trend {fit.label()}"
                curves.append(Curve(pid, "trend", s.dates[inside], trend, label, colour))
                if detailed:
                    band = (s.dates[inside], trend - fit.rmse_mm, trend + fit.rmse_mm, colour)
        if detailed:
            shown = corrected if corrected is not None else observed
            curves += _prediction_and_well_curves(point, shown, sources, colour, notes)
    return curves, band, notes


def _prediction_and_well_curves(point: ShownPoint, shown, sources: Sources, colour, notes):
    """The PS's own predictions (cumulated onto ``shown``, its series as plotted), then its well's."""
    curves = []
    pid = point.series.point_id
    per_ps = ls.member_predictions(point.predicted) if point.predicted else {}
    for curve, (months, increments) in per_ps.items():
        values = ls.cumulate_from(months, increments, point.series.dates, shown)
        label = f"{pid} {ls.CURVE_TITLES[curve]} (cumulated)"
        curves.append(Curve(pid, curve, months, values, label, colour))
    if point.well is None:
        return curves
    well = point.well
    series_rows, prediction_rows, attention_rows = sources.well_rows(well)
    dates, levels, mean = ls.well_levels(series_rows) if series_rows else (None, {}, None)
    if series_rows and np.isfinite(mean).any():
        curves.append(Curve(f"well {well}", "well mean", dates, mean, f"well {well} buffer mean", "#555555"))
    if prediction_rows:
        p_dates, predicted, _ = ls.well_predictions(prediction_rows, dates, mean)
        for curve, values in predicted.items():
            if curve == "observed" or curve in per_ps:
                continue
            title = f"well {well} {ls.CURVE_TITLES[curve]} (monthly, cumulated)"
            curves.append(Curve(f"well {well}", curve, p_dates, values, title, "#444444"))
    weights = ls.attention_means(attention_rows)
    for i, (layer, values) in enumerate(levels.items()):
        weight = weights.get(layer)
        label = f"well {well} {layer} level" + (f" (attention {weight:.2f})" if weight is not None else "")
        colour = groundwater_colour(i)
        curves.append(Curve(f"well {well}", f"gw_{layer}", dates, values, label, colour, axis="m"))
    if not series_rows and not prediction_rows:
        notes.append(f"well {well}: no rows in the linked series/predictions tables")
    return curves
