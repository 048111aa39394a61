"""The components dock: a decomposition's components, their classes, and the layer styled by one.

Reads the ``.npz`` written by 'PCA decomposition' (``core.pca.Decomposition``) and/or a layer
with ``PC1..PCk`` fields (its output layer). Lists the components (variance share, proposed
class) with a class override the error removal takes (its component texts, or a copy of the
decomposition file with the new classes); picking a component styles the layer by ``PCk``
(diverging ramp centred on 0, symmetric limits) and plots its temporal function and the scree.
"""

import os
import re

import numpy as np
from qgis.core import QgsFeatureRequest, QgsProject
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import compat
from ..core.component_choice import (
    CHOICES,
    component_rows,
    removal_parameters,
    save_with_classes,
    shares_of_maps,
)
from ..core.pca import Decomposition
from ..symbology import diverging_renderer, symmetric_limit
from .component_plot import ComponentsPlot

OBJECT_NAME = "SubsidenceLabComponentsDock"
PC_FIELD = re.compile(r"^PC(\d+)$")
COLUMNS = ("PC", "sigma (mm)", "variance", "cumulative", "proposed", "class")


def pc_fields(layer):
    """``{k: field name}`` of the ``PCk`` fields of ``layer``."""
    if layer is None:
        return {}
    found = {}
    for name in layer.fields().names():
        match = PC_FIELD.match(name)
        if match:
            found[int(match.group(1))] = name
    return dict(sorted(found.items()))


def field_values(layer, name):
    request = (
        QgsFeatureRequest().setFlags(compat.REQUEST_NO_GEOMETRY).setSubsetOfAttributes([name], layer.fields())
    )
    values = [f[name] for f in layer.getFeatures(request)]
    return np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in values])


