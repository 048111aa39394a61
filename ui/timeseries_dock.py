"""The time-series dock: click a PS on the map to see its series, kept series, reference point.

Works on any point layer with date fields (EGMS CSV, D-field shapefiles, GeoPackages) without
running an algorithm; corrected and predicted series and a well's groundwater levels appear
when the linked outputs hold them (``ui/series_sources.py``). Click = show this PS; Shift-click =
keep it beside the others (distinct colours, marked on the map); Ctrl-click = make it the
reference point, subtracted from every series until cleared (it stays across clicks).
"""

import contextlib

import numpy as np
from qgis.core import QgsCoordinateTransform, QgsPointXY, QgsProject, QgsRectangle
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsMapLayerComboBox, QgsVertexMarker
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import compat
from ..core.timeseries import write_series_csv
from .map_tool import PSPickTool
from .series_plot import SeriesPlot
from .series_sources import Options, Sources, build_curves

OBJECT_NAME = "SubsidenceLabTimeSeriesDock"
LINKED = (
    ("corrected", "Corrected layer", compat.LAYER_FILTER_POINT),
    ("members", "Buffer members layer", compat.LAYER_FILTER_POINT),
    ("predicted_members", "AM-LSTM members layer", compat.LAYER_FILTER_POINT),
    ("series_table", "Well series table", compat.LAYER_FILTER_VECTOR),
    ("predictions", "Predictions table", compat.LAYER_FILTER_VECTOR),
    ("attention", "Attention table", compat.LAYER_FILTER_VECTOR),
)
# fields that identify each linked output when detecting them among the project's layers:
# (fields it must have, a prefix some field must start with)
SIGNATURES = {
    "corrected": ({"velocity_mm_per_year", "residual_rms_mm"}, ""),
    "members": ({"feature_id", "distance_m"}, ""),
    "predicted_members": ({"feature_id"}, "amlstm_"),
    "series_table": ({"feature_id", "date", "value_mm"}, ""),
    "predictions": ({"feature_id", "date", "amlstm_mm"}, ""),
    "attention": ({"feature_id", "layer", "weight"}, ""),
}


def _matches(name, field_names):
    required, prefix = SIGNATURES[name]
    names = set(field_names)
    return required <= names and (not prefix or any(n.startswith(prefix) for n in names))
MAX_KEPT = 50


def _qdate(value):
    return QDate.fromString(str(np.datetime64(value, "D")), "yyyy-MM-dd")


def _np_date(qdate):
    return np.datetime64(qdate.toString("yyyy-MM-dd"), "D")


