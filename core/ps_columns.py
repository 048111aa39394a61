"""A table in memory (field name -> array, x, y, CRS) -> :class:`~core.psdata.PSDataset`
(METHODS.md section 1): date-field detection, text/NULL checks, unit, id, z and incidence fields,
coordinate columns of tables without geometry. Every reader (OGR here, the QGIS feature iterator
in ``processing_provider/ps_io.py``) ends in :func:`ps_from_columns`, so all give identical arrays.
"""

import re
from typing import Dict, Optional, Sequence

import numpy as np

from .dates import detect_date_fields
from .field_names import INCIDENCE_FIELD_CANDIDATES, Z_FIELD_CANDIDATES, find_field
from .ps_checks import check_coordinates, check_displacement
from .psdata import PSDataset
from .units import mm_per_unit

ID_FIELD_CANDIDATES = ("pid", "id", "ps_id", "point_id", "psid", "code", "code_ps")
# (x name, y name, CRS) of coordinate columns in tables without geometry, tried in order.
COORDINATE_COLUMNS = (
    ("easting", "northing", "EPSG:3035"),  # EGMS products
    ("longitude", "latitude", "EPSG:4326"),
    ("lon", "lat", "EPSG:4326"),
)
TRANSPOSE_BLOCK_ROWS = 2048
_NULL_TEXT = {"", "nan", "null", "none", "na", "n/a", "-"}


def column_as_float(name: str, values) -> np.ndarray:
    """A field's values as float64 with NaN for NULL/empty; text raises ValueError.

    Masked arrays (OGR Arrow batches) and ``None`` (QGIS NULL) become NaN; numeric text
    (a CSV read without type detection) is converted; anything else is an error naming the
    field, the row and the value, so a text cell in a date field is never read as 0.
    """
    if isinstance(values, np.ma.MaskedArray):
        if values.dtype.kind in "fiub":
            return np.ma.filled(values.astype(np.float64), np.nan)
        values = np.ma.filled(values.astype(object), None)
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, value in enumerate(arr.tolist()):
        if value is None:
            out[i] = np.nan
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip().lower() in _NULL_TEXT:
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"field {name!r}: text {value!r} at row {i + 1} is not a number "
                "(a date field must hold numbers in mm; empty cells are read as missing)"
            ) from None
    return out


def _reject_stamps_fields(names: Sequence[str]) -> None:
    """A StaMPS-Visualizer table read as plain fields has lost its layout: say what to do."""
    if names and all(re.fullmatch(r"export_res_\s*\d+", n) for n in names):
        raise ValueError(
            "this is a StaMPS-Visualizer CSV export (fields export_res_ 1, ...; dates in a reference row): "
            "give the CSV file itself as input, not a delimited-text layer made from it"
        )


def _fill_float(out: np.ndarray, name: str, values) -> None:
    """Write a column into ``out`` as float with NaN for NULL, without temporary copies."""
    if isinstance(values, np.ma.MaskedArray) and values.dtype.kind in "fiub":
        out[:] = values.data
        mask = np.ma.getmask(values)
        if mask is not np.ma.nomask:
            out[mask] = np.nan
    elif isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        out[:] = values
    else:
        out[:] = column_as_float(name, values)


def _float_column(name: str, values) -> np.ndarray:
    """A column as float64 with NaN for NULL; a float64 ndarray is returned as it is (no copy)."""
    if type(values) is np.ndarray and values.dtype == np.float64:
        return values
    out = np.empty(len(values), dtype=np.float64)
    _fill_float(out, name, values)
    return out


