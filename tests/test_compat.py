"""compat.py (plugin root): every name works in the running QGIS, and nothing else spells legacy enums.

The values are checked by what QGIS does with them (parameter definitions, script code, geometry
type names, fields written and read back), not only by their numbers. The static scan keeps the
plugin free of the unscoped enum aliases that QGIS 4 / PyQt6 removed, so a regression shows up
here on QGIS 3.22 already.
"""

import ast
import re

import pytest
from conftest import REPO
from qgis.core import (
    Qgis,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QMetaType, QObject

from subsidence_lab import compat


def _number(value):
    return int(getattr(value, "value", value))


# --- enum values ------------------------------------------------------------------------------


def test_number_types_build_number_parameters():
    for value, code in ((compat.NUMBER_INTEGER, 0), (compat.NUMBER_DOUBLE, 1)):
        param = QgsProcessingParameterNumber("N", "n", type=value)
        assert param.dataType() == value
        assert _number(param.dataType()) == code  # Integer = 0, Double = 1 in every QGIS 3/4
    assert compat.NUMBER_INTEGER != compat.NUMBER_DOUBLE


@pytest.mark.parametrize(
    "name, expected",
    [
        ("SOURCE_VECTOR_POINT", "VectorPoint"),
        ("SOURCE_VECTOR_LINE", "VectorLine"),
        ("SOURCE_VECTOR_POLYGON", "VectorPolygon"),
        ("SOURCE_VECTOR_ANY_GEOMETRY", "VectorAnyGeometry"),
        ("SOURCE_VECTOR", "Vector"),
    ],
)
def test_source_types_build_sources_and_sinks(name, expected):
    value = getattr(compat, name)
    source = QgsProcessingParameterFeatureSource("S", "s", [value])
    assert list(source.dataTypes()) == [value]
    sink = QgsProcessingParameterFeatureSink("O", "o", value)
    assert sink.dataType() == value
    # 3.22 names them TypeVectorPoint, later releases may drop the prefix.
    assert re.fullmatch(f"(Type)?{expected}", QgsProcessing.sourceTypeToString(value))


@pytest.mark.parametrize(
    "name, script_word",
    [
        ("FIELD_ANY", ""),
        ("FIELD_NUMERIC", "numeric"),
        ("FIELD_STRING", "string"),
        ("FIELD_DATETIME", "datetime"),
    ],
)
def test_field_data_types_build_field_parameters(name, script_word):
    value = getattr(compat, name)
    param = QgsProcessingParameterField("F", "f", parentLayerParameterName="INPUT", type=value)
    assert param.dataType() == value
    words = param.asScriptCode().split()
    assert words[-1] == "INPUT"
    assert words[-2] == (script_word or "##F=field")


def test_file_behaviors_build_file_parameters():
    for value, word in ((compat.FILE_BEHAVIOR_FILE, "file"), (compat.FILE_BEHAVIOR_FOLDER, "folder")):
        param = QgsProcessingParameterFile("F", "f", behavior=value)
        assert param.behavior() == value
        assert param.asScriptCode() == f"##F={word}"


def test_advanced_flag_sets_and_reads_back():
    param = QgsProcessingParameterNumber("N", "n", type=compat.NUMBER_DOUBLE)
    assert not (param.flags() & compat.PARAMETER_FLAG_ADVANCED)
    param.setFlags(param.flags() | compat.PARAMETER_FLAG_ADVANCED)
    assert param.flags() & compat.PARAMETER_FLAG_ADVANCED
    assert _number(compat.PARAMETER_FLAG_ADVANCED) == 1 << 1


def test_wkb_types_are_the_geometry_types_qgis_names():
    assert QgsWkbTypes.displayString(compat.WKB_POINT) == "Point"
    assert QgsWkbTypes.displayString(compat.WKB_NO_GEOMETRY) == "NoGeometry"
    assert QgsWkbTypes.displayString(compat.WKB_UNKNOWN) == "Unknown"
    assert not QgsWkbTypes.hasZ(compat.WKB_POINT) and not QgsWkbTypes.isMultiType(compat.WKB_POINT)


def test_sink_flag_and_request_flag_work_on_real_layers(tmp_path):
    assert _number(compat.SINK_FAST_INSERT) == 1 << 1  # QgsFeatureSink::FastInsert
    layer = QgsVectorLayer("Point?crs=EPSG:32650&field=a:integer", "t", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(1.0, 2.0)))
    feature.setAttributes([5])
    ok = layer.dataProvider().addFeatures([feature], compat.SINK_FAST_INSERT)
    assert (ok[0] if isinstance(ok, tuple) else ok) is True
    assert [f["a"] for f in layer.getFeatures()] == [5]

    # The memory provider ignores NoGeometry; OGR honours it.
    path = tmp_path / "one.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"a": 1}, '
        '"geometry": {"type": "Point", "coordinates": [1, 2]}}]}'
    )
    ogr_layer = QgsVectorLayer(str(path), "one", "ogr")
    assert ogr_layer.isValid()
    request = QgsFeatureRequest().setFlags(compat.REQUEST_NO_GEOMETRY)
    assert request.flags() & compat.REQUEST_NO_GEOMETRY
    assert [f.hasGeometry() for f in ogr_layer.getFeatures(request)] == [False]
    assert [f.hasGeometry() for f in ogr_layer.getFeatures()] == [True]


