"""The kit's inputs besides the PS source (``ps_io.py``): DEM, stable area (polygons and/or a 0/1
field), decomposition file, component lists.

Declaring (in ``initAlgorithm``)::

    add_ps_input_parameters(self, "INPUT")                  # ps_io.py
    inputs.add_dem_parameters(self, "Elevation raster sampled at the points.")   # DEM, DEM_BAND
    inputs.add_stable_area_parameters(self, "STABLE_AREA", "STABLE_FIELD", "Polygons of ...")
    inputs.add_decomposition_parameter(self, "DECOMPOSITION", optional=True)

Reading (in ``compute``)::

    z = inputs.elevation(self, parameters, context, ps, feedback)       # DEM, else ps.z
    mask = inputs.stable_mask(self, parameters, context, ps, feedback, "STABLE_AREA", "STABLE_FIELD")
    dec, ids = inputs.read_decomposition(self, parameters, context, ps, "DECOMPOSITION")
    errors = inputs.component_list(self, parameters, context, "ERROR_COMPONENTS")

Every error names the parameter, the field and the value; rows are 1-based.
"""

import datetime

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
)

from .. import compat
from ..core.components import parse_components
from ..core.groundwater_io import parse_date_text
from ..core.pca import Decomposition, decompose
from ..core.psdata import first_duplicate
from ..core.raster_sampling import sample_raster

DEM = "DEM"
DEM_BAND = "DEM_BAND"

# --- DEM ------------------------------------------------------------------------------------------


def add_dem_parameters(alg, help_text):
    """Add the optional DEM raster and its band (``DEM``, ``DEM_BAND``) to ``alg``."""
    alg.add(
        QgsProcessingParameterRasterLayer(DEM, alg.tr("DEM (elevation raster)"), optional=True), help_text
    )
    alg.add(
        QgsProcessingParameterBand(
            DEM_BAND, alg.tr("DEM band"), defaultValue=1, parentLayerParameterName=DEM, optional=True
        ),
        "Band of the DEM holding the elevation (default 1).",
        advanced=True,
    )


def elevation(alg, parameters, context, ps, feedback):
    """(m,) elevation in metres: the DEM sampled at the points (nearest pixel) when given, else
    the layer's elevation field (``ps.z``, may be None). Points off the DEM or on nodata get NaN
    (a warning); a DEM that no point falls on is an error."""
    dem = alg.parameterAsRasterLayer(parameters, DEM, context)
    if dem is None:
        return ps.z
    if dem.providerType() != "gdal":
        raise QgsProcessingException(f"{DEM}: layer {dem.name()!r} is not a GDAL raster file")
    band = alg.parameterAsInt(parameters, DEM_BAND, context) or 1
    try:
        z = sample_raster(dem.source(), ps.x, ps.y, ps.crs or dem.crs().toWkt(), band=band)
    except ValueError as exc:
        raise QgsProcessingException(f"{DEM}: {exc}") from exc
    outside = int(np.sum(~np.isfinite(z)))
    if outside == z.size:
        raise QgsProcessingException(f"{DEM}: no point falls on a valid pixel of {dem.name()!r}")
    if outside:
        feedback.pushWarning(f"{DEM}: {outside} points fall outside the DEM or on nodata")
    return z


# --- decomposition ----------------------------------------------------------------------------------


def add_decomposition_parameter(alg, name, help_text, optional=True):
    alg.add(
        QgsProcessingParameterFile(
            name, alg.tr("Decomposition file (from PCA decomposition)"), extension="npz", optional=optional
        ),
        help_text,
    )


def decompose_points(alg, ps, k, z, k_name, progress=None, matrix=None):
    """PCA of the layer's series (METHODS 2) with errors naming the parameter at fault: ``k_name``
    for a bad number of components (0 = the suggestion), the input otherwise. ``matrix``: the
    series as a dask array to compute on a cluster (``cluster.py``), else ``ps.displacement_mm``."""
    if k > ps.n_dates:
        raise QgsProcessingException(
            f"{k_name}: {k} components asked but the layer has only {ps.n_dates} dates"
        )
    with alg.core_errors():
        try:
            return decompose(
                ps.displacement_mm if matrix is None else matrix,
                k=k or None,
                dates=ps.dates,
                ids=ps.ids,
                x=ps.x,
                y=ps.y,
                z=z,
                progress=progress,
            )
        except ValueError as exc:
            if str(exc).startswith("k:"):
                raise QgsProcessingException(f"{k_name}: {exc}") from exc
            raise


