"""Run inside the QGIS desktop by scripts/screenshots.py (``qgis --code``): drive the docks, save PNGs.

Reads the sample outputs from $SUBSIDENCE_SCREENSHOT_DATA, writes PNGs (and session.log) to
$SUBSIDENCE_SCREENSHOT_OUT, then quits QGIS. Every step runs from the event loop (QTimer) so
the map canvas renders between them; clicks are real mouse events on the canvas viewport.
"""

import os
import traceback

from qgis.core import QgsApplication, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import QPoint, Qt, QTimer
from qgis.PyQt.QtTest import QTest
from qgis.utils import iface, plugins

DATA = os.environ["SUBSIDENCE_SCREENSHOT_DATA"]
OUT = os.environ["SUBSIDENCE_SCREENSHOT_OUT"]
STATE = {"exit": 0}
LOG = open(os.path.join(OUT, "session.log"), "w")  # noqa: SIM115  (open for the whole session)


def log(text):
    LOG.write(text + "\n")
    LOG.flush()


def load(name, title, visible=True):
    layer = QgsVectorLayer(os.path.join(DATA, name), title, "ogr")
    if not layer.isValid():
        raise RuntimeError(f"cannot load {name}")
    QgsProject.instance().addMapLayer(layer)
    QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(visible)
    return layer


def click(x, y, modifiers=Qt.KeyboardModifier.NoModifier):
    canvas = iface.mapCanvas()
    pixel = canvas.getCoordinateTransform().transform(x, y)
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers,
                     QPoint(round(pixel.x()), round(pixel.y())))  # fmt: skip


def save(widget, name):
    path = os.path.join(OUT, name)
    ok = widget.grab().save(path)
    log(f"saved {path}: {ok} ({widget.width()}x{widget.height()})")


def step(fn):
    def run():
        try:
            fn()
        except Exception:  # report and quit: a hanging desktop would only hit the timeout
            log(traceback.format_exc())
            STATE["exit"] = 2
            finish()

    return run


def finish():
    LOG.close()
    QgsProject.instance().setDirty(False)
    QgsApplication.exit(STATE["exit"])


@step
def setup():
    from subsidence_lab.symbology import diverging_renderer, symmetric_limit

    main = iface.mainWindow()
    main.setGeometry(0, 0, 1680, 1050)  # Xvfb has no window manager to maximise it
    main.show()
    plugin = plugins["subsidence_lab"]
    STATE["plugin"] = plugin
    observed = load("ps_observed.gpkg", "PS observed", visible=False)
    corrected = load("ps_corrected.gpkg", "PS corrected")
    values = [f["velocity_mm_per_year"] for f in corrected.getFeatures()]
    corrected.setRenderer(diverging_renderer("velocity_mm_per_year", symmetric_limit(values), "mm/yr"))
    load("pca_components.gpkg", "PCA components", visible=False)
    load("members.gpkg", "buffer members", visible=False)
    load("series.gpkg", "well series")
    for name, title in (("predictions.gpkg", "AM-LSTM predictions"), ("attention.gpkg", "AM-LSTM attention"),
                        ("amlstm_members.gpkg", "AM-LSTM members")):  # fmt: skip
        if os.path.exists(os.path.join(DATA, name)):  # made only where PyTorch is installed
            load(name, title, visible=False)
    wells = load("wells.gpkg", "wells")
    STATE.update(observed=observed, corrected=corrected, wells=wells)
    dock = plugin.docks["timeseries"]
    next(a for a in plugin.actions if a.objectName() == "SubsidenceLab_timeseries").setChecked(True)
    dock.set_layer(observed)
    dock.detect_linked(overwrite=True)
    log("linked: " + ", ".join(f"{k}={c.currentLayer().name() if c.currentLayer() else '-'}"
                               for k, c in dock.linked_combos.items()))  # fmt: skip
    main.resizeDocks([dock], [720], Qt.Orientation.Horizontal)
    QTimer.singleShot(2000, zoom)


@step
def zoom():
    # the most subsiding PS of the buffers (nearest its well first) and a farther one of the same well
    members = QgsProject.instance().mapLayersByName("buffer members")[0]
    series = STATE["plugin"].docks["timeseries"].sources.layer_series(members)
    last = series.date_names[-1]
    rows = [f for f in members.getFeatures() if f[last] is not None and f[last] == f[last]]
    deepest = min(rows, key=lambda f: f[last])
    well = deepest["feature_id"]
    same_well = [f for f in rows if f["feature_id"] == well]
    nearest = min(same_well, key=lambda f: f["distance_m"])
    farther = max(same_well, key=lambda f: f["distance_m"])
    point = nearest.geometry().asPoint()
    STATE["in_buffer"] = (point.x(), point.y())
    STATE["farther"] = (farther.geometry().asPoint().x(), farther.geometry().asPoint().y())
    log(f"PS {nearest['id']} ({nearest['distance_m']:.0f} m from well {well}), PS {farther['id']} "
        f"({farther['distance_m']:.0f} m)")  # fmt: skip
    extent = QgsRectangle(point.x() - 1400, point.y() - 1000, point.x() + 1400, point.y() + 1000)
    iface.mapCanvas().setExtent(extent)
    iface.mapCanvas().refresh()
    QTimer.singleShot(4000, clicks)


@step
def clicks():
    click(*STATE["farther"])  # a PS at the edge of the well's buffer first,
    click(*STATE["in_buffer"], Qt.KeyboardModifier.ShiftModifier)  # then the one by the well, kept beside it
    dock = STATE["plugin"].docks["timeseries"]
    log(f"shown points: {[p.series.point_id for p in dock.points]}; message: {dock.message()!r}")
    QTimer.singleShot(3000, shots_timeseries)


@step
def shots_timeseries():
    dock = STATE["plugin"].docks["timeseries"]
    dock.figure_canvas.draw()
    save(iface.mainWindow(), "01_desktop_timeseries.png")
    save(dock, "02_timeseries_dock.png")
    dock.export_png(os.path.join(OUT, "03_timeseries_export.png"))
    rows = dock.export_csv(os.path.join(OUT, "timeseries_shown.csv"))
    log(f"exported {rows} CSV rows")
    plugin = STATE["plugin"]
    components = plugin.docks["components"]
    next(a for a in plugin.actions if a.objectName() == "SubsidenceLab_components").setChecked(True)
    tree = QgsProject.instance().layerTreeRoot()
    pc_layer = QgsProject.instance().mapLayersByName("PCA components")[0]
    tree.findLayer(pc_layer.id()).setItemVisibilityChecked(True)
    tree.findLayer(STATE["corrected"].id()).setItemVisibilityChecked(False)
    components.set_layer(pc_layer)
    components.load_decomposition(os.path.join(DATA, "decomposition.npz"))
    components.select_component(2)
    iface.mainWindow().resizeDocks([components], [720], Qt.Orientation.Horizontal)
    iface.mapCanvas().zoomToFullExtent()
    iface.mapCanvas().refresh()
    log(f"components: {components.table.rowCount()}, renderer {pc_layer.renderer().type()} "
        f"on {pc_layer.renderer().classAttribute()}")  # fmt: skip
    QTimer.singleShot(4000, shots_components)


@step
def shots_components():
    components = STATE["plugin"].docks["components"]
    components.figure_canvas.draw()
    save(iface.mainWindow(), "04_desktop_components.png")
    save(components, "05_components_dock.png")
    finish()


QTimer.singleShot(240000, lambda: os._exit(3))  # never hang the caller
QTimer.singleShot(3000, setup)
