"""PS data in and out of Processing: parameters, reading into a PSDataset, writing sinks.

Every algorithm that reads PS data calls :func:`add_ps_input_parameters` in
``initAlgorithm`` and :func:`read_ps` in ``processAlgorithm``; results go out through
:func:`write_ps` (METHODS.md section 1 for the data model).

Reading takes the fast path (OGR Arrow/NumPy batches, ``core/ps_io.py``) when the input is a
file-backed OGR layer used whole (no selection, no subset filter, no feature-source limit or
filter); otherwise it iterates features through the Processing source, which honours
"selected features only". Both paths end in :func:`core.ps_io.ps_from_columns`, so they give
identical arrays.

Writing (:func:`write_ps`) to a plain ``.gpkg`` file path, the usual destination of the dialog,
the modeler and ``qgis_process``, goes straight to the file with
:func:`core.gpkg_writer.write_points_gpkg` (a Processing sink costs ~20 us per feature in
Python); every other destination (TEMPORARY_OUTPUT, ``ogr:``/``postgres:`` URIs, other formats,
appending) keeps the sink. Both give the same fields, types, feature ids, NULLs, CRS, extent
and spatial index (tests/test_gpkg_writer.py compares them value by value).

Geographic input where metres are needed: the points are reprojected to the UTM zone of
their centroid (WGS84 UTM, EPSG:326xx/327xx), chosen automatically rather than from the
project CRS, so that ``qgis_process`` runs and desktop runs give the same numbers; the
choice is reported in the log.
"""

import os
import re

import numpy as np
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsProperty,
    QgsProviderRegistry,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from .. import compat
from ..core import gpkg_writer
from ..core import ps_io as core_io
from ..core.dates import date_field_name

BATCH_SIZE = 5000


def _param_name(input_name, suffix):
    """Companion parameter names: DATE_FIELDS for INPUT, else <INPUT>_DATE_FIELDS."""
    return suffix if input_name == "INPUT" else f"{input_name}_{suffix}"


def add_ps_input_parameters(alg, input_name="INPUT", optional_fields=("Z", "INCIDENCE"), description=None):
    """Add the PS input parameters to ``alg`` (call from ``initAlgorithm``).

    Adds ``input_name`` (point feature source), ``DATE_FIELDS`` (optional string),
    ``ID_FIELD`` (optional field) and, as asked in ``optional_fields``, ``Z_FIELD`` and
    ``INCIDENCE_FIELD`` (optional numeric fields). For an input not called ``INPUT`` the
    companions are prefixed: ``<input_name>_DATE_FIELDS`` etc.
    """
    source = QgsProcessingParameterFeatureSource(
        input_name,
        alg.tr(description or "PS points (one field per date)"),
        [compat.SOURCE_VECTOR_POINT, compat.SOURCE_VECTOR],
    )
    source.setHelp(
        alg.tr(
            "Point layer or table of PS/SBAS points with one displacement field per acquisition date "
            "(mm, cumulative). GeoPackage, Shapefile, GeoJSON, CSV (EGMS: easting/northing; "
            "longitude/latitude) and StaMPS-Visualizer CSV are read."
        )
    )
    alg.addParameter(source)
    dates = QgsProcessingParameterString(
        _param_name(input_name, "DATE_FIELDS"),
        alg.tr("Date fields (empty = detect)"),
        defaultValue="",
        optional=True,
    )
    dates.setHelp(
        alg.tr(
            "Leave empty to detect fields named like D20101122, D_20101122, 20101122 or 2010-11-22. "
            "Otherwise a comma list of field names, a prefix (e.g. D_) or a regular expression (re:...)."
        )
    )
    alg.addParameter(dates)
    id_field = QgsProcessingParameterField(
        _param_name(input_name, "ID_FIELD"),
        alg.tr("Point id field"),
        parentLayerParameterName=input_name,
        optional=True,
    )
    id_field.setHelp(alg.tr("Field with the point id; empty = pid/id if present, else the row number 1..m."))
    alg.addParameter(id_field)
    numeric = compat.FIELD_NUMERIC
    if "Z" in optional_fields:
        z = QgsProcessingParameterField(
            _param_name(input_name, "Z_FIELD"),
            alg.tr("Elevation field (m)"),
            parentLayerParameterName=input_name,
            type=numeric,
            optional=True,
        )
        z.setHelp(
            alg.tr("Elevation of each point in metres; empty = a field named height/z/elevation if any.")
        )
        alg.addParameter(z)
    if "INCIDENCE" in optional_fields:
        inc = QgsProcessingParameterField(
            _param_name(input_name, "INCIDENCE_FIELD"),
            alg.tr("Incidence angle field (degrees)"),
            parentLayerParameterName=input_name,
            type=numeric,
            optional=True,
        )
        inc.setHelp(
            alg.tr(
                "Incidence angle per point in degrees; empty = a field named incidence_angle or incidence."
            )
        )
        alg.addParameter(inc)


