"""The kit's outputs: PS layers, tables, atomic files, and the checks every destination gets.

Declaring (in ``initAlgorithm``)::

    outputs.add_layer_output(self, "OUTPUT", "Corrected PS points", "id, velocity..., D<date>.")
    outputs.add_table_output(self, "COMPONENTS", "Components table", "One row per component.")
    outputs.add_file_output(self, "DECOMPOSITION", "Decomposition file", "NumPy archive (*.npz)",
                            "For the error removal.")

Writing (in ``compute``)::

    layer = outputs.write_ps(self, parameters, context, "OUTPUT", ps, fields={...}, series=...)
    table = outputs.write_table(self, parameters, context, "COMPONENTS",
                                [("component", "int", numbers), ("sigma_mm", "float", sigma)])
    with outputs.atomic_file(self, parameters, context, "DECOMPOSITION", ".npz") as (tmp, path):
        decomposition.save(tmp)            # renamed to ``path`` only when the block succeeds

``write_ps`` writes the layer's id under the input's id field name and, unless the user unticks
``KEEP_ATTRIBUTES`` (added by ``add_layer_output``), the input's other fields after it. NaN and
inf are written as NULL everywhere (:func:`python_values`).

``destinations.py`` checks every file destination before the run and removes what a failed or
cancelled run created; ``atomic_file`` (from there) is re-exported here.
"""

import datetime
import os
import re

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingUtils,
)
from qgis.PyQt.QtCore import QDate

from .. import compat
from ..core import gpkg_writer
from ..core.dates import date_field_name
from .destinations import _static_value, atomic_file  # noqa: F401  (atomic_file: part of the kit)
from .styling import style_on_completion

BATCH_SIZE = 5000
KEEP_ATTRIBUTES = "KEEP_ATTRIBUTES"
_RESERVED = {gpkg_writer.FID_COLUMN, gpkg_writer.GEOMETRY_COLUMN}

# --- declaring ------------------------------------------------------------------------------------


def add_layer_output(alg, name, description, help_text, carry_attributes=True):
    """A point-layer destination; with ``carry_attributes`` also the ``KEEP_ATTRIBUTES`` switch."""
    alg.add(
        QgsProcessingParameterFeatureSink(name, alg.tr(description), compat.SOURCE_VECTOR_POINT), help_text
    )
    if carry_attributes and alg.parameterDefinition(KEEP_ATTRIBUTES) is None:
        alg.add(
            QgsProcessingParameterBoolean(
                KEEP_ATTRIBUTES, alg.tr("Carry the input's other fields through"), defaultValue=True
            ),
            "Keep every field of the input layer (mp_type, coherence, ...) in the output, after the id; "
            "untick to write only the id and the computed fields.",
            advanced=True,
        )


def add_table_output(alg, name, description, help_text):
    alg.add(QgsProcessingParameterFeatureSink(name, alg.tr(description), compat.SOURCE_VECTOR), help_text)


def add_file_output(alg, name, description, file_filter, help_text):
    alg.add(QgsProcessingParameterFileDestination(name, alg.tr(description), alg.tr(file_filter)), help_text)


# --- values ---------------------------------------------------------------------------------------


def kind_of(values):
    """The field kind ("float", "int", "str") of an array."""
    kind = np.asarray(values).dtype.kind
    if kind == "f":
        return "float"
    if kind in "iub":
        return "int"
    return "str"


def _qdate(value):
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        value = value.astype("datetime64[D]").astype(object)
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return QDate(value.year, value.month, value.day)
    return QDate.fromString(str(value)[:10], "yyyy-MM-dd")


def python_values(values, kind=None):
    """A column as a list of Python values ready for ``setAttributes``: NULL (None) for NaN, inf
    and None; int64 for integers; QDate for dates; text for the rest."""
    kind = kind or kind_of(values)
    if kind == "date":
        return [_qdate(v) for v in np.asarray(values).tolist()]
    arr = np.asarray(values)
    if kind == "float":
        arr = arr.astype(np.float64)
        obj = arr.astype(object)
        obj[~np.isfinite(arr)] = None
        return obj.tolist()
    if kind in ("int", "int64", "bool"):
        if arr.dtype.kind == "O":
            return [None if v is None else int(v) for v in arr.tolist()]
        return arr.astype(np.int64).tolist()
    return [None if v is None else str(v) for v in arr.tolist()]