class ComponentsDock(QgsDockWidget):
    def __init__(self, iface, parent=None):
        super().__init__("Subsidence Lab: PCA components", parent)
        self.setObjectName(OBJECT_NAME)
        self.iface = iface
        self.decomposition = None
        self.decomposition_path = ""
        self.rows = []
        self.selected = 0
        self._limits = {}
        self._build()

    def _build(self):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        body = QWidget(self)
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.file_widget = QgsFileWidget(body)
        self.file_widget.setFilter("Decomposition (*.npz)")
        self.file_widget.fileChanged.connect(self.load_decomposition)
        self.layer_combo = QgsMapLayerComboBox(body)
        self.layer_combo.setFilters(compat.LAYER_FILTER_POINT)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setToolTip("Layer styled by the picked component (needs PC1..PCk fields)")
        self.layer_combo.layerChanged.connect(self._layer_changed)
        form.addRow("Decomposition", self.file_widget)
        form.addRow("Styled layer", self.layer_combo)
        layout.addLayout(form)

        self.table = QTableWidget(0, len(COLUMNS), body)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.currentCellChanged.connect(lambda row, *_: self.select_component(row + 1))
        layout.addWidget(self.table, 1)

        removal = QFormLayout()
        self.deformation_edit = QLineEdit(body)
        self.error_edit = QLineEdit(body)
        for edit in (self.deformation_edit, self.error_edit):
            edit.setReadOnly(True)
        removal.addRow("Deformation components", self.deformation_edit)
        removal.addRow("Error components", self.error_edit)
        layout.addLayout(removal)
        buttons = QHBoxLayout()
        for text, slot in (("Copy", self._copy), ("Save classes…", self._ask_save),
                           ("Error removal…", self.open_error_removal)):  # fmt: skip
            button = QPushButton(text, body)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.message_label = QLabel("", body)
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)

        self.figure = Figure(figsize=(6, 2.4), dpi=96)
        self.figure_canvas = FigureCanvasQTAgg(self.figure)
        self.figure_canvas.setMinimumHeight(180)
        self.plot = ComponentsPlot(self.figure)
        layout.addWidget(self.figure_canvas, 1)
        self.setWidget(body)

    # --- inputs ---------------------------------------------------------------------------------

    def load_decomposition(self, path):
        """Read a decomposition file and list its components (the layer's PC fields otherwise)."""
        self.decomposition, self.decomposition_path = None, ""
        if path:
            try:
                self.decomposition = Decomposition.load(path)
                self.decomposition_path = path
            except ValueError as exc:
                self.message_label.setText(str(exc))
        if self.file_widget.filePath() != (path or ""):
            self.file_widget.blockSignals(True)
            self.file_widget.setFilePath(path or "")
            self.file_widget.blockSignals(False)
        self._limits = {}
        self._fill()

    def set_layer(self, layer):
        self.layer_combo.setLayer(layer)

    def _layer_changed(self, _layer):
        self._limits = {}
        if self.decomposition is None:
            self._fill()

    def _fill(self):
        dec, layer = self.decomposition, self.layer_combo.currentLayer()
        if dec is not None:
            self.rows = component_rows(dec)
            shares_all = (dec.all_sigma**2) / np.sum(dec.all_sigma**2)
            self.plot.set_components(dec.dates, dec.temporal, shares_all, dec.k, dec.suggested_k)
            self.message_label.setText(
                f"k = {dec.k}; suggested k = {dec.suggested_k}: {dec.suggestion_reason}"
            )
        else:
            fields = pc_fields(layer)
            self.rows = self._rows_of_layer(layer, fields)
            shares = np.array([row["share"] for row in self.rows])
            self.plot.set_components(None, None, shares, len(fields))
            if fields:
                text = ("Shares among the PC fields of the layer; open the decomposition file for all of "
                        "them, the proposed classes and the temporal functions.")  # fmt: skip
            else:
                text = ("Open a decomposition file (.npz from 'PCA decomposition') or pick a layer with "
                        "PC1..PCk fields.")  # fmt: skip
            self.message_label.setText(text)
        self._fill_table()
        self.selected = 0
        if self.rows:
            self.table.setCurrentCell(0, 0)
        self.figure_canvas.draw_idle()

    @staticmethod
    def _rows_of_layer(layer, fields):
        """Component rows from a layer's PCk fields alone (sum of PCk^2 = sigma_k^2)."""
        if not fields:
            return []
        maps = np.column_stack([field_values(layer, f) for f in fields.values()])
        shares = shares_of_maps(maps)
        cumulative = np.cumsum(shares)
        sigma = np.sqrt(np.nansum(maps**2, axis=0))
        return [
            {"k": k, "sigma": float(sigma[i]), "share": float(shares[i]), "cumulative": float(cumulative[i]),
             "proposed": ""}
            for i, k in enumerate(fields)
        ]  # fmt: skip

    def _fill_table(self):
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            sigma = f"{row['sigma']:,.0f}" if row["sigma"] >= 1000 else f"{row['sigma']:.3g}"
            cells = (f"PC{row['k']}", sigma, f"{100 * row['share']:.2f} %",
                     f"{100 * row['cumulative']:.1f} %", row["proposed"] or "—")  # fmt: skip
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
            combo = QComboBox(self.table)
            combo.addItems(CHOICES)
            combo.setCurrentText(row["proposed"] if row["proposed"] in CHOICES else "keep")
            combo.currentTextChanged.connect(self._classes_changed)
            self.table.setCellWidget(i, len(COLUMNS) - 1, combo)
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        self._classes_changed()

    # --- classes --------------------------------------------------------------------------------

    def classes(self):
        return [
            self.table.cellWidget(i, len(COLUMNS) - 1).currentText() for i in range(self.table.rowCount())
        ]

    def set_class(self, number, name):
        self.table.cellWidget(number - 1, len(COLUMNS) - 1).setCurrentText(name)

    def _classes_changed(self, *_):
        deformation, error = removal_parameters(self.classes())
        self.deformation_edit.setText(deformation)
        self.error_edit.setText(error)

    def removal_parameters(self):
        """pcaerrorremoval parameters for the classes shown (and the decomposition file, if any)."""
        params = {
            "DEFORMATION_COMPONENTS": self.deformation_edit.text(),
            "ERROR_COMPONENTS": self.error_edit.text(),
        }
        if self.decomposition_path:
            params["DECOMPOSITION"] = self.decomposition_path
        return params

    def save_classes(self, path):
        """A copy of the decomposition file with the classes shown as its labels."""
        return save_with_classes(self.decomposition_path, self.classes(), path)

    def _copy(self):
        text = (
            f"DEFORMATION_COMPONENTS={self.deformation_edit.text()} ERROR_COMPONENTS={self.error_edit.text()}"
        )
        QApplication.clipboard().setText(text)

    def _ask_save(self):
        if not self.decomposition_path:
            return self.message_label.setText("Open a decomposition file first.")
        stem = os.path.splitext(self.decomposition_path)[0]
        path, _ = QFileDialog.getSaveFileName(
            self, "Save classes", f"{stem}_classes.npz", "Decomposition (*.npz)"
        )
        if path:
            self.save_classes(path)
            self.message_label.setText(
                f"Saved {path}: give it to the error removal with empty component texts."
            )
        return None

    def open_error_removal(self):
        import processing

        processing.execAlgorithmDialog("subsidencelab:pcaerrorremoval", self.removal_parameters())

    # --- picking --------------------------------------------------------------------------------

    def select_component(self, number):
        """Style the layer by ``PC<number>`` and highlight it in the plots."""
        if not 0 < number <= len(self.rows):
            return
        self.selected = number
        row = self.rows[number - 1]
        title = f"T{number}: {100 * row['share']:.1f} % of the variance" + (
            f", proposed {row['proposed']}" if row["proposed"] else "")  # fmt: skip
        self.plot.select(number, title)
        self.figure_canvas.draw_idle()
        if self.table.currentRow() != number - 1:
            self.table.setCurrentCell(number - 1, 0)
        self._style_layer(number)

    def _style_layer(self, number):
        layer = self.layer_combo.currentLayer()
        field = pc_fields(layer).get(number)
        if field is None:
            if layer is not None:
                self.message_label.setText(f"Layer '{layer.name()}' has no field PC{number} to style by.")
            return
        limit = self._limits.get(field)
        if limit is None:
            dec = self.decomposition
            if dec is not None and dec.spatial.shape[0] == layer.featureCount():
                limit = symmetric_limit(dec.spatial[:, number - 1] * dec.sigma[number - 1])
            else:
                limit = symmetric_limit(field_values(layer, field))
            self._limits[field] = limit
        layer.setRenderer(diverging_renderer(field, limit, "mm"))
        layer.triggerRepaint()
        view = getattr(self.iface, "layerTreeView", None)
        if view is not None and QgsProject.instance().mapLayer(layer.id()) is not None:
            view().refreshLayerSymbology(layer.id())

    def teardown(self):
        self.decomposition = None
        self._limits = {}
