"""The QGIS plugin object: registers the Processing provider (headless too) and owns the UI.

The UI is two docks (PS time series with its map tool; PCA components), a toolbar and a
menu entry for each; all are created in ``initGui`` and removed in ``unload`` (docks deleted,
map tool unset, every signal the plugin connected disconnected).
"""

import os

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon

MENU = "&Subsidence Lab"
TOOLBAR_NAME = "SubsidenceLabToolbar"
ICON = os.path.join(os.path.dirname(__file__), "resources", "icon.svg")


class SubsidenceLabPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.toolbar = None
        self.actions = []
        self.docks = {}

    def initProcessing(self):
        """Called by QGIS (also by qgis_process, headless) for plugins with hasProcessingProvider=yes."""
        if self.provider is not None:
            return
        from .processing_provider.provider import SubsidenceLabProvider

        provider = SubsidenceLabProvider()
        # addProvider refuses (and deletes) a second provider with our id, e.g. one a script
        # registered headless: then there is nothing of ours to remove on unload.
        if QgsApplication.processingRegistry().addProvider(provider):
            self.provider = provider

    def initGui(self):
        self.initProcessing()
        from .compat import QAction
        from .ui.components_dock import ComponentsDock
        from .ui.timeseries_dock import TimeSeriesDock

        main = self.iface.mainWindow()
        self.toolbar = self.iface.addToolBar("Subsidence Lab")
        self.toolbar.setObjectName(TOOLBAR_NAME)
        for key, cls, text in (
            ("timeseries", TimeSeriesDock, "PS time series (click a point)"),
            ("components", ComponentsDock, "PCA components"),
        ):
            dock = cls(self.iface, main)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            dock.hide()  # after adding: QMainWindow shows a dock it is given
            action = QAction(QIcon(ICON), text, main)
            action.setObjectName(f"SubsidenceLab_{key}")
            action.setCheckable(True)
            action.toggled.connect(lambda on, key=key: self._dock_toggled(key, on))
            dock.visibilityChanged.connect(action.setChecked)
            self.toolbar.addAction(action)
            self.iface.addPluginToMenu(MENU, action)
            self.actions.append(action)
            self.docks[key] = dock

    def _dock_toggled(self, key, on):
        dock = self.docks.get(key)
        if dock is None:
            return
        if on:
            # beside a dock of ours already shown on the same side: a tab of it (one tall panel
            # each rather than two halves); QGIS restores its window state after plugins load,
            # so this is done when the dock is shown, not at initGui
            main = self.iface.mainWindow()
            for other in self.docks.values():
                if other is dock or not other.isVisible():
                    continue
                same_side = main.dockWidgetArea(other) == main.dockWidgetArea(dock)
                if same_side and dock not in main.tabifiedDockWidgets(other):
                    main.tabifyDockWidget(other, dock)
                    break
        dock.setUserVisible(on)
        if on and key == "timeseries":
            dock.activate_tool()

    def unload(self):
        for action, dock in zip(self.actions, self.docks.values()):
            self.iface.removePluginMenu(MENU, action)
            action.toggled.disconnect()
            dock.visibilityChanged.disconnect(action.setChecked)
            action.deleteLater()
        for dock in self.docks.values():
            dock.teardown()
            self.iface.removeDockWidget(dock)
            dock.setParent(None)
            dock.deleteLater()
        self.actions, self.docks = [], {}
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
