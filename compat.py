"""QGIS 3.22 (Qt5) to QGIS 4 (Qt6) compatibility: every enum value the plugin uses, resolved once.

QGIS 3.30-3.38 moved many enums into the ``Qgis`` namespace (``Qgis.WkbType``,
``Qgis.ProcessingSourceType``, ``Qgis.FeatureRequestFlag``, ...) and made ``QgsField`` take a
``QMetaType.Type``; QGIS 4 (PyQt6) drops the old unscoped aliases (``QgsWkbTypes.Point``,
``QgsProcessing.TypeVectorPoint``, ``QVariant.Double``, ...). Each name below is looked up at
import by a feature test (``getattr`` chain): the new scoped name when the running QGIS has it,
else the scoped spelling that 3.22 also accepts, else the legacy unscoped alias. No version
numbers are compared, so a QGIS that backports a name is handled too.

Everything outside this module imports these names instead of spelling QGIS/Qt enums itself;
``tests/test_compat.py`` enforces it.
"""

from qgis.core import (
    Qgis,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsMapLayerProxyModel,
    QgsProcessing,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.gui import QgsVertexMarker
from qgis.PyQt import QtCore, QtGui, QtWidgets


def resolve(*candidates):
    """The first of ``(owner, "Dotted.Path")`` candidates that the running QGIS/Qt has.

    Raises AttributeError naming every spelling tried, so a name that vanished in some QGIS
    release fails at plugin load with a message that says what to add here.
    """
    for owner, path in candidates:
        value = owner
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value
    tried = ", ".join(f"{getattr(owner, '__name__', owner)}.{path}" for owner, path in candidates)
    raise AttributeError(f"none of {tried} exists in this QGIS")


# --- Processing parameter types (Qgis.* since 3.36) --------------------------------------------

NUMBER_INTEGER = resolve(
    (Qgis, "ProcessingNumberParameterType.Integer"),
    (QgsProcessingParameterNumber, "Type.Integer"),
    (QgsProcessingParameterNumber, "Integer"),
)
NUMBER_DOUBLE = resolve(
    (Qgis, "ProcessingNumberParameterType.Double"),
    (QgsProcessingParameterNumber, "Type.Double"),
    (QgsProcessingParameterNumber, "Double"),
)

SOURCE_VECTOR_POINT = resolve(
    (Qgis, "ProcessingSourceType.VectorPoint"),
    (QgsProcessing, "SourceType.TypeVectorPoint"),
    (QgsProcessing, "TypeVectorPoint"),
)
SOURCE_VECTOR_LINE = resolve(
    (Qgis, "ProcessingSourceType.VectorLine"),
    (QgsProcessing, "SourceType.TypeVectorLine"),
    (QgsProcessing, "TypeVectorLine"),
)
SOURCE_VECTOR_POLYGON = resolve(
    (Qgis, "ProcessingSourceType.VectorPolygon"),
    (QgsProcessing, "SourceType.TypeVectorPolygon"),
    (QgsProcessing, "TypeVectorPolygon"),
)
SOURCE_VECTOR_ANY_GEOMETRY = resolve(
    (Qgis, "ProcessingSourceType.VectorAnyGeometry"),
    (QgsProcessing, "SourceType.TypeVectorAnyGeometry"),
    (QgsProcessing, "TypeVectorAnyGeometry"),
)
SOURCE_FILE = resolve(  # plain files (multiple-layer parameters of file paths)
    (Qgis, "ProcessingSourceType.File"),
    (QgsProcessing, "SourceType.TypeFile"),
    (QgsProcessing, "TypeFile"),
)
SOURCE_VECTOR = resolve(  # any vector, tables without geometry included
    (Qgis, "ProcessingSourceType.Vector"),
    (QgsProcessing, "SourceType.TypeVector"),
    (QgsProcessing, "TypeVector"),
)

FIELD_ANY = resolve(
    (Qgis, "ProcessingFieldParameterDataType.Any"),
    (QgsProcessingParameterField, "DataType.Any"),
    (QgsProcessingParameterField, "Any"),
)
FIELD_NUMERIC = resolve(
    (Qgis, "ProcessingFieldParameterDataType.Numeric"),
    (QgsProcessingParameterField, "DataType.Numeric"),
    (QgsProcessingParameterField, "Numeric"),
)
FIELD_STRING = resolve(
    (Qgis, "ProcessingFieldParameterDataType.String"),
    (QgsProcessingParameterField, "DataType.String"),
    (QgsProcessingParameterField, "String"),
)
FIELD_DATETIME = resolve(
    (Qgis, "ProcessingFieldParameterDataType.DateTime"),
    (QgsProcessingParameterField, "DataType.DateTime"),
    (QgsProcessingParameterField, "DateTime"),
)

FILE_BEHAVIOR_FILE = resolve(
    (Qgis, "ProcessingFileParameterBehavior.File"),
    (QgsProcessingParameterFile, "Behavior.File"),
    (QgsProcessingParameterFile, "File"),
)
FILE_BEHAVIOR_FOLDER = resolve(
    (Qgis, "ProcessingFileParameterBehavior.Folder"),
    (QgsProcessingParameterFile, "Behavior.Folder"),
    (QgsProcessingParameterFile, "Folder"),
)

PARAMETER_FLAG_ADVANCED = resolve(
    (Qgis, "ProcessingParameterFlag.Advanced"),
    (QgsProcessingParameterDefinition, "Flag.FlagAdvanced"),
    (QgsProcessingParameterDefinition, "FlagAdvanced"),
)
PARAMETER_FLAG_OPTIONAL = resolve(
    (Qgis, "ProcessingParameterFlag.Optional"),
    (QgsProcessingParameterDefinition, "Flag.FlagOptional"),
    (QgsProcessingParameterDefinition, "FlagOptional"),
)

# --- Geometry types (Qgis.WkbType since 3.30) ---------------------------------------------------

WKB_POINT = resolve((Qgis, "WkbType.Point"), (QgsWkbTypes, "Type.Point"), (QgsWkbTypes, "Point"))
WKB_NO_GEOMETRY = resolve(
    (Qgis, "WkbType.NoGeometry"), (QgsWkbTypes, "Type.NoGeometry"), (QgsWkbTypes, "NoGeometry")
)
WKB_UNKNOWN = resolve((Qgis, "WkbType.Unknown"), (QgsWkbTypes, "Type.Unknown"), (QgsWkbTypes, "Unknown"))

GEOMETRY_POINT = resolve(  # QgsVectorLayer.geometryType() of point layers
    (Qgis, "GeometryType.Point"),
    (QgsWkbTypes, "GeometryType.PointGeometry"),
    (QgsWkbTypes, "PointGeometry"),
)

# --- Layer filters of QgsMapLayerComboBox (Qgis.LayerFilter since 3.34) --------------------------

LAYER_FILTER_POINT = resolve(
    (Qgis, "LayerFilter.PointLayer"),
    (QgsMapLayerProxyModel, "Filter.PointLayer"),
    (QgsMapLayerProxyModel, "PointLayer"),
)
LAYER_FILTER_VECTOR = resolve(  # any vector layer, tables without geometry included
    (Qgis, "LayerFilter.VectorLayer"),
    (QgsMapLayerProxyModel, "Filter.VectorLayer"),
    (QgsMapLayerProxyModel, "VectorLayer"),
)

# QgsVertexMarker::IconType: scoped in QGIS 4, unscoped aliases in 3.x.
VERTEX_ICON_CIRCLE = resolve((QgsVertexMarker, "IconType.ICON_CIRCLE"), (QgsVertexMarker, "ICON_CIRCLE"))

# --- Feature sinks and requests -------------------------------------------------------------------

# QgsFeatureSink::Flag stayed in its class (QGIS 4 too); only the unscoped alias goes.
SINK_FAST_INSERT = resolve((QgsFeatureSink, "Flag.FastInsert"), (QgsFeatureSink, "FastInsert"))
# QgsFeatureRequest::Flag became Qgis::FeatureRequestFlag in 3.36.
REQUEST_NO_GEOMETRY = resolve(
    (Qgis, "FeatureRequestFlag.NoGeometry"),
    (QgsFeatureRequest, "Flag.NoGeometry"),
    (QgsFeatureRequest, "NoGeometry"),
)

# --- Qt classes that moved ------------------------------------------------------------------------

# QAction lives in QtGui on Qt6 and in QtWidgets on Qt5.
QAction = resolve((QtGui, "QAction"), (QtWidgets, "QAction"))

# --- Attribute fields -----------------------------------------------------------------------------

_QMetaType = QtCore.QMetaType
_QVariant = getattr(QtCore, "QVariant", None)

# kind -> (QMetaType.Type member, QVariant member); both enums share the same numbers in Qt5.
_FIELD_TYPE_NAMES = {
    "float": ("Double", "Double"),
    "int": ("Int", "Int"),
    "int64": ("LongLong", "LongLong"),
    "str": ("QString", "String"),
    "date": ("QDate", "Date"),
    "datetime": ("QDateTime", "DateTime"),
    "bool": ("Bool", "Bool"),
}


def _field_takes_metatype():
    """QgsField speaks QMetaType.Type from QGIS 3.38 (and only that on Qt6); 3.22 speaks QVariant.Type."""
    if _QVariant is None or not hasattr(_QVariant, "Double"):  # PyQt6: QVariant.Type is gone
        return True
    return isinstance(QgsField().type(), _QMetaType.Type)


FIELD_USES_METATYPE = _field_takes_metatype()
FIELD_TYPES = {
    kind: getattr(_QMetaType.Type, meta) if FIELD_USES_METATYPE else getattr(_QVariant, variant)
    for kind, (meta, variant) in _FIELD_TYPE_NAMES.items()
}


def _as_int(value):
    """An enum member as its number (PyQt6 enums are Python enums, PyQt5/sip ones are ints)."""
    return int(getattr(value, "value", value))


_KIND_BY_NUMBER = {_as_int(value): kind for kind, value in FIELD_TYPES.items()}


def field(name, kind, length=0, precision=0):
    """A QgsField of ``kind``: "float", "int", "int64", "str", "date", "datetime" or "bool".

    Typed with QMetaType.Type where QgsField takes it (QGIS >= 3.38, Qt6), else QVariant.Type.
    """
    try:
        type_ = FIELD_TYPES[kind]
    except KeyError:
        raise ValueError(f"kind: unknown field kind {kind!r}; one of {', '.join(FIELD_TYPES)}") from None
    return QgsField(name, type_, "", int(length), int(precision))


def field_kind(qgs_field):
    """The kind of an existing QgsField (see :func:`field`), or None for any other type."""
    return _KIND_BY_NUMBER.get(_as_int(qgs_field.type()))
