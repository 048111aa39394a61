"""initGui adds the docks, actions and toolbar; unload leaves no dock, action, map tool or connection."""

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QToolBar

from subsidence_lab.compat import QAction

DOCK_NAMES = ("SubsidenceLabTimeSeriesDock", "SubsidenceLabComponentsDock")


def _receivers(canvas):
    project = QgsProject.instance()
    return {
        "layersAdded": project.receivers(project.layersAdded),
        "layersWillBeRemoved": project.receivers(project.layersWillBeRemoved),
        "mapToolSet": canvas.receivers(canvas.mapToolSet),
    }


def _flush_deletes():
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QgsApplication.processEvents()


def test_unload_leaves_no_dock_action_tool_or_connection(qgis_iface, qgis_canvas):
    import subsidence_lab

    registry = QgsApplication.processingRegistry()
    provider_before = registry.providerById("subsidencelab")  # the session's, when other tests made it
    main = qgis_iface.mainWindow()
    before = _receivers(qgis_canvas)
    tool_before = qgis_canvas.mapTool()
    plugin = subsidence_lab.classFactory(qgis_iface)
    plugin.initGui()
    try:
        docks = {d.objectName() for d in main.findChildren(QDockWidget)}
        expected = {name for name in DOCK_NAMES if name in {d.objectName() for d in plugin.docks.values()}}
        assert "SubsidenceLabTimeSeriesDock" in expected and expected <= docks
        actions = [a for a in main.findChildren(QAction) if a.objectName().startswith("SubsidenceLab_")]
        assert len(actions) == len(plugin.docks)
        toolbar = main.findChild(QToolBar, "SubsidenceLabToolbar")
        assert toolbar is not None and set(toolbar.actions()) == set(actions)
        # the time-series action shows its dock and switches the map tool on
        timeseries = plugin.docks["timeseries"]
        next(a for a in actions if a.objectName() == "SubsidenceLab_timeseries").trigger()
        assert not timeseries.isHidden() and qgis_canvas.mapTool() is timeseries.tool
        assert _receivers(qgis_canvas) != before
    finally:
        plugin.unload()
    _flush_deletes()
    assert not [d for d in main.findChildren(QDockWidget) if d.objectName() in DOCK_NAMES]
    assert not [a for a in main.findChildren(QAction) if a.objectName().startswith("SubsidenceLab_")]
    assert main.findChild(QToolBar, "SubsidenceLabToolbar") is None
    assert qgis_canvas.mapTool() is tool_before
    assert _receivers(qgis_canvas) == before
    assert registry.providerById("subsidencelab") is provider_before  # a provider not ours stays
