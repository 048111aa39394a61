"""Units of PS displacement series: conversion to mm at read, and a check of the stated unit.

Exports do not agree on a unit: EGMS and StaMPS write mm, SARscape / P-SBAS products often cm,
some tools m. The readers (:func:`core.ps_io.read_ps_file`, :func:`core.ps_io.ps_from_columns`)
take a ``unit`` and multiply the date fields by :func:`mm_per_unit` as they read them, so every
algorithm and every threshold (the stable-ground rule, velocities, RMS) works in mm.

A wrong unit does not fail, it silently scales everything, so :func:`unit_warnings` looks at the
values once they are in mm and says when they look like another unit:

* **the producer's velocity field** (``mean_velocity``, ``VEL``... see
  :data:`core.field_names.VELOCITY_FIELD_CANDIDATES`) against the velocity computed from the
  series: their spreads (interquartile ranges) should agree (field in mm/yr) or differ by
  exactly the stated unit's factor (field in that unit per year). Anything else an order of
  magnitude or more off is reported with the unit it points to;
* **the date-to-date scatter** of the series (median over points of the robust standard
  deviation of successive differences / sqrt 2): InSAR series scatter by about 1-5 mm from one
  acquisition to the next (2.0-2.2 mm on the StaMPS PS/SBAS exports of ``shared/realdata``,
  ~4 mm on the synthetic area). Below :data:`MIN_SCATTER_MM` the values are too smooth for mm
  (cm read as mm give 0.1-0.4); above :data:`MAX_SCATTER_MM` too rough.

Both checks use at most :data:`CHECK_POINTS` points spread over the layer, so they cost little
on large layers.
"""

import warnings
from typing import List

import numpy as np

from .field_names import VELOCITY_FIELD_CANDIDATES, find_field

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
UNITS = tuple(MM_PER_UNIT)
MIN_SCATTER_MM = 0.5
MAX_SCATTER_MM = 12.0
TYPICAL_SCATTER_MM = 2.0
# Two spreads "agree" when their ratio is within this factor of the expected one.
AGREEMENT_FACTOR = 3.0
CHECK_POINTS = 5000


def mm_per_unit(unit: str) -> float:
    """Millimetres in one ``unit`` (``mm``, ``cm`` or ``m``, case-insensitive).

    Raises:
        ValueError naming the value when the unit is unknown.
    """
    key = str(unit).strip().lower() if unit is not None else ""
    if key not in MM_PER_UNIT:
        raise ValueError(f"unit: expected one of {', '.join(UNITS)}, got {unit!r}")
    return MM_PER_UNIT[key]


def _sample_rows(m: int) -> np.ndarray:
    return np.unique(np.linspace(0, m - 1, min(m, CHECK_POINTS)).astype(np.int64))


def _iqr(values) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def date_to_date_scatter_mm(displacement_mm) -> float:
    """Median over points of the robust std of successive differences / sqrt(2) (NaN if unknown)."""
    d = np.asarray(displacement_mm, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 3:
        return float("nan")
    steps = np.diff(d, axis=1)
    if not np.isfinite(steps).any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without two successive values
        centre = np.nanmedian(steps, axis=1, keepdims=True)
        mad = np.nanmedian(np.abs(steps - centre), axis=1)
    mad = mad[np.isfinite(mad)]
    if mad.size == 0:
        return float("nan")
    return float(np.median(mad) / 0.6745 / np.sqrt(2.0))


def _nearest_unit(mm_per_value: float) -> str:
    """The unit whose size is nearest (in ratio) to ``mm_per_value``."""
    return min(UNITS, key=lambda u: abs(np.log(MM_PER_UNIT[u] / mm_per_value)))


def _velocity_warning(ps, unit, scale, rows) -> List[str]:
    from .ps_ops import velocity

    name = find_field(list(ps.attributes), VELOCITY_FIELD_CANDIDATES)
    if name is None:
        return []
    values = np.asarray(ps.attributes[name])
    if values.dtype.kind not in "fiu":
        return []
    field = values.astype(np.float64)[rows]
    computed = velocity(ps.displacement_mm[rows], ps.dates)[0]
    ok = np.isfinite(field) & np.isfinite(computed)
    if ok.sum() < 10:
        return []
    spread_field, spread_series = _iqr(field[ok]), _iqr(computed[ok])
    if spread_field <= 0 or spread_series <= 0:
        return []
    ratio = spread_field / spread_series
    for expected in {1.0, 1.0 / scale}:  # field in mm/yr, or in the stated unit per year
        if 1.0 / AGREEMENT_FACTOR <= ratio / expected <= AGREEMENT_FACTOR:
            return []
    implied = scale * ratio  # mm per stated value, if the field is in mm/yr
    guess = _nearest_unit(implied)
    hint = (
        f"if {name!r} is in mm/yr, the series are in {guess}: set the unit to {guess}"
        if guess != unit and abs(np.log(MM_PER_UNIT[guess] / implied)) < np.log(AGREEMENT_FACTOR)
        else f"check the unit of the series and of {name!r}"
    )
    return [
        f"the velocity field {name!r} spreads {ratio:.3g} times as wide as the velocity computed from "
        f"the series read in {unit} (interquartile range {spread_field:.3g} against {spread_series:.3g} "
        f"mm/yr): the series may not be in {unit}; {hint}."
    ]


def _scatter_warning(ps, unit, rows) -> List[str]:
    scatter = date_to_date_scatter_mm(ps.displacement_mm[rows])
    if not np.isfinite(scatter) or scatter <= 0 or MIN_SCATTER_MM <= scatter <= MAX_SCATTER_MM:
        return []
    # The unit that would bring the scatter nearest to a typical InSAR series.
    stated = MM_PER_UNIT[unit]
    guess = min(UNITS, key=lambda u: abs(np.log(scatter * MM_PER_UNIT[u] / stated / TYPICAL_SCATTER_MM)))
    if scatter < MIN_SCATTER_MM:
        verdict = f"too smooth for {unit}"
    else:
        verdict = f"too rough for {unit}"
    advice = (
        f"the values look like {guess}: set the unit to {guess} if so" if guess != unit else "check the unit"
    )
    return [
        f"the series scatter by {scatter:.3g} mm from one date to the next when read in {unit}, {verdict} "
        f"(InSAR series typically scatter by 1-5 mm); {advice}."
    ]


def unit_warnings(ps, unit: str = "mm") -> List[str]:
    """Why the series of ``ps`` (already converted to mm from ``unit``) may be in another unit.

    Returns a list of sentences (empty when nothing looks wrong); see the module docstring.
    """
    scale = mm_per_unit(unit)
    unit = str(unit).strip().lower()
    if ps.n_points == 0 or ps.n_dates < 3:
        return []
    rows = _sample_rows(ps.n_points)
    return _velocity_warning(ps, unit, scale, rows) + _scatter_warning(ps, unit, rows)
