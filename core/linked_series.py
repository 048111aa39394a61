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
  ``amlstm_mm``, ``lstm_mm``, ``physical_mm``, ``linear_mm``: monthly increments; ``split``);
* the **attention table** (``feature_id``, ``layer``, ``date`` empty for the mean row, ``weight``).

The dock reads rows as plain dicts (field -> Python value, None for NULL, dates as text);
these functions turn them into dated arrays. Predicted monthly increments are shown cumulated
(:func:`well_predictions`, :func:`cumulate_from`) so they read against the displacement curves.
"""

from typing import Dict, List, Sequence, Tuple

import numpy as np

from .dates import parse_date_name
from .groundwater_io import parse_date_text

PREDICTION_CURVES = ("amlstm", "lstm", "physical", "linear")
CURVE_TITLES = {"amlstm": "AM-LSTM", "lstm": "LSTM", "physical": "physical model", "linear": "linear model"}
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


def cumulate_from(months, increments, dates=None, values=None) -> np.ndarray:
    """Monthly increments as a cumulative series in the reference of the series (dates, values).

    Each run of consecutive known increments starts from the series linearly interpolated at the
    start of the month before the run (increment_mm is the change since the previous month), so
    the cumulated curve continues the displacement it models, and a gap (NaN increments, e.g.
    months without acquisitions) does not offset everything after it by the displacement the gap
    missed. Without a series the first run starts at 0 and later runs carry the level over.
    """
    months = np.asarray(months, dtype="datetime64[D]")
    increments = np.asarray(increments, dtype=np.float64)
    known = np.isfinite(increments)
    days = ok_values = None
    if dates is not None and values is not None:
        values = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(values)
        if ok.any():
            days, ok_values = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)[ok], values[ok]
    out = np.full(increments.shape, np.nan)
    level = 0.0
    # a run also ends where months are skipped (tables leave out the months of a data gap)
    month_number = months.astype("datetime64[M]").astype(np.int64)
    follows = np.concatenate([[False], known[:-1] & (np.diff(month_number) == 1)])
    starts = np.flatnonzero(known & ~follows)
    for start in starts:
        stop = start + 1
        while stop < known.size and known[stop] and follows[stop]:
            stop += 1
        if days is not None:
            level = float(np.interp(previous_month(months[start]).astype(np.int64), days, ok_values))
        out[start:stop] = level + np.cumsum(increments[start:stop])
        level = out[stop - 1]
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

    Every curve (``observed`` and each model) is cumulated by :func:`cumulate_from` onto the
    buffer mean of the series table when it is given (so ``observed`` retraces that mean and the
    models read as displacement in the same reference), else from 0.
    """
    dates, rows = _dated(prediction_rows, "predictions table")
    if not rows:
        return dates, {}, []
    curves = {}
    for curve in ("observed",) + PREDICTION_CURVES:
        increments = np.array([_float(r.get(f"{curve}_mm")) for r in rows])
        if np.isfinite(increments).any():
            curves[curve] = cumulate_from(dates, increments, series_dates, series_mean)
    return dates, curves, [str(r.get("split") or "") for r in rows]


def attention_means(attention_rows: Sequence[dict]) -> Dict[str, float]:
    """Mean attention weight per groundwater layer (the rows whose date is empty)."""
    out = {}
    for row in attention_rows:
        if row.get("date") in (None, ""):
            out[str(row.get("layer"))] = _float(row.get("weight"))
    return out