def test_qaction_is_the_qt_action_class(qgis_app):
    action = compat.QAction("Run")
    assert isinstance(action, QObject) and action.text() == "Run"
    assert hasattr(action, "triggered")


def test_resolve_prefers_the_first_name_and_names_all_on_failure():
    assert compat.resolve((Qgis, "QGIS_VERSION"), (Qgis, "QGIS_VERSION_INT")) == Qgis.QGIS_VERSION
    assert compat.resolve((Qgis, "NoSuchEnum.Value"), (Qgis, "QGIS_VERSION_INT")) == Qgis.QGIS_VERSION_INT
    with pytest.raises(AttributeError, match=r"Qgis\.NoSuchEnum\.Value.*QgsWkbTypes\.NoSuchType"):
        compat.resolve((Qgis, "NoSuchEnum.Value"), (QgsWkbTypes, "NoSuchType"))


# --- fields --------------------------------------------------------------------------------------

EXPECTED_METATYPE = {
    "float": "Double",
    "int": "Int",
    "int64": "LongLong",
    "str": "QString",
    "date": "QDate",
    "datetime": "QDateTime",
    "bool": "Bool",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_METATYPE))
def test_field_has_the_type_of_its_kind(kind):
    made = compat.field(f"f_{kind}", kind)
    assert isinstance(made, QgsField) and made.name() == f"f_{kind}"
    # QVariant::Type and QMetaType::Type share their numbers for these types.
    assert _number(made.type()) == _number(getattr(QMetaType.Type, EXPECTED_METATYPE[kind]))
    assert compat.field_kind(made) == kind


def test_field_type_system_matches_the_running_qgis():
    """The feature test agrees with the documented switch: QgsField takes QMetaType from 3.38."""
    takes_metatype = Qgis.QGIS_VERSION_INT >= 33800
    assert takes_metatype == compat.FIELD_USES_METATYPE
    assert isinstance(QgsField().type(), type(compat.FIELD_TYPES["float"]))


def test_field_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind: unknown field kind 'complex'"):
        compat.field("x", "complex")
    assert compat.field_kind(QgsField("x")) is None


def test_fields_write_and_read_back_with_their_python_types():
    layer = QgsVectorLayer("Point?crs=EPSG:32650", "fields", "memory")
    kinds = sorted(EXPECTED_METATYPE)
    assert layer.dataProvider().addAttributes([compat.field(k, k) for k in kinds])
    layer.updateFields()
    assert [compat.field_kind(f) for f in layer.fields()] == kinds
    values = {
        "bool": True,
        "date": QDate(2020, 1, 2),
        "datetime": QDateTime(QDate(2020, 1, 2)),
        "float": 1.5,
        "int": 7,
        "int64": 2**40,
        "str": "abc",
    }
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(0.0, 0.0)))
    feature.setAttributes([values[k] for k in kinds])
    assert layer.dataProvider().addFeatures([feature], compat.SINK_FAST_INSERT)
    (back,) = list(layer.getFeatures())
    for kind in kinds:
        assert back[kind] == values[kind], kind
    assert isinstance(back["int64"], int) and back["int64"] == 2**40  # not truncated to 32 bits
    assert isinstance(back["float"], float)


