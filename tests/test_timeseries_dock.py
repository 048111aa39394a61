"""The time-series dock driven for real: layers on the canvas, mouse clicks on the map tool.

Expected values come from the hand-built layers (tests/dock_data.py), never from the dock.
"""

import csv

import numpy as np
import pytest
from dock_data import (
    ATTENTION,
    CRS,
    DATES,
    GW_LAYERS,
    WELL,
    build_linked,
    dispose,
    layer,
    ps_arrays,
    write_ps_gpkg,
)
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import QPoint, Qt
from qgis.PyQt.QtTest import QTest

from subsidence_lab.core.dates import date_field_name

NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@pytest.fixture()
def area(tmp_path):
    ids, x, y, observed, velocity = ps_arrays()
    ps = layer(write_ps_gpkg(tmp_path / "ps.gpkg", ids, x, y, observed), "ps")
    linked, truth = build_linked(tmp_path, ids, x, y, observed)
    QgsProject.instance().addMapLayers([ps, *linked])
    yield {"ps": ps, "linked": linked, "x": x, "y": y, "observed": observed, "ids": ids, **truth}
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture()
def dock(qgis_iface, qgis_canvas, area):
    from subsidence_lab.ui.timeseries_dock import TimeSeriesDock

    ps = area["ps"]
    show_extent(qgis_canvas, ps)
    widget = TimeSeriesDock(qgis_iface)
    widget.set_layer(ps)
    widget.detect_linked(overwrite=True)
    widget.activate_tool()
    assert qgis_canvas.mapTool() is widget.tool
    yield widget
    dispose(widget)


def show_extent(canvas, layer, crs=CRS, extent=None):
    """The canvas shown at its full size (so pixels map to the extent), zoomed on ``layer``."""
    canvas.window().show()
    canvas.show()
    canvas.resize(600, 600)
    QgsApplication.processEvents()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
    canvas.setLayers([layer])
    if extent is None:
        extent = QgsRectangle(layer.extent())
        extent.grow(60.0)
    canvas.setExtent(extent)
    assert canvas.mapSettings().outputSize().width() > 500


def click(canvas, x, y, modifiers=NO_MODIFIER):
    """A real left click on the canvas viewport at the pixel of map point (x, y)."""
    pixel = canvas.getCoordinateTransform().transform(x, y)
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers,
                     QPoint(round(pixel.x()), round(pixel.y())))  # fmt: skip


def ydata(dock, point_id, curve, axis="mm"):
    line = dock.plot.line((axis, str(point_id), curve))
    assert line is not None and line.get_visible(), f"{point_id} {curve} not plotted"
    return np.asarray(line.get_ydata(), dtype=float)


def test_click_shows_observed_corrected_predicted_and_well_levels(dock, area, qgis_canvas):
    row = 2  # PS id 3: inside well W7's buffer, with its own AM-LSTM series
    click(qgis_canvas, area["x"][row] + 4.0, area["y"][row] - 3.0)
    assert [p.series.point_id for p in dock.points] == ["3"]
    np.testing.assert_allclose(ydata(dock, 3, "observed"), area["observed"][row])
    np.testing.assert_allclose(ydata(dock, 3, "corrected"), area["corrected"][row])
    # its own AM-LSTM monthly increments, cumulated from its corrected series (as plotted) taken
    # at the start of the month before the first predicted month
    days = DATES.astype(np.int64)
    start = (area["ps_months"][0].astype("datetime64[M]") - 1).astype("datetime64[D]").astype(np.int64)
    level = np.interp(start, days, area["corrected"][row])
    np.testing.assert_allclose(ydata(dock, 3, "amlstm"), level + np.cumsum(area["ps_increments"]))
    # well-level LSTM / physical predictions: monthly increments cumulated from the buffer mean
    # of the month before the first prediction (month 12 -> month 11's mean)
    for curve in ("lstm", "physical"):
        expected = area["well_mean"][11] + np.cumsum(area["predicted_well"][curve])
        np.testing.assert_allclose(ydata(dock, f"well {WELL}", curve), expected)
    np.testing.assert_allclose(ydata(dock, f"well {WELL}", "well mean"), area["well_mean"])
    for name in GW_LAYERS:
        np.testing.assert_allclose(ydata(dock, f"well {WELL}", f"gw_{name}", axis="m"), area["levels"][name])
        label = dock.plot.line(("m", f"well {WELL}", f"gw_{name}")).get_label()
        assert f"attention {ATTENTION[name]:.2f}" in label
    assert dock.plot.ax_levels.get_visible()
    trend = dock.plot.line(("mm", "3", "trend")).get_label()
    assert "mm/yr" in trend and "R²" in trend