def _string_param(alg, parameters, name, context):
    """A companion parameter's text ("" when the algorithm does not have it or it is unset)."""
    if alg.parameterDefinition(name) is None or parameters.get(name) is None:
        return ""
    return alg.parameterAsString(parameters, name, context) or ""


def _qvariant_to_python(value):
    if isinstance(value, QVariant):
        return None if value.isNull() else value.value()
    return value


def _fast_path_file(alg, parameters, input_name, context):
    """The OGR file behind the input when it may be read whole with OGR, else None."""
    value = parameters.get(input_name)
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        if (
            value.selectedFeaturesOnly
            or value.featureLimit not in (-1, None)
            or getattr(value, "filterExpression", "")
        ):
            return None
        value = value.source.staticValue() if hasattr(value.source, "staticValue") else value.source
    if isinstance(value, QgsVectorLayer):
        layer = value
    else:
        if not isinstance(value, str) or not value:
            return None
        if context.project() is None or not context.project().mapLayer(value):
            # A plain file path: no need to load it as a QGIS layer first.
            parts = QgsProviderRegistry.instance().decodeUri("ogr", value)
            path = parts.get("path")
            if path and os.path.isfile(path) and not parts.get("subset"):
                return {
                    "path": path,
                    "layer_name": parts.get("layerName") or None,
                    "layer_id": parts.get("layerId"),
                }
        layer = QgsProcessingUtils.mapLayerFromString(value, context)
        if layer is None:
            return None
    if not isinstance(layer, QgsVectorLayer) or layer.providerType() != "ogr" or layer.subsetString():
        return None
    if layer.isEditable() and layer.isModified():  # unsaved edits live only in QGIS
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = parts.get("path")
    if not path or parts.get("subset"):
        return None
    return {"path": path, "layer_name": parts.get("layerName") or None, "layer_id": parts.get("layerId")}


def _crs_text(crs):
    if not crs.isValid():
        return ""
    return crs.authid() or crs.toWkt()


def _read_with_iterator(alg, parameters, context, feedback, input_name, options):
    """Feature-iterator reader: any QGIS source, selection and filters honoured."""
    source = alg.parameterAsSource(parameters, input_name, context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, input_name))
    fields = source.fields()
    names = [f.name() for f in fields]
    total = source.featureCount()
    has_geometry = source.wkbType() not in (compat.WKB_NO_GEOMETRY, compat.WKB_UNKNOWN)
    request = QgsFeatureRequest()
    if not has_geometry:
        request.setFlags(compat.REQUEST_NO_GEOMETRY)
    rows = []
    fids = []
    x = []
    y = []
    for i, feature in enumerate(source.getFeatures(request)):
        if feedback is not None and i % 2000 == 0:
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled by the user.")
            if total > 0:
                feedback.setProgress(min(50.0, 50.0 * i / total))
        fids.append(feature.id())
        rows.append([_qvariant_to_python(v) for v in feature.attributes()])
        if has_geometry:
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                x.append(np.nan)
                y.append(np.nan)
            else:
                point = geometry.vertexAt(0)
                x.append(point.x())
                y.append(point.y())
    if not rows:
        raise QgsProcessingException(f"{input_name}: the layer has no features (empty layer).")
    # Selected features come in set order: feature-id order makes runs reproducible.
    order = np.argsort(np.asarray(fids, dtype=np.int64), kind="stable")
    if np.any(order != np.arange(order.size)):
        rows = [rows[i] for i in order]
        if has_geometry:
            x = [x[i] for i in order]
            y = [y[i] for i in order]
    columns = {}
    for index, (field, values) in enumerate(zip(fields, zip(*rows))):
        if field.isNumeric():
            try:
                columns[field.name()] = np.array(values, dtype=np.float64)
                if compat.field_kind(field) in ("int", "int64") and not np.any(
                    np.isnan(columns[field.name()])
                ):
                    columns[field.name()] = columns[field.name()].astype(np.int64)
                continue
            except (TypeError, ValueError):
                pass
        columns[names[index]] = np.array(values, dtype=object)
    crs = _crs_text(source.sourceCrs())
    if has_geometry:
        x = np.array(x, dtype=np.float64)
        y = np.array(y, dtype=np.float64)
    else:
        x, y, crs = core_io.coordinates_from_columns(columns, names)
    return core_io.ps_from_columns(columns, x, y, crs, field_order=names, **options)