class TimeSeriesDock(QgsDockWidget):
    def __init__(self, iface, parent=None):
        super().__init__("Subsidence Lab: PS time series", parent)
        self.setObjectName(OBJECT_NAME)
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.sources = Sources()
        self.points = []  # ShownPoint, oldest first; the last one is shown in full
        self.reference = None
        self._markers = []
        self._connections = []
        self._watched = set()
        self.tool = PSPickTool(self.canvas)
        self._build()
        self._connect(self.tool.picked, self.handle_click)
        self._connect(self.layer_combo.layerChanged, self._layer_changed)
        project = QgsProject.instance()
        self._connect(project.layersAdded, self._layers_added)
        self._connect(project.layersWillBeRemoved, self._layers_removed)
        self._connect(self.canvas.mapToolSet, self._map_tool_set)
        self._layer_changed(self.layer_combo.currentLayer())

    # --- widgets --------------------------------------------------------------------------------

    def _build(self):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from matplotlib.figure import Figure

        body = QWidget(self)
        layout = QVBoxLayout(body)
        top = QHBoxLayout()
        self.layer_combo = QgsMapLayerComboBox(body)
        self.layer_combo.setFilters(compat.LAYER_FILTER_POINT)
        self.layer_combo.setToolTip("PS layer: any point layer with one field per date")
        self.pick_button = QPushButton("Pick PS", body)
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip(
            "Click = show a PS; Shift-click = keep it too; Ctrl-click = make it the reference point"
        )
        self.pick_button.toggled.connect(self._pick_toggled)
        top.addWidget(QLabel("PS layer", body))
        top.addWidget(self.layer_combo, 1)
        top.addWidget(self.pick_button)
        layout.addLayout(top)

        self.linked_box = QgsCollapsibleGroupBox("Linked outputs", body)
        form = QFormLayout(self.linked_box)
        self.linked_combos = {}
        for name, label, filters in LINKED:
            combo = QgsMapLayerComboBox(self.linked_box)
            combo.setFilters(filters)
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
            combo.layerChanged.connect(self._linked_changed)
            self.linked_combos[name] = combo
            form.addRow(label, combo)
        detect = QPushButton("Detect in project", self.linked_box)
        detect.clicked.connect(lambda: self.detect_linked(overwrite=True))
        form.addRow(detect)
        self.linked_box.setCollapsed(True)
        layout.addWidget(self.linked_box)

        options = QHBoxLayout()
        self.trend_check = QCheckBox("Trend", body)
        self.trend_check.setChecked(True)
        self.annual_check = QCheckBox("+ annual", body)
        self.start_edit = QDateEdit(body)
        self.end_edit = QDateEdit(body)
        for edit in (self.start_edit, self.end_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setToolTip("Dates the trend is fitted on (the fit, not only the axis)")
        for widget in (self.trend_check, self.annual_check, QLabel("fit", body), self.start_edit,
                       QLabel("to", body), self.end_edit):  # fmt: skip
            options.addWidget(widget)
        options.addStretch(1)
        layout.addLayout(options)
        for signal in (self.trend_check.toggled, self.annual_check.toggled, self.start_edit.dateChanged,
                       self.end_edit.dateChanged):  # fmt: skip
            signal.connect(self.refresh)

        actions = QHBoxLayout()
        self.reference_label = QLabel("Reference: none (Ctrl-click a PS)", body)
        clear_ref = QPushButton("Clear reference", body)
        clear_ref.clicked.connect(self.clear_reference)
        clear = QPushButton("Clear", body)
        clear.clicked.connect(self.clear_points)
        png = QPushButton("PNG/SVG…", body)
        png.clicked.connect(self._ask_png)
        csv_button = QPushButton("CSV…", body)
        csv_button.clicked.connect(self._ask_csv)
        actions.addWidget(self.reference_label, 1)
        for button in (clear_ref, clear, png, csv_button):
            actions.addWidget(button)
        layout.addLayout(actions)

        self.message_label = QLabel("", body)
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #a33;")
        layout.addWidget(self.message_label)

        self.figure = Figure(figsize=(6, 3.6), dpi=96)
        self.figure_canvas = FigureCanvasQTAgg(self.figure)
        self.figure_canvas.setMinimumHeight(220)
        self.plot = SeriesPlot(self.figure)
        layout.addWidget(NavigationToolbar2QT(self.figure_canvas, body))
        layout.addWidget(self.figure_canvas, 1)
        self.setWidget(body)

    def _connect(self, signal, slot):
        signal.connect(slot)
        self._connections.append((signal, slot))

    # --- layers ---------------------------------------------------------------------------------

    def current_layer(self):
        return self.layer_combo.currentLayer()

    def set_layer(self, layer):
        self.layer_combo.setLayer(layer)

    def _layer_changed(self, layer):
        self.points = []
        self.set_message("")
        if layer is None:
            self.set_message("Choose a point layer with one field per date.")
            return self.refresh()
        try:
            series = self.sources.layer_series(layer)
        except ValueError as exc:
            self.set_message(f"{exc}. Pick a PS layer with date fields (D20101122, 20101122, D_2010...).")
            return self.refresh()
        for edit in (self.start_edit, self.end_edit):
            edit.blockSignals(True)
            edit.setDateRange(_qdate(series.dates[0]), _qdate(series.dates[-1]))
        self.start_edit.setDate(_qdate(series.dates[0]))
        self.end_edit.setDate(_qdate(series.dates[-1]))
        for edit in (self.start_edit, self.end_edit):
            edit.blockSignals(False)
        if layer.id() not in self._watched:  # an edit moves or changes points: rebuild the index
            self._watched.add(layer.id())
            layer_id = layer.id()
            self._connect(layer.dataChanged, lambda: self.sources.forget(layer_id))
        self.detect_linked(overwrite=False)
        self.refresh()

    def _layers_added(self, layers):
        self.detect_linked(overwrite=False)

    def _layers_removed(self, layer_ids):
        for layer_id in layer_ids:
            self.sources.forget(layer_id)
        self.points = [p for p in self.points if p.series.layer_id not in layer_ids]
        if self.reference is not None and self.reference.series.layer_id in layer_ids:
            self.reference = None
        self.refresh()

    def detect_linked(self, overwrite=False):
        """Fill the linked-output combos from the project's layers by their field names."""
        ps_layer = self.current_layer()
        for name, combo in self.linked_combos.items():
            if combo.currentLayer() is not None and not overwrite:
                continue
            for layer in QgsProject.instance().mapLayers().values():
                if layer is ps_layer or not hasattr(layer, "fields"):
                    continue
                if _matches(name, layer.fields().names()):
                    combo.setLayer(layer)
                    break

    def _linked_changed(self, _layer=None):
        linked = self.sources.linked
        for name, combo in self.linked_combos.items():
            setattr(linked, name, combo.currentLayer())
        ps_layer = self.current_layer()
        if ps_layer is not None and self.points:
            self.points = [self.sources.resolve(p.series, ps_layer) for p in self.points]
            self.refresh()

    # --- clicks ---------------------------------------------------------------------------------

    def _pick_toggled(self, on):
        if on:
            self.canvas.setMapTool(self.tool)
        elif self.canvas.mapTool() is self.tool:
            self.canvas.unsetMapTool(self.tool)

    def _map_tool_set(self, new_tool, _old=None):
        self.pick_button.blockSignals(True)
        self.pick_button.setChecked(new_tool is self.tool)
        self.pick_button.blockSignals(False)

    def activate_tool(self):
        self.pick_button.setChecked(True)
        self.canvas.setMapTool(self.tool)

    def handle_click(self, map_point, radius, modifiers):
        layer = self.current_layer()
        if layer is None:
            return self.set_message("Choose a PS layer first.")
        try:
            series = self.sources.layer_series(layer)
        except ValueError as exc:
            return self.set_message(str(exc))
        point = self.tool.toLayerCoordinates(layer, QgsPointXY(map_point))
        box = QgsRectangle(map_point.x() - radius, map_point.y() - radius, map_point.x() + radius,
                           map_point.y() + radius)  # fmt: skip
        box = self.tool.toLayerCoordinates(layer, box)
        fid = series.nearest(point.x(), point.y(), max(box.width(), box.height()) / 2)
        if fid is None:
            return self.set_message("No PS within the search radius of the click (Settings > Map tools).")
        self.set_message("")
        shown = self.sources.resolve(series.fetch(fid), layer)
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            self.set_reference(shown)
            return shown
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            self.points = [p for p in self.points if p.series.fid != fid or p.series.layer_id != layer.id()]
            self.points = (self.points + [shown])[-MAX_KEPT:]
        else:
            self.points = [shown]
        self.refresh()
        return shown

    def set_reference(self, shown):
        self.reference = shown
        self.reference_label.setText(f"Reference: PS {shown.series.point_id}" if shown else "Reference: none")
        self.refresh()

    def clear_reference(self):
        self.set_reference(None)
        self.reference_label.setText("Reference: none (Ctrl-click a PS)")

    def clear_points(self):
        self.points = []
        self.refresh()

    # --- drawing --------------------------------------------------------------------------------

    def options(self):
        return Options(
            trend=self.trend_check.isChecked(),
            annual=self.annual_check.isChecked(),
            start=_np_date(self.start_edit.date()),
            end=_np_date(self.end_edit.date()),
        )

    def refresh(self, *_args):
        colours = [self.plot.colour_of(i) for i in range(len(self.points))]
        curves, band, notes = build_curves(self.points, self.sources, self.options(), self.reference, colours)
        hint = "" if self.points else "Click a PS on the map (Pick PS)."
        if self.message_label.text() and not self.points:
            hint = ""
        title = ""
        if self.points:
            ids = ", ".join(p.series.point_id for p in self.points[-4:])
            title = f"PS {ids}" + (" …" if len(self.points) > 4 else "")
            if self.reference is not None:
                title += f" (relative to PS {self.reference.series.point_id})"
        self.plot.show(curves, band=band, title=title, message=hint)
        if notes:
            self.set_message("; ".join(notes))
        self.figure_canvas.draw_idle()
        self._update_markers(colours)

    def set_message(self, text):
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def message(self):
        return self.message_label.text()

    def _update_markers(self, colours):
        self._remove_markers()
        layer = self.current_layer()
        if layer is None:
            return
        marked = [(p, QColor(c)) for p, c in zip(self.points, colours)]
        if self.reference is not None:
            marked.append((self.reference, QColor("black")))
        transform = QgsCoordinateTransform(layer.crs(), self.canvas.mapSettings().destinationCrs(),
                                           QgsProject.instance())  # fmt: skip
        for point, colour in marked:
            if not np.isfinite(point.series.x):
                continue
            marker = QgsVertexMarker(self.canvas)
            marker.setCenter(transform.transform(QgsPointXY(point.series.x, point.series.y)))
            marker.setIconType(compat.VERTEX_ICON_CIRCLE)
            marker.setIconSize(12)
            marker.setPenWidth(3)
            marker.setColor(colour)
            self._markers.append(marker)

    def _remove_markers(self):
        for marker in self._markers:
            self.canvas.scene().removeItem(marker)
        self._markers = []

    # --- export ---------------------------------------------------------------------------------

    def export_csv(self, path):
        """Write the curves on screen (date, point_id, curve, value) to ``path``; returns rows."""
        return write_series_csv(path, self.plot.curve_rows())

    def export_png(self, path):
        self.figure.savefig(path, dpi=150, bbox_inches="tight")

    def _ask_png(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save the plot", "", "PNG (*.png);;SVG (*.svg)")
        if path:
            self.export_png(path)

    def _ask_csv(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save the shown series", "", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    # --- teardown -------------------------------------------------------------------------------

    def teardown(self):
        """Disconnect everything, drop the map tool and markers (the plugin's unload calls this)."""
        if self.canvas.mapTool() is self.tool:
            self.canvas.unsetMapTool(self.tool)
        for signal, slot in self._connections:
            with contextlib.suppress(TypeError, RuntimeError):  # the sender is gone already
                signal.disconnect(slot)
        self._connections = []
        self._remove_markers()
        self.sources.clear()
        self.points = []
        self.reference = None