def test_click_far_from_any_ps_says_so_and_keeps_the_plot(dock, area, qgis_canvas):
    click(qgis_canvas, area["x"][0], area["y"][0])
    click(qgis_canvas, area["x"][0] + 50.0, area["y"][0] + 50.0)  # between four PS, 70 m from each
    assert "No PS within the search radius" in dock.message()
    assert [p.series.point_id for p in dock.points] == ["1"]


def test_shift_click_keeps_two_series_in_distinct_colours(dock, area, qgis_canvas):
    x, y, observed = area["x"], area["y"], area["observed"]
    click(qgis_canvas, x[2], y[2])
    click(qgis_canvas, x[19], y[19], Qt.KeyboardModifier.ShiftModifier)
    assert [p.series.point_id for p in dock.points] == ["3", "20"]
    np.testing.assert_allclose(ydata(dock, 3, "observed"), observed[2])
    np.testing.assert_allclose(ydata(dock, 20, "observed"), observed[19])
    colours = {dock.plot.line(("mm", pid, "observed")).get_color() for pid in ("3", "20")}
    assert len(colours) == 2
    assert len(dock._markers) == 2  # both highlighted on the map
    click(qgis_canvas, x[5], y[5])  # a plain click starts again
    assert [p.series.point_id for p in dock.points] == ["6"]
    assert not dock.plot.line(("mm", "3", "observed")).get_visible()


def test_reference_point_persists_across_clicks(dock, area, qgis_canvas):
    x, y, observed = area["x"], area["y"], area["observed"]
    click(qgis_canvas, x[0], y[0], Qt.KeyboardModifier.ControlModifier)
    assert "PS 1" in dock.reference_label.text()
    for row in (2, 19, 30):
        click(qgis_canvas, x[row], y[row])
        np.testing.assert_allclose(ydata(dock, row + 1, "observed"), observed[row] - observed[0])
        assert dock.reference is not None and dock.reference.series.point_id == "1"
    dock.clear_reference()
    np.testing.assert_allclose(ydata(dock, 31, "observed"), observed[30])


def test_date_range_restricts_the_fit(dock, area, qgis_canvas):
    dock.linked_combos["corrected"].setLayer(None)  # fit the observed series
    row = 7
    click(qgis_canvas, area["x"][row], area["y"][row])
    start = DATES[10]
    dock.start_edit.setDate(dock.start_edit.date().fromString(str(start), "yyyy-MM-dd"))
    inside = start <= DATES
    years = (DATES[inside] - DATES[0]).astype(float) / 365.25
    slope, intercept = np.polyfit(years, area["observed"][row][inside], 1)
    trend = dock.plot.line(("mm", str(row + 1), "trend"))
    np.testing.assert_allclose(trend.get_ydata(), intercept + slope * years, atol=1e-9)
    assert f"{slope:+.1f}" in trend.get_label()