def _differing_dates(file_dates, layer_dates):
    """Which dates differ, in words: the first few on each side."""
    only_file = np.setdiff1d(file_dates, layer_dates)
    only_layer = np.setdiff1d(layer_dates, file_dates)
    parts = []
    if only_file.size:
        parts.append(
            f"only in the file: {', '.join(str(d) for d in only_file[:3])}"
            + (f" and {only_file.size - 3} more" if only_file.size > 3 else "")
        )
    if only_layer.size:
        parts.append(
            f"only in the layer: {', '.join(str(d) for d in only_layer[:3])}"
            + (f" and {only_layer.size - 3} more" if only_layer.size > 3 else "")
        )
    return "; ".join(parts) or "the same dates in another order"


def read_decomposition(alg, parameters, context, ps, name, input_name="INPUT", feedback=None):
    """``(Decomposition, ids to match)`` from the file of parameter ``name``, or None when empty.

    The file's dates must be the layer's (the error says which differ); the layer's ids must be
    unique to be paired with the file's rows."""
    path = alg.parameterAsFile(parameters, name, context)
    if not path:
        return None
    try:
        dec = Decomposition.load(path)
    except ValueError as exc:
        raise QgsProcessingException(f"{name}: {exc}") from exc
    if dec.dates is not None and not np.array_equal(dec.dates, ps.dates):
        raise QgsProcessingException(
            f"{name}: its {dec.dates.size} dates differ from the {input_name} layer's {ps.n_dates} dates "
            f"({_differing_dates(dec.dates, ps.dates)}); run PCA decomposition on this layer first"
        )
    duplicate = first_duplicate(ps.ids)
    if dec.ids is not None and duplicate is not None:
        value, rows = duplicate
        field = getattr(ps, "id_field", None) or "row number"
        raise QgsProcessingException(
            f"{input_name}: id field {field!r} holds {value!r} at rows {', '.join(map(str, rows))}; "
            f"the ids must "
            f"be unique to pair the points with the rows of {name}. Choose a unique ID_FIELD."
        )
    ids = ps.ids
    if dec.ids is not None and np.asarray(dec.ids).dtype.kind != np.asarray(ids).dtype.kind:
        # The file stores text ids as str: compare both sides as text.
        dec.ids = np.asarray(dec.ids).astype(str)
        ids = np.asarray(ids).astype(str)
    if feedback is not None:
        feedback.pushInfo(f"Decomposition file: k = {dec.k}, classes {', '.join(dec.labels)}.")
    return dec, ids


# --- component lists --------------------------------------------------------------------------------


def component_list(alg, parameters, context, name, k=None):
    """The component numbers typed in string parameter ``name`` (None when empty)."""
    try:
        return parse_components(alg.parameterAsString(parameters, name, context), name, k)
    except ValueError as exc:
        raise QgsProcessingException(str(exc)) from exc


# --- stable area ------------------------------------------------------------------------------------


def add_stable_area_parameters(alg, area_name, field_name, area_help, field_help, input_name="INPUT"):
    alg.add(
        QgsProcessingParameterFeatureSource(
            area_name, alg.tr("Stable area (polygons)"), [compat.SOURCE_VECTOR_POLYGON], optional=True
        ),
        area_help,
    )
    alg.add(
        QgsProcessingParameterField(
            field_name,
            alg.tr("Stable-point field (0/1)"),
            parentLayerParameterName=input_name,
            type=compat.FIELD_ANY,
            optional=True,
        ),
        field_help,
    )


def stable_mask(alg, parameters, context, ps, feedback, area_name, field_name, input_name="INPUT"):
    """(m,) bool or None: PS inside the stable polygons ``area_name`` and/or flagged by ``field_name``.

    Polygons in another CRS are reprojected to the PS CRS. The field is true / non-zero on
    stable points. With both, a point must satisfy both.
    """
    mask = None
    field = alg.parameterAsString(parameters, field_name, context)
    if field:
        values = ps.attributes.get(field)
        if values is None:
            values = _field_values(alg, parameters, context, field, ps, field_name, input_name)
        mask = _as_bool(values, field, field_name)
    source = alg.parameterAsSource(parameters, area_name, context)
    if source is not None:
        inside = points_in_polygons(source, context, ps, area_name)
        if not inside.any():
            raise QgsProcessingException(f"{area_name}: no PS point lies inside the polygons")
        mask = inside if mask is None else (mask & inside)
    if mask is not None and feedback is not None:
        feedback.pushInfo(f"Stable area: {int(mask.sum())} of {ps.n_points} points.")
    if mask is not None and not mask.any():
        raise QgsProcessingException(f"{field_name}: no PS point is marked stable")
    return mask