# --- static scan: no legacy enum outside compat.py --------------------------------------------

# owner -> attribute names that are legacy (unscoped or moved to the Qgis namespace)
LEGACY_ATTRIBUTES = {
    "QVariant": r"[A-Z]\w*",  # QVariant.Type is gone in PyQt6: use compat.field / compat.field_kind
    "QMetaType": r"(?!Type$)[A-Z]\w*",  # unscoped QMetaType.Double
    "QgsProcessing": r"Type\w+|SourceType",
    "QgsProcessingParameterNumber": r"Integer|Double|Type",
    "QgsProcessingParameterField": r"Any|Numeric|String|DateTime|Binary|Boolean|DataType",
    "QgsProcessingParameterFile": r"File|Folder|Behavior",
    "QgsWkbTypes": r"[A-Z]\w*",  # every QgsWkbTypes enum moved to Qgis (WkbType, GeometryType)
    "QgsFeatureSink": r"FastInsert|RollBackOnErrors|RegeneratePrimaryKey",
    "QgsFeatureRequest": r"Flag|Flags|NoFlags|NoGeometry|SubsetOfAttributes|ExactIntersect|EmbeddedSymbols"
    r"|IgnoreStaticNodesDuringExpressionCompilation|InvalidGeometryCheck|Geometry\w+|Filter\w*",
    "QgsProcessingAlgorithm": r"Flag\w*",
    "QgsProcessingParameterDefinition": r"Flag\w*",
    "QgsProcessingProvider": r"Flag\w*",
}
# Qt classes whose enum members must be written scoped (Qt.AlignmentFlag.AlignLeft, not Qt.AlignLeft).
QT_ENUM_OWNERS = {
    "Qt", "QSizePolicy", "QMessageBox", "QDialog", "QDialogButtonBox", "QAbstractItemView",
    "QHeaderView", "QFrame", "QPalette", "QFont", "QEvent", "QItemSelectionModel", "QLineEdit",
    "QToolButton", "QTabWidget", "QKeySequence", "QPainter", "QImage", "QIODevice", "QFileDialog",
    "QStyle", "QComboBox", "QAbstractSpinBox", "QFormLayout", "QLayout", "QSlider", "QListWidgetItem",
    "QTableWidgetItem", "QTreeWidgetItem", "QDockWidget", "QLocale", "QColor", "QPen", "QBrush",
    "QValidator", "QCompleter", "QToolBar", "QMenu", "QTextCursor", "QTextOption",
}  # fmt: skip
MOVED_QT_CLASSES = {"QAction", "QActionGroup", "QShortcut"}  # QtWidgets (Qt5) -> QtGui (Qt6)
ALLOW_COMMENT = "# compat: ok"

# tests, benches and scripts too: they must not use API deprecated in QGIS 3.40 (the
# QgsField(name, QVariant.Type) constructor warns there) nor gone in QGIS 4.
SCANNED = [REPO / "plugin.py", REPO / "__init__.py", REPO / "symbology.py"] + sorted(
    p
    for folder in ("processing_provider", "ui", "tests", "bench", "scripts")
    for p in (REPO / folder).rglob("*.py")
)
EXCLUDED = {
    REPO / "compat.py",  # where the legacy spellings are resolved
}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def _owner_and_attribute(dotted):
    """("QgsWkbTypes", "Point") for QgsWkbTypes.Point and qgis.core.QgsWkbTypes.Point, else None."""
    if len(dotted) < 2:
        return None
    owner, attr = dotted[-2], dotted[-1]
    if owner in LEGACY_ATTRIBUTES or owner in QT_ENUM_OWNERS or owner == "QtWidgets":
        return owner, attr
    return None