def test_exported_csv_holds_what_is_shown(dock, area, qgis_canvas, tmp_path):
    click(qgis_canvas, area["x"][19], area["y"][19])
    click(qgis_canvas, area["x"][2], area["y"][2], Qt.KeyboardModifier.ShiftModifier)
    path = tmp_path / "shown.csv"
    rows = dock.export_csv(str(path))
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == rows
    shown = {(c.point_id, c.curve) for c in dock.plot.shown}
    assert {(r["point_id"], r["curve"]) for r in table} == shown
    observed_20 = [float(r["value"]) for r in table if r["point_id"] == "20" and r["curve"] == "observed"]
    np.testing.assert_allclose(observed_20, area["observed"][19])
    dates_20 = [r["date"] for r in table if r["point_id"] == "20" and r["curve"] == "observed"]
    assert dates_20 == [str(d) for d in DATES]
    levels = [r for r in table if r["curve"] == f"gw_{GW_LAYERS[0]}"]
    np.testing.assert_allclose([float(r["value"]) for r in levels], area["levels"][GW_LAYERS[0]])
    assert {r["unit"] for r in levels} == {"m"}
    for (point_id, curve), line in ((c.key[1:], dock.plot.line(c.key)) for c in dock.plot.shown):
        values = [float(r["value"]) if r["value"] else np.nan for r in table
                  if (r["point_id"], r["curve"]) == (point_id, curve)]  # fmt: skip
        np.testing.assert_allclose(values, line.get_ydata())
    png = tmp_path / "plot.png"
    dock.export_png(str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_layer_without_date_fields_gets_a_clear_message(dock):
    plain = QgsVectorLayer("Point?crs=EPSG:32650&field=pid:integer&field=velocity:double", "plain", "memory")
    QgsProject.instance().addMapLayer(plain)
    dock.set_layer(plain)
    assert "no date fields" in dock.message() and "plain" in dock.message()


def test_egms_csv_with_bare_date_fields(qgis_iface, qgis_canvas, tmp_path):
    """An EGMS-style CSV (pid, easting, northing, 20190105...) loaded as delimited text."""
    from subsidence_lab.ui.timeseries_dock import TimeSeriesDock

    ids, x, y, observed, _ = ps_arrays(seed=3)
    names = [date_field_name(d, prefix="") for d in DATES]
    path = tmp_path / "egms.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["pid", "easting", "northing", "mean_velocity", *names])
        for i in range(ids.size):
            writer.writerow([f"1A{ids[i]:04d}", x[i], y[i], 0.0, *observed[i]])
    uri = f"file://{path}?delimiter=,&xField=easting&yField=northing&crs={CRS}"
    egms = QgsVectorLayer(uri, "egms", "delimitedtext")
    assert egms.isValid()
    QgsProject.instance().addMapLayer(egms)
    show_extent(qgis_canvas, egms)
    widget = TimeSeriesDock(qgis_iface)
    try:
        widget.set_layer(egms)
        widget.activate_tool()
        click(qgis_canvas, x[11], y[11])
        assert [p.series.point_id for p in widget.points] == ["1A0012"]
        np.testing.assert_allclose(ydata(widget, "1A0012", "observed"), observed[11])
    finally:
        dispose(widget)
        QgsProject.instance().removeAllMapLayers()


def test_real_egms_export_click_shows_its_row(qgis_iface, qgis_canvas, realdata_dir):
    """The genuine EGMS L2b burst (11,590 PS x 210 bare-YYYYMMDD dates), read straight from its ZIP."""
    import io
    import zipfile

    from subsidence_lab.ui.timeseries_dock import TimeSeriesDock

    zip_path = realdata_dir / "egms-ustica-l2b" / "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip"
    name = "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.csv"
    with zipfile.ZipFile(zip_path) as zf:
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8")))
    date_names = sorted(k for k in rows[0] if k.isdigit() and len(k) == 8)
    assert len(date_names) == 210
    uri = (f"/vsizip/{zip_path}/{name}|option:HEADERS=YES|option:AUTODETECT_TYPE=YES"
           "|option:X_POSSIBLE_NAMES=easting|option:Y_POSSIBLE_NAMES=northing")  # fmt: skip
    egms = QgsVectorLayer(uri, "egms", "ogr")
    egms.setCrs(QgsCoordinateReferenceSystem("EPSG:3035"))
    QgsProject.instance().addMapLayer(egms)
    widget = TimeSeriesDock(qgis_iface)
    try:
        for row in (rows[123], rows[7000]):
            x, y = float(row["easting"]), float(row["northing"])
            canvas_extent = QgsRectangle(x - 150, y - 150, x + 150, y + 150)
            show_extent(qgis_canvas, egms, crs="EPSG:3035", extent=canvas_extent)
            widget.set_layer(egms)
            widget.activate_tool()
            click(qgis_canvas, x, y)
            assert [p.series.point_id for p in widget.points] == [row["pid"]]
            expected = [float(row[d]) if row[d] else np.nan for d in date_names]
            np.testing.assert_allclose(ydata(widget, row["pid"], "observed"), expected)
            trend = widget.plot.line(("mm", row["pid"], "trend")).get_label()
            # the dock's velocity against EGMS's own mean_velocity (mm/yr, same LOS series)
            velocity = float(trend.split(" trend ")[1].split(" ")[0])
            assert abs(velocity - float(row["mean_velocity"])) < 0.6
    finally:
        dispose(widget)
        QgsProject.instance().removeAllMapLayers()


def test_many_kept_series_stay_exact_and_the_legend_compact(dock, area, qgis_canvas, tmp_path):
    rows = [0, 5, 8, 13, 21, 26, 33]
    for i, row in enumerate(rows):
        modifiers = Qt.KeyboardModifier.ShiftModifier if i else NO_MODIFIER
        click(qgis_canvas, area["x"][row], area["y"][row], modifiers)
    assert [p.series.point_id for p in dock.points] == [str(r + 1) for r in rows]
    legend = [t.get_text() for t in dock.plot._legend.get_texts()]
    assert "+ 6 kept PS (colours as on the map)" in legend
    assert not any(text.startswith("1 ") for text in legend)  # the first PS is counted, not listed
    path = tmp_path / "kept.csv"
    dock.export_csv(str(path))
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    for row in rows:  # kept ones (drawn together) and the last one alike
        for curve, expected in (("observed", area["observed"][row]), ("corrected", area["corrected"][row])):
            got = [float(r["value"]) for r in table if r["point_id"] == str(row + 1) and r["curve"] == curve]
            np.testing.assert_allclose(got, expected)