def _as_bool(values, field, field_name):
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        values = values.astype(np.float64)
        return np.isfinite(values) & (values != 0)
    text = np.char.lower(np.asarray(values, dtype=str))
    known = np.isin(text, ["1", "0", "true", "false", "yes", "no", "t", "f", "none", "null", ""])
    if not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise QgsProcessingException(
            f"{field_name}: field {field!r} holds {text[row]!r} at row {row + 1}, expected 0/1"
        )
    return np.isin(text, ["1", "true", "yes", "t"])


def _field_values(alg, parameters, context, field, ps, field_name, input_name):
    """A field's values in the order of ``ps``, read through the source."""
    source = alg.parameterAsSource(parameters, input_name, context)
    index = source.fields().lookupField(field)
    if index < 0:
        raise QgsProcessingException(f"{field_name}: no field {field!r} in the PS layer")
    if source.featureCount() != ps.n_points:
        raise QgsProcessingException(
            f"{field_name}: the layer has {source.featureCount()} features but "
            f"{ps.n_points} points were read; use the field without a selection"
        )
    request = QgsFeatureRequest().setFlags(compat.REQUEST_NO_GEOMETRY).setSubsetOfAttributes([index])
    values = [f.attribute(index) for f in source.getFeatures(request)]
    return np.array([0 if v is None or str(v) in ("NULL", "") else v for v in values], dtype=object).astype(
        str
    )


def points_in_polygons(source, context, ps, parameter):
    """(m,) bool: the PS points inside the polygons of ``source`` (reprojected to the PS CRS)."""
    target = QgsCoordinateReferenceSystem(ps.crs) if ps.crs else source.sourceCrs()
    transform = None
    if source.sourceCrs().isValid() and target.isValid() and source.sourceCrs() != target:
        transform = QgsCoordinateTransform(source.sourceCrs(), target, context.transformContext())
    parts = []
    for feature in source.getFeatures(QgsFeatureRequest().setNoAttributes()):
        geom = QgsGeometry(feature.geometry())
        if geom.isNull() or geom.isEmpty():
            continue
        if transform is not None:
            geom.transform(transform)
        parts.append(geom)
    if not parts:
        raise QgsProcessingException(f"{parameter}: the layer has no polygon")
    union = QgsGeometry.unaryUnion(parts)
    box = union.boundingBox()
    inside = np.zeros(ps.n_points, dtype=bool)
    candidates = np.flatnonzero(
        (ps.x >= box.xMinimum())
        & (ps.x <= box.xMaximum())
        & (ps.y >= box.yMinimum())
        & (ps.y <= box.yMaximum())
    )
    # A prepared geometry makes each point test cheap; the bounding box skips most points.
    engine = QgsGeometry.createGeometryEngine(union.constGet())
    engine.prepareGeometry()
    for i in candidates.tolist():
        point = QgsGeometry.fromPointXY(QgsPointXY(float(ps.x[i]), float(ps.y[i])))
        inside[i] = engine.intersects(point.constGet())
    return inside


# --- attribute values of table rows (validatebenchmarks, amlstm_io) ----------------------------


def is_null(value):
    """True for None and for QGIS's NULL variants (anything with a true ``isNull()``)."""
    return value is None or (hasattr(value, "isNull") and value.isNull())


def attribute_date(value, parameter, row=None):
    """A QDate / QDateTime / date / datetime / 'YYYY-MM-DD' / 'YYYYMMDD' / 'DD-MM-YYYY' /
    'YYYY-MM' attribute as numpy datetime64[D]; a clear error naming ``parameter`` (and the
    1-based ``row``) otherwise."""
    if hasattr(value, "toPyDateTime"):
        value = value.toPyDateTime()
    elif hasattr(value, "toPyDate"):
        value = value.toPyDate()
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return np.datetime64(value, "D")
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return parse_date_text(text, parameter, row)
    except ValueError:
        where = f" at row {row}" if row is not None else ""
        raise QgsProcessingException(f"{parameter}: cannot read {value!r}{where} as a date") from None


def attribute_float(value, parameter, row=None, unit=""):
    """A number attribute as float; NULL or empty text -> NaN; a clear error otherwise."""
    if is_null(value) or (isinstance(value, str) and not value.strip()):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        where = f" at row {row}" if row is not None else ""
        what = f"a number ({unit})" if unit else "a number"
        raise QgsProcessingException(f"{parameter}: cannot read {value!r}{where} as {what}") from None
