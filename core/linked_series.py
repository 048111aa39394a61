"""Curves for one clicked PS taken from the outputs linked to its layer, Qt-free.

The time-series dock gathers, besides the PS layer's own date fields:

* the **corrected layer** written by the PCA error removal: same point ids and date fields;
* the **members layer** of the buffer sampling: one row per (PS, well) with ``feature_id``
  (the well), ``distance_m`` and the PS's date fields;
* the **AM-LSTM members layer** of the AM-LSTM simulation: the member PS (id, ``feature_id``)
  with each PS's simulated monthly deformation as ``amlstm_<YYYYMMDD>`` fields (increments, mm);
* the **series table** per well (``feature_id``, ``date``, ``value_mm`` buffer mean, cumulative;
  ``increment_mm``; ``count``; ``gw_<layer>`` groundwater levels in m);
* the **predictions table** per well (``feature_id``, ``date``, ``observed_mm``,
  ``amlstm_mm``, ``lstm_mm``, ``physical_mm``: monthly increments; ``split``);
* the **attention table** (``feature_id``, ``layer``, ``date`` empty for the mean row, ``weight``).

The dock reads rows as plain dicts (field -> Python value, None for NULL, dates as text);
these functions turn them into dated arrays. Predicted monthly increments are shown cumulated
(:func:`well_predictions`, :func:`cumulate_from`) so they read against the displacement curves.
"""

from typing import Dict, List, Sequence, Tuple

import numpy as np

from .dates import parse_date_name
from .groundwater_io import parse_date_text

PREDICTION_CURVES = ("amlstm", "lstm", "physical")
CURVE_TITLES = {"amlstm": "AM-LSTM", "lstm": "LSTM", "physical": "physical model"}
GROUNDWATER_PREFIX = "gw_"


def _float(value) -> float:
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _dated(rows: Sequence[dict], what: str) -> Tuple[np.ndarray, List[dict]]:
    """Rows with a date, sorted by it, and their dates."""
    kept = [(parse_date_text(r["date"], f"{what} date"), r) for r in rows if r.get("date") not in (None, "")]
    kept.sort(key=lambda pair: pair[0])
    dates = np.array([d for d, _ in kept], dtype="datetime64[D]")
    return dates, [r for _, r in kept]


def prefixed_series(attributes: Dict[str, object], prefix: str) -> Tuple[np.ndarray, np.ndarray]:
    """Dates and values of the fields ``<prefix><date>`` (e.g. ``amlstm_20200115``) of one row."""
    found = []
    for name, value in attributes.items():
        if name.lower().startswith(prefix.lower()):
            date = parse_date_name(name[len(prefix) :])
            if date is not None:
                found.append((date, _float(value)))
    found.sort(key=lambda pair: pair[0])
    return (
        np.array([d for d, _ in found], dtype="datetime64[D]"),
        np.array([v for _, v in found], dtype=np.float64),
    )


def member_predictions(attributes: Dict[str, object]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Per-PS predictions of an AM-LSTM members row: curve -> (months, monthly increments in mm)."""
    out = {}
    for curve in PREDICTION_CURVES:
        dates, values = prefixed_series(attributes, f"{curve}_")
        if dates.size:
            out[curve] = (dates, values)
    return out


def previous_month(date) -> np.datetime64:
    """The first day of the month before ``date``'s month."""
    return (np.datetime64(date, "M") - 1).astype("datetime64[D]")


def cumulate_from(months, increments, dates, values) -> np.ndarray:
    """Monthly increments as a cumulative series in the reference of the series (dates, values).

    The level before the first increment is the series linearly interpolated at the start of the
    previous month (increment_mm is the change since the previous month), so the cumulated curve
    continues the displacement it models. NaN increments are gaps (the level carries over).
    """
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    start = previous_month(np.asarray(months, dtype="datetime64[D]")[0]).astype(np.int64)
    anchor = float(np.interp(start, days[ok], values[ok])) if ok.sum() >= 1 else 0.0
    increments = np.asarray(increments, dtype=np.float64)
    out = anchor + np.cumsum(np.nan_to_num(increments))
    out[~np.isfinite(increments)] = np.nan
    return out


def well_levels(series_rows: Sequence[dict]) -> Tuple[np.ndarray, Dict[str, np.ndarray], np.ndarray]:
    """From a well's series-table rows: ``(dates, {layer: levels_m}, buffer mean value_mm)``."""
    dates, rows = _dated(series_rows, "series table")
    n = len(GROUNDWATER_PREFIX)
    layers = sorted({k[n:] for r in rows for k in r if k.startswith(GROUNDWATER_PREFIX)})
    levels = {layer: np.array([_float(r.get(GROUNDWATER_PREFIX + layer)) for r in rows]) for layer in layers}
    mean = np.array([_float(r.get("value_mm")) for r in rows])
    return dates, levels, mean


def well_predictions(prediction_rows: Sequence[dict], series_dates=None, series_mean=None):
    """A well's predicted increments cumulated: ``(dates, {curve: mm}, split)``.

    Every curve (``observed`` and each model) starts from the same level: the buffer mean of
    the series table just before the first predicted month when it is known (the cumulative
    mean at that month minus its observed increment), else 0. So ``observed`` retraces the
    series table's mean and the models read as displacement in the same reference.
    """
    dates, rows = _dated(prediction_rows, "predictions table")
    if not rows:
        return dates, {}, []
    anchor = 0.0
    if series_dates is not None and series_mean is not None and len(series_dates):
        hit = np.flatnonzero(np.asarray(series_dates, dtype="datetime64[D]") == dates[0])
        first_observed = _float(rows[0].get("observed_mm"))
        if hit.size and np.isfinite(series_mean[hit[0]]) and np.isfinite(first_observed):
            anchor = float(series_mean[hit[0]]) - first_observed
    curves = {}
    for curve in ("observed",) + PREDICTION_CURVES:
        increments = np.array([_float(r.get(f"{curve}_mm")) for r in rows])
        if np.isfinite(increments).any():
            # a missing month keeps the level (nan -> 0 in the sum) but is shown as a gap
            cumulated = anchor + np.cumsum(np.nan_to_num(increments))
            cumulated[~np.isfinite(increments)] = np.nan
            curves[curve] = cumulated
    return dates, curves, [str(r.get("split") or "") for r in rows]


def attention_means(attention_rows: Sequence[dict]) -> Dict[str, float]:
    """Mean attention weight per groundwater layer (the rows whose date is empty)."""
    out = {}
    for row in attention_rows:
        if row.get("date") in (None, ""):
            out[str(row.get("layer"))] = _float(row.get("weight"))
    return out