def read_ps(alg, parameters, context, feedback, input_name="INPUT", require_projected=True):
    """Read the PS input of ``alg`` into a :class:`~core.psdata.PSDataset` (METHODS.md 1).

    Raises :class:`QgsProcessingException` naming the parameter and what is wrong (no date
    fields, duplicate dates, text in a date field, impossible date, empty layer, ...).
    The input is only read, never modified.
    """
    options = {
        "date_fields": _string_param(alg, parameters, _param_name(input_name, "DATE_FIELDS"), context),
        "id_field": _string_param(alg, parameters, _param_name(input_name, "ID_FIELD"), context) or None,
        "z_field": _string_param(alg, parameters, _param_name(input_name, "Z_FIELD"), context) or None,
        "incidence_field": _string_param(alg, parameters, _param_name(input_name, "INCIDENCE_FIELD"), context)
        or None,
    }
    try:
        fast = _fast_path_file(alg, parameters, input_name, context)
        if fast is not None:
            ps = core_io.read_ps_file(
                fast["path"],
                layer_name=fast["layer_name"],
                layer_index=fast["layer_id"],
                **options,
            )
        else:
            ps = _read_with_iterator(alg, parameters, context, feedback, input_name, options)
        if require_projected:
            ps, note = core_io.ensure_projected(ps)
            if note and feedback is not None:
                feedback.pushInfo(note)
    except ValueError as exc:
        raise QgsProcessingException(f"{input_name}: {exc}") from exc
    if feedback is not None:
        feedback.pushInfo(
            f"{input_name}: {ps.n_points} points, {ps.n_dates} dates "
            f"({ps.dates[0]} .. {ps.dates[-1]}), CRS {ps.crs or 'unknown'}"
        )
    return ps


def _qgs_field(name, kind):
    # integers are written 64-bit: ids and counts of large datasets overflow int32
    return compat.field(name, {"float": "float", "int": "int64", "str": "str"}[kind])


def _kind(values):
    kind = np.asarray(values).dtype.kind
    if kind == "f":
        return "float"
    if kind in "iub":
        return "int"
    return "str"