# --- tables and point layers through sinks --------------------------------------------------------


def write_table(alg, parameters, context, name, columns, points=None, crs=""):
    """Write ``columns`` [(field, kind, values)] to the table destination ``name``.

    kind: "float" (NaN/inf -> NULL), "int" (64-bit), "str", "date" (datetime64, date or text),
    "bool". With ``points=(x, y)`` the rows are points in ``crs``. Returns the destination id.
    """
    fields = QgsFields()
    for field, kind, _ in columns:
        fields.append(compat.field(field, "int64" if kind == "int" else kind))
    values = [python_values(v, kind) for _, kind, v in columns]
    rows = [list(row) for row in zip(*values)] if values else []
    if points is None:
        return _sink_rows(alg, parameters, context, name, fields, rows, compat.WKB_NO_GEOMETRY, "")
    return _sink_rows(alg, parameters, context, name, fields, rows, compat.WKB_POINT, crs, points)


def _sink_rows(alg, parameters, context, name, fields, rows, wkb, crs, points=None, feedback=None):
    crs = QgsCoordinateReferenceSystem(crs) if crs else QgsCoordinateReferenceSystem()
    sink, dest_id = alg.parameterAsSink(parameters, name, context, fields, wkb, crs)
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, name))
    xs, ys = (
        (np.asarray(points[0], float).tolist(), np.asarray(points[1], float).tolist()) if points else ([], [])
    )
    batch = []
    for i, row in enumerate(rows):
        feature = QgsFeature(fields)
        if points is not None and np.isfinite(xs[i]) and np.isfinite(ys[i]):
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(xs[i], ys[i])))
        feature.setAttributes(row)
        batch.append(feature)
        if len(batch) >= BATCH_SIZE or i == len(rows) - 1:
            if not sink.addFeatures(batch, compat.SINK_FAST_INSERT):
                raise QgsProcessingException(f"{name}: writing features failed: {sink.lastError()}")
            batch = []
            if feedback is not None:
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user.")
                feedback.setProgress(100.0 * (i + 1) / len(rows))
    return dest_id


# --- PS layers ------------------------------------------------------------------------------------


def _fast_gpkg_destination(alg, parameters, output_name, context):
    """The GeoPackage file ``output_name`` points at when the direct writer may be used, else None.

    Only a plain ``.gpkg`` file path qualifies (what ``qgis_process``, the modeler and the
    dialog's "Save to file" pass); TEMPORARY_OUTPUT / ``memory:``, ``ogr:dbname=...``,
    ``postgres:`` and other providers, other formats, a ``|layername=`` suffix, an
    expression-based destination or an "append to layer" (field remapping) keep the sink.
    """
    value = parameters.get(output_name)
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.useRemapping():
        return None
    value = _static_value(value)
    if not isinstance(value, str) or not value or value == QgsProcessing.TEMPORARY_OUTPUT:
        return None
    if not value.lower().endswith(".gpkg") or "|" in value or re.match(r"^[A-Za-z][\w-]+:", value):
        return None
    path = alg.parameterAsOutputLayer(parameters, output_name, context)
    if not path or not path.lower().endswith(".gpkg") or not os.path.isdir(os.path.dirname(path) or "."):
        return None
    return path


def _load_hint_vector(context, path):
    """parameterAsOutputLayer registered the file for loading with no layer type: say "vector"
    (in place, so a post-processor or group set later by the algorithm or the dialog is kept)."""
    hint = getattr(getattr(QgsProcessingUtils, "LayerHint", None), "Vector", None)
    if hint is None or not context.willLoadLayerOnCompletion(path):
        return
    context.layerToLoadOnCompletionDetails(path).layerTypeHint = hint


def carried_attributes(alg, parameters, context, ps, taken):
    """The input's other fields to write (name -> values), unless ``KEEP_ATTRIBUTES`` is off.

    Names the algorithm writes itself (``taken``, case-insensitive) win over the input's."""
    definition = alg.parameterDefinition(KEEP_ATTRIBUTES)
    if definition is None or not alg.parameterAsBoolean(parameters, KEEP_ATTRIBUTES, context):
        return {}
    taken = {n.lower() for n in taken} | _RESERVED
    carried = dict(ps.attributes)
    for name, values in ((ps.z_field, ps.z), (ps.incidence_field, ps.incidence_deg)):
        if name and values is not None:
            carried[name] = values
    return {n: v for n, v in carried.items() if n.lower() not in taken}