def ps_from_columns(
    columns: Dict[str, np.ndarray],
    x,
    y,
    crs: str,
    date_fields: str = "",
    id_field: Optional[str] = None,
    z_field: Optional[str] = None,
    incidence_field: Optional[str] = None,
    field_order: Optional[Sequence[str]] = None,
    keep_attributes: bool = True,
    date_matrix=None,
    unit: str = "mm",
) -> PSDataset:
    """Build a PSDataset from an in-memory table (METHODS.md section 1).

    Args:
        columns: field name -> (m,) array (numeric, masked, or object with None for NULL).
        x, y: point coordinates in ``crs``.
        date_fields: "" to auto-detect, else a field list, prefix or pattern
            (see :func:`core.dates.detect_date_fields`).
        id_field: id field name; None/"" picks ``pid``/``id``/... when present, else the
            row number 1..m.
        z_field, incidence_field: as ``id_field``; None/"" looks for common names
            (``height``, ``incidence_angle`` ...); a name that does not exist is an error.
        field_order: the layer's field order (defaults to the dict order).
        keep_attributes: keep the other fields in ``PSDataset.attributes``.
        date_matrix: optional ``(names, matrix)``, an (m, len(names)) float64 matrix a reader
            already filled with the columns ``names`` (NaN for NULL); used as the displacement
            matrix without a copy when ``names`` are the detected date fields in date order.
            Columns of ``columns`` that are not views of it (e.g. text the reader left as it
            was) are converted into it here.
        unit: the unit of the date fields, ``mm``, ``cm`` or ``m`` (:mod:`core.units`); the
            displacement is converted to mm here (only the date fields: elevation stays in m).

    Raises:
        ValueError naming the field at fault: see :func:`detect_date_fields` and
        :func:`column_as_float`; an empty table.
    """
    scale = mm_per_unit(unit)
    names = list(field_order) if field_order is not None else list(columns)
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    if m == 0:
        raise ValueError("the layer has no features (empty layer)")
    if not date_fields:
        _reject_stamps_fields(names)
    date_names, dates = detect_date_fields(names, date_fields)
    if date_matrix is not None and list(date_matrix[0]) == list(date_names) and date_matrix[1].shape[0] == m:
        displacement = date_matrix[1]
        for j, name in enumerate(date_names):
            values = columns[name]
            if not (isinstance(values, np.ndarray) and np.may_share_memory(values, displacement)):
                _fill_float(displacement[:, j], name, values)
    else:
        # Written in row blocks that fit in the CPU cache, a column at a time: ~10x faster than
        # filling n strided columns of the whole (m, n) matrix or one whole-matrix transpose.
        date_columns = [_float_column(name, columns[name]) for name in date_names]
        displacement = np.empty((m, len(date_names)), dtype=np.float64)
        for start in range(0, m, TRANSPOSE_BLOCK_ROWS):
            block = displacement[start : start + TRANSPOSE_BLOCK_ROWS]
            for j, values in enumerate(date_columns):
                block[:, j] = values[start : start + TRANSPOSE_BLOCK_ROWS]
        del date_columns
    if scale != 1.0:
        displacement *= scale  # a matrix this function or the reader made: never the caller's input

    def pick(kind, given, candidates):
        if given:
            if given not in columns:
                raise ValueError(f"{kind} field {given!r} not found; fields are: {', '.join(names)}")
            return given
        found = find_field([n for n in names if n not in date_names], candidates)
        return found

    id_name = pick("id", id_field, ID_FIELD_CANDIDATES)
    if id_name is None:
        ids = np.arange(1, m + 1, dtype=np.int64)
    else:
        ids = np.asarray(
            np.ma.filled(columns[id_name]) if np.ma.isMaskedArray(columns[id_name]) else columns[id_name]
        )
        integral = ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids))
        if integral or ids.dtype.kind in "iu":
            ids = ids.astype(np.int64)
        elif ids.dtype.kind in "OSU":
            ids = np.array(
                ["" if v is None else (v.decode() if isinstance(v, bytes) else str(v)) for v in ids],
                dtype=object,
            )
    check_coordinates(x, y, ids)
    check_displacement(displacement, date_names, ids)
    z_name = pick("elevation", z_field, Z_FIELD_CANDIDATES)
    inc_name = pick("incidence", incidence_field, INCIDENCE_FIELD_CANDIDATES)
    z = column_as_float(z_name, columns[z_name]) if z_name else None
    incidence = column_as_float(inc_name, columns[inc_name]) if inc_name else None
    used = set(date_names) | {n for n in (id_name, z_name, inc_name) if n}
    attributes = {}
    if keep_attributes:
        for name in names:
            if name in used:
                continue
            values = columns[name]
            if np.ma.isMaskedArray(values):
                values = (
                    column_as_float(name, values)
                    if values.dtype.kind in "fiub"
                    else np.ma.filled(values.astype(object), None)
                )
            attributes[name] = np.asarray(values)
    direction = "LOS"
    # A layer written by preparepsdataset says which direction its series are in.
    marker = attributes.get("direction")
    if marker is not None and len(marker) and {str(v) for v in np.asarray(marker).tolist()} == {"vertical"}:
        direction = "vertical"
    return PSDataset(
        direction=direction,
        ids=ids,
        x=x,
        y=np.asarray(y, dtype=np.float64),
        dates=dates,
        displacement_mm=displacement,
        z=z,
        incidence_deg=incidence,
        crs=crs or "",
        attributes=attributes,
        date_fields=list(date_names),
        id_field=id_name,
        z_field=z_name,
        incidence_field=inc_name,
    )


# ---------------------------------------------------------------- coordinates and CRS


def coordinates_from_columns(columns: Dict[str, np.ndarray], field_names: Sequence[str]):
    """``(x, y, crs)`` for a table without geometry, from its coordinate columns.

    ``easting``/``northing`` are EGMS products (EPSG:3035); ``longitude``/``latitude`` or
    ``lon``/``lat`` are WGS84 (EPSG:4326).
    """
    _reject_stamps_fields(field_names)
    lowered = {f.lower(): f for f in field_names}
    for x_name, y_name, crs in COORDINATE_COLUMNS:
        if x_name in lowered and y_name in lowered:
            x = column_as_float(lowered[x_name], columns[lowered[x_name]])
            y = column_as_float(lowered[y_name], columns[lowered[y_name]])
            return x, y, crs
    raise ValueError(
        "the table has no geometry and no coordinate columns (easting/northing as in EGMS, EPSG:3035, "
        "or longitude/latitude, EPSG:4326); load it as a point layer with its X/Y fields first. "
        f"Fields seen: {', '.join(field_names)}"
    )