def _python_column(values):
    """A column as a Python list with NULL (None) for NaN, ready for setAttributes."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        obj = arr.astype(object)
        obj[np.isnan(arr)] = None
        return obj.tolist()
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64).tolist()
    return [None if v is None else str(v) for v in arr.tolist()]


def _fast_gpkg_destination(alg, parameters, output_name, context):
    """The GeoPackage file ``output_name`` points at when the direct writer may be used, else None.

    Only a plain ``.gpkg`` file path qualifies (what ``qgis_process``, the modeler and the
    dialog's "Save to file" pass); TEMPORARY_OUTPUT / ``memory:``, ``ogr:dbname=...`` (a table
    appended to an existing GeoPackage), ``postgres:`` and other providers, other formats, a
    ``|layername=`` suffix, an expression-based destination or an "append to layer"
    (field remapping) keep the Processing sink.
    """
    value = parameters.get(output_name)
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        if value.useRemapping():
            return None
        static = getattr(QgsProperty, "StaticProperty", None)
        if static is None:  # QGIS 4: the scoped enum only
            static = Qgis.PropertyType.Static
        if value.sink.propertyType() != static:
            return None
        value = value.sink.staticValue()
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


def _progress_for(feedback, output_name):
    if feedback is None:
        return None

    def progress(fraction, message=None):
        if feedback.isCanceled():
            raise QgsProcessingException(f"{output_name}: cancelled by the user.")
        if message:
            feedback.pushInfo(message)
        feedback.setProgress(100.0 * fraction)

    return progress


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
):
    """Write ``ps`` as a point layer to the Processing destination ``output_name``.

    The layer has ``id`` (the dataset's ids), then each of ``fields`` (name -> (m,) array of
    float, int or str; NaN written as NULL), then, when ``series`` (m, n) is given, one
    float field per date named ``f"{series_prefix}{YYYYMMDD}"``. Geometry and CRS are those
    of ``ps``. Returns the destination id (for a file, its path).

    A destination that is a plain GeoPackage file path is written directly
    (:func:`core.gpkg_writer.write_points_gpkg`: same fields, types, feature ids 1..m, CRS,
    NULLs, spatial index and extent as the sink would give, ~5-20x faster, built in a
    temporary file renamed into place at the end) unless ``fast_gpkg`` is False; every other
    destination goes through the Processing sink.
    """
    fields = fields or {}
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
    series_names = [date_field_name(date, series_prefix) for date in ps.dates] if series is not None else []
    names = ["id", *fields, *series_names]
    lowered = {n.lower() for n in names}
    reserved = {gpkg_writer.FID_COLUMN, gpkg_writer.GEOMETRY_COLUMN}
    usable = len(lowered) == len(names) and not lowered & reserved
    path = _fast_gpkg_destination(alg, parameters, output_name, context) if fast_gpkg and usable else None
    if path is not None:
        columns = [("id", _kind(ps.ids), ps.ids)]
        columns += [(name, _kind(values), values) for name, values in fields.items()]
        try:
            gpkg_writer.write_points_gpkg(
                path,
                ps.x,
                ps.y,
                ps.crs,
                columns,
                series=(series_names, series) if series is not None else None,
                progress=_progress_for(feedback, output_name),
            )
        except (ValueError, OSError, RuntimeError) as exc:
            raise QgsProcessingException(f"{output_name}: cannot write {path}: {exc}") from exc
        _load_hint_vector(context, path)
        return path
    return _write_ps_sink(alg, parameters, context, output_name, ps, fields, series, series_names, feedback)


def _write_ps_sink(alg, parameters, context, output_name, ps, fields, series, series_names, feedback):
    """:func:`write_ps` through a Processing sink (any destination QGIS supports)."""
    m = ps.n_points
    qfields = QgsFields()
    qfields.append(_qgs_field("id", _kind(ps.ids)))
    columns = [_python_column(ps.ids)]
    for name, values in fields.items():
        qfields.append(_qgs_field(name, _kind(values)))
        columns.append(_python_column(values))
    for name in series_names:
        qfields.append(_qgs_field(name, "float"))
    crs = QgsCoordinateReferenceSystem(ps.crs) if ps.crs else QgsCoordinateReferenceSystem()
    sink, dest_id = alg.parameterAsSink(parameters, output_name, context, qfields, compat.WKB_POINT, crs)
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, output_name))
    head = [list(row) for row in zip(*columns)]
    if series is not None:
        obj = series.astype(object)
        obj[np.isnan(series)] = None
        series_rows = obj.tolist()
    xs = ps.x.tolist()
    ys = ps.y.tolist()
    batch = []
    for i in range(m):
        feature = QgsFeature(qfields)
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(xs[i], ys[i])))
        feature.setAttributes(head[i] + series_rows[i] if series is not None else head[i])
        batch.append(feature)
        if len(batch) >= BATCH_SIZE:
            if not sink.addFeatures(batch, compat.SINK_FAST_INSERT):
                raise QgsProcessingException(f"{output_name}: writing features failed: {sink.lastError()}")
            batch = []
            if feedback is not None:
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user.")
                feedback.setProgress(100.0 * i / m)
    if batch and not sink.addFeatures(batch, compat.SINK_FAST_INSERT):
        raise QgsProcessingException(f"{output_name}: writing features failed: {sink.lastError()}")
    return dest_id
