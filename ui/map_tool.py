"""The map tool of the time-series dock: a click emits the map point and the search radius.

After the Crayfish plugin's plot tool: the tool only reports the click (point in map
coordinates, QGIS's search radius converted to map units for the current scale and screen
DPI, keyboard modifiers); the dock decides what a click means (shift = keep, ctrl = set the
reference point).
"""

from qgis.core import QgsPointXY
from qgis.gui import QgsMapTool
from qgis.PyQt.QtCore import Qt, pyqtSignal


class PSPickTool(QgsMapTool):
    """Emits ``picked(map_point, radius_map_units, modifiers)`` on a left click."""

    picked = pyqtSignal(QgsPointXY, float, object)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasReleaseEvent(self, event):
        if event.button() != Qt.MouseButton.LeftButton:
            return
        # 'Map/searchRadiusMM' (Settings > Map tools), in map units at the canvas's scale and DPI
        radius = QgsMapTool.searchRadiusMU(self.canvas())
        self.picked.emit(QgsPointXY(event.mapPoint()), float(radius), event.modifiers())
