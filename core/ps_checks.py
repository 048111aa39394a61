"""Checks every PS dataset passes as it is read, so bad values never reach the science silently.

Each raises ValueError naming the field, the row (1-based, in the source's order), the point id
and the value, with what to do about it (METHODS.md section 1: NaN/NULL is a gap, never a number).
"""

import numpy as np

# A cumulative displacement beyond a kilometre is a nodata marker or a unit error, never motion.
MAX_ABS_DISPLACEMENT_MM = 1e6


def _where(row, ids):
    return f"row {row + 1}" + ("" if ids is None else f" (id {np.asarray(ids)[row]!r})")


def check_displacement(displacement, date_names, ids=None, limit_mm=MAX_ABS_DISPLACEMENT_MM):
    """Every value is NaN (a gap) or a finite number within ``limit_mm``; else ValueError.

    Two reductions over the matrix (no copy); the offending cells are located only on failure.
    """
    d = np.asarray(displacement)
    if d.size == 0:
        return
    high = np.fmax.reduce(d, axis=None)
    low = np.fmin.reduce(d, axis=None)
    if not (high > limit_mm or low < -limit_mm):  # all NaN gives NaN: nothing to say
        return
    with np.errstate(invalid="ignore"):
        bad = np.abs(d) > limit_mm
    rows, cols = np.nonzero(bad)
    row, col = int(rows[0]), int(cols[0])
    raise ValueError(
        f"field {date_names[col]!r}: value {d[row, col]:g} at {_where(row, ids)} is not a displacement "
        f"(infinite or beyond ±{limit_mm:g} mm); {rows.size} such value(s) in the layer. A nodata marker "
        "must be NULL (empty), and check the unit of the date fields."
    )


def check_coordinates(x, y, ids=None):
    """Every point has finite coordinates (no NULL or empty geometry); else ValueError."""
    missing = ~(np.isfinite(np.asarray(x, dtype=float)) & np.isfinite(np.asarray(y, dtype=float)))
    if not missing.any():
        return
    rows = np.flatnonzero(missing)
    raise ValueError(
        f"geometry: {_where(int(rows[0]), ids)} has no point (a NULL or empty geometry, or empty "
        f"coordinate fields); {rows.size} such row(s). Every PS needs its position: fix or remove them "
        "(e.g. select them with the expression is_empty_or_null($geometry))."
    )
