"""The kit's PS source: its parameters and reading it into a PSDataset (METHODS.md section 1).

Every algorithm that reads PS data calls :func:`add_ps_input_parameters` in ``initAlgorithm``
and :func:`read_ps` in ``compute``; results go out through :func:`outputs.write_ps`.

Reading takes the fast path (OGR Arrow/NumPy batches, ``core/ps_io.py``) when the input is a
file-backed OGR layer used whole (no selection, no subset filter, no feature-source limit or
filter); otherwise it iterates features through the Processing source, which honours
"selected features only". Both paths end in :func:`core.ps_io.ps_from_columns`, so they give
identical arrays.

Geographic input where metres are needed: the points are reprojected to the UTM zone of
their centroid (WGS84 UTM, EPSG:326xx/327xx), chosen automatically rather than from the
project CRS, so that ``qgis_process`` runs and desktop runs give the same numbers; the
choice is reported in the log.
"""

import os

import numpy as np
from qgis.core import (
    QgsFeatureRequest,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from .. import compat
from ..core import ps_io as core_io
from ..core import units
from ..core.psdata import first_duplicate

BATCH_SIZE = 5000


def _param_name(input_name, suffix):
    """Companion parameter names: DATE_FIELDS for INPUT, else <INPUT>_DATE_FIELDS."""
    return suffix if input_name == "INPUT" else f"{input_name}_{suffix}"


def add_ps_input_parameters(alg, input_name="INPUT", optional_fields=("Z", "INCIDENCE"), description=None):
    """Add the PS input parameters to ``alg`` (call from ``initAlgorithm``).

    Adds ``input_name`` (point feature source), ``DATE_FIELDS`` (optional string),
    ``UNIT`` (mm / cm / m of the date fields, default mm), ``ID_FIELD`` (optional field)
    and, as asked in ``optional_fields``, ``Z_FIELD`` and ``INCIDENCE_FIELD`` (optional numeric
    fields). For an input not called ``INPUT`` the companions are prefixed: ``<input_name>_DATE_FIELDS`` etc.
    """
    source = QgsProcessingParameterFeatureSource(
        input_name,
        alg.tr(description or "PS points (one field per date)"),
        [compat.SOURCE_VECTOR_POINT, compat.SOURCE_VECTOR],
    )
    source.setHelp(
        alg.tr(
            "Point layer or table of PS/SBAS points with one displacement field per acquisition date "
            "(cumulative; mm unless the unit says otherwise). GeoPackage, Shapefile, GeoJSON, CSV (EGMS: "
            "easting/northing, also inside the downloaded ZIP; longitude/latitude) and StaMPS-Visualizer "
            "CSV are read."
        )
    )
    alg.addParameter(source)
    alg.add_text(
        _param_name(input_name, "DATE_FIELDS"), "Date fields (empty = detect)",
        "Leave empty to detect fields named like D20101122, D_20101122, 20101122 or 2010-11-22. "
        "Otherwise a comma list of field names, a prefix (e.g. D_) or a regular expression (re:...).",
    )
    alg.add_choice(
        _param_name(input_name, "UNIT"), "Unit of the displacement fields", units.UNITS,
        "mm (EGMS, StaMPS), cm (e.g. SARscape / P-SBAS products) or m. The series are converted to mm "
        "as they are read, so every threshold and output is in mm. A warning is given when the values "
        "look like another unit (the layer's velocity field disagrees with the series, or the series "
        "are implausibly smooth or rough for the unit).",
    )
    alg.add_field(
        _param_name(input_name, "ID_FIELD"), "Point id field", input_name,
        "Field with the point id; empty = pid/id if present, else the row number 1..m. Outputs keep "
        "its name.",
    )
    if "Z" in optional_fields:
        alg.add_field(
            _param_name(input_name, "Z_FIELD"), "Elevation field (m)", input_name,
            "Elevation of each point in metres; empty = the first field named height, height_ortho, "
            "height_ellipse, elevation, elev, topo, hgt, dem or z (any case) if any.",
            numeric=True, advanced=True,
        )
    if "INCIDENCE" in optional_fields:
        alg.add_field(
            _param_name(input_name, "INCIDENCE_FIELD"), "Incidence angle field (degrees)", input_name,
            "Incidence angle per point in degrees; empty = a field named incidence_angle or incidence.",
            numeric=True, advanced=True,
        )


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
                if geometry.isMultipart() and geometry.constGet().numGeometries() != 1:
                    raise QgsProcessingException(
                        f"{input_name}: feature {feature.id()} is a multi-point with "
                        f"{geometry.constGet().numGeometries()} parts; a PS is one point: split it (Vector > "
                        "Geometry Tools > Multipart to Singleparts)"
                    )
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


def _unit(alg, parameters, input_name, context):
    name = _param_name(input_name, "UNIT")
    if alg.parameterDefinition(name) is None or parameters.get(name) is None:
        return "mm"
    return units.UNITS[alg.parameterAsEnum(parameters, name, context)]


def read_ps(alg, parameters, context, feedback, input_name="INPUT", require_projected=True):
    """Read the PS input of ``alg`` into a :class:`~core.psdata.PSDataset` (METHODS.md 1).

    The series come in mm whatever the ``UNIT`` parameter says they are in; when the values
    look like another unit (:func:`core.units.unit_warnings`) a warning is pushed.
    Raises :class:`QgsProcessingException` naming the parameter and what is wrong (no date
    fields, duplicate dates, text in a date field, impossible date, empty layer, ...).
    The input is only read, never modified.
    """
    unit = _unit(alg, parameters, input_name, context)
    options = {
        "date_fields": _string_param(alg, parameters, _param_name(input_name, "DATE_FIELDS"), context),
        "id_field": _string_param(alg, parameters, _param_name(input_name, "ID_FIELD"), context) or None,
        "z_field": _string_param(alg, parameters, _param_name(input_name, "Z_FIELD"), context) or None,
        "incidence_field": _string_param(alg, parameters, _param_name(input_name, "INCIDENCE_FIELD"), context)
        or None,
        "unit": unit,
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
    duplicate = first_duplicate(ps.ids)
    if duplicate is not None and feedback is not None:
        feedback.pushWarning(
            f"{input_name}: the id field {ps.id_field or 'id'!r} holds {duplicate[0]!r} at rows "
            f"{', '.join(map(str, duplicate[1][:5]))}: ids are not unique, so outputs cannot be joined back "
            "by id and a decomposition file cannot be paired with this layer"
        )
    if feedback is not None:
        feedback.pushInfo(
            f"{input_name}: {ps.n_points} points, {ps.n_dates} dates "
            f"({ps.dates[0]} .. {ps.dates[-1]}), CRS {ps.crs or 'unknown'}, series read in {unit}"
            + ("" if unit == "mm" else " and converted to mm")
        )
        for warning in units.unit_warnings(ps, unit):
            feedback.pushWarning(f"{_param_name(input_name, 'UNIT')}: {warning}")
    return ps