def write_ps(
    alg,
    parameters,
    context,
    output_name,
    ps,
    fields=None,
    series=None,
    series_prefix="D",
    feedback=None,
    fast_gpkg=True,
    style=None,
):
    """Write ``ps`` as a point layer to the Processing destination ``output_name``.

    Fields: the id (named as the input's id field, ``id`` when there was none), the input's other
    fields (see :func:`carried_attributes`), then ``fields`` (name -> (m,) float/int/str array; NaN
    written as NULL) and, when ``series`` (m, n) is given, one float field per date named
    ``f"{series_prefix}{YYYYMMDD}"``. Geometry and CRS are those of ``ps``; a point without
    coordinates gets no geometry (NULL), never ``POINT EMPTY``. Returns the destination id.

    A plain ``.gpkg`` file path is written directly (:func:`core.gpkg_writer.write_points_gpkg`:
    same fields, types, feature ids 1..m, CRS, NULLs, spatial index and extent as the sink, ~5-20x
    faster, built in a temporary file renamed into place at the end) unless ``fast_gpkg`` is False.
    ``style=(field, values, unit)`` styles the layer on that field when QGIS loads it (diverging colours).
    """
    dest_id = _write_ps(
        alg, parameters, context, output_name, ps, fields, series, series_prefix, feedback, fast_gpkg
    )
    if style is not None:
        style_on_completion(context, dest_id, *style)
    return dest_id


def _write_ps(alg, parameters, context, output_name, ps, fields, series, series_prefix, feedback, fast_gpkg):
    fields = dict(fields or {})
    m = ps.n_points
    if series is not None:
        series = np.asarray(series, dtype=np.float64)
        if series.shape != (m, ps.n_dates):
            raise QgsProcessingException(
                f"{output_name}: series has shape {series.shape}, expected {(m, ps.n_dates)}"
            )
    for name, values in fields.items():
        shape = np.shape(values)
        if shape[:1] != (m,):
            raise QgsProcessingException(
                f"{output_name}: field {name!r} has {shape[0] if shape else 0} values, expected {m}"
            )
    id_name = getattr(ps, "id_field", None) or "id"
    series_names = [date_field_name(date, series_prefix) for date in ps.dates] if series is not None else []
    carried = carried_attributes(alg, parameters, context, ps, [id_name, *fields, *series_names])
    head = [(id_name, kind_of(ps.ids), ps.ids)]
    head += [(n, kind_of(v), v) for n, v in carried.items()] + [(n, kind_of(v), v) for n, v in fields.items()]
    names = [n for n, _, _ in head] + series_names
    lowered = {n.lower() for n in names}
    usable = len(lowered) == len(names) and not lowered & _RESERVED and np.isfinite(ps.x).all()
    path = _fast_gpkg_destination(alg, parameters, output_name, context) if fast_gpkg and usable else None
    if path is not None:
        try:
            gpkg_writer.write_points_gpkg(
                path,
                ps.x,
                ps.y,
                ps.crs,
                head,
                series=(series_names, series) if series is not None else None,
                progress=_progress_for(feedback, output_name),
            )
        except (ValueError, OSError, RuntimeError) as exc:
            raise QgsProcessingException(f"{output_name}: cannot write {path}: {exc}") from exc
        _load_hint_vector(context, path)
        return path
    qfields = QgsFields()
    for name, kind, _ in head:
        qfields.append(compat.field(name, {"float": "float", "int": "int64", "str": "str"}[kind]))
    for name in series_names:
        qfields.append(compat.field(name, "float"))
    columns = [python_values(values, kind) for _, kind, values in head]
    if series is not None:
        columns += [
            python_values(series.T.reshape(-1), "float")[j * m : (j + 1) * m] for j in range(ps.n_dates)
        ]
    rows = [list(row) for row in zip(*columns)]
    return _sink_rows(
        alg, parameters, context, output_name, qfields, rows, compat.WKB_POINT, ps.crs, (ps.x, ps.y), feedback
    )


def _progress_for(feedback, output_name):
    from .base import progress_callback

    return None if feedback is None else progress_callback(feedback)