def legacy_uses(source, filename="<string>"):
    """(line, what) for every legacy enum or Qt5-only spelling in Python ``source``."""
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    followed = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = []

    def report(node, what):
        if ALLOW_COMMENT not in lines[node.lineno - 1]:
            found.append((node.lineno, what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr == "exec_":
                report(node, "exec_() (use exec())")
                continue
            pair = _owner_and_attribute(_dotted(node) or [])
            if pair is None:
                continue
            owner, attr = pair
            if owner in LEGACY_ATTRIBUTES:
                if re.fullmatch(LEGACY_ATTRIBUTES[owner], attr):
                    report(node, f"{owner}.{attr}")
            elif owner == "QtWidgets":
                if attr in MOVED_QT_CLASSES:
                    report(node, f"QtWidgets.{attr} (use compat.{attr})")
            elif attr[:1].isupper() and id(node) not in followed and id(node) not in called:
                report(node, f"{owner}.{attr} (unscoped Qt enum: write Owner.EnumType.{attr})")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            is_from = isinstance(node, ast.ImportFrom)
            modules = [node.module or ""] if is_from else [alias.name for alias in node.names]
            for module in modules:
                if module.split(".")[0] in ("PyQt5", "PyQt6", "PySide2", "PySide6"):
                    report(node, f"{module} imported directly (use qgis.PyQt)")
            if is_from and (node.module or "").endswith("QtWidgets"):
                for alias in node.names:
                    if alias.name in MOVED_QT_CLASSES:
                        report(node, f"{alias.name} from QtWidgets (use compat.{alias.name})")
    return sorted(found)


LEGACY_SNIPPETS = [
    "from qgis.PyQt.QtWidgets import QAction",
    "from PyQt5.QtCore import QVariant",
    "import PyQt6.QtCore",
    "a = QVariant.Double",
    "a = QMetaType.Double",
    "a = QgsProcessingParameterNumber.Integer",
    "a = [QgsProcessing.TypeVectorPoint]",
    "a = QgsProcessing.SourceType.TypeVectorPolygon",
    "a = QgsProcessingParameterField.Numeric",
    "a = QgsProcessingParameterFile.File",
    "a = QgsWkbTypes.Point",
    "a = QgsWkbTypes.Type.NoGeometry",
    "a = qgis.core.QgsWkbTypes.PointGeometry",
    "sink.addFeatures(rows, QgsFeatureSink.FastInsert)",
    "QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)",
    "a = QgsFeatureRequest.Flag.NoGeometry",
    "a = QgsProcessingAlgorithm.FlagNoThreading",
    "a = QgsProcessingParameterDefinition.FlagAdvanced",
    "a = Qt.AlignLeft",
    "a = QtWidgets.QAction",
    "a = QMessageBox.Yes",
    "dialog.exec_()",
]

PORTABLE_SNIPPETS = [
    "from qgis.PyQt.QtCore import Qt, QDate",
    "a = compat.NUMBER_INTEGER",
    "a = Qgis.WkbType.Point",
    "a = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop",
    "a = QgsFeatureSink.Flag.FastInsert",
    "a = QgsWkbTypes.displayString(compat.WKB_POINT)",
    "a = QgsProcessing.TEMPORARY_OUTPUT",
    "dialog.exec()",
    "QMessageBox.information(None, 'title', 'text')",
    "a = QMessageBox.StandardButton.Yes",
    "a = QgsFeatureRequest().setSubsetOfAttributes([0])",
    "a = QMetaType.Type.Double",
    "a = QVariant.Double  # compat: ok",
    "isinstance(value, QVariant)",
]


@pytest.mark.parametrize("snippet", LEGACY_SNIPPETS)
def test_scan_finds_legacy_spelling(snippet):
    """The repository scan below would pass vacuously if it missed these."""
    assert [line for line, _ in legacy_uses(snippet)] == [1], snippet


@pytest.mark.parametrize("snippet", PORTABLE_SNIPPETS)
def test_scan_accepts_portable_spelling(snippet):
    assert legacy_uses(snippet) == [], snippet


def test_no_legacy_enum_outside_compat():
    offenders = []
    for path in SCANNED:
        if path in EXCLUDED or "__pycache__" in path.parts:
            continue
        for line, what in legacy_uses(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(REPO)}:{line}: {what}")
    assert not offenders, "use compat.py names instead:\n" + "\n".join(offenders)
    assert REPO / "processing_provider" / "alg_sample_study_area.py" in SCANNED
    assert REPO / "tests" / "test_styling.py" in SCANNED
