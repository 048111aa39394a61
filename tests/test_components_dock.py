"""The components dock: lists a decomposition, overrides classes, styles the layer by PCk."""

import numpy as np
import pytest
from dock_data import CRS, DATES, dispose, layer, ps_arrays
from qgis.core import QgsGraduatedSymbolRenderer, QgsProject, QgsVectorLayer

from subsidence_lab.core import gpkg_writer
from subsidence_lab.core.component_choice import compact_numbers, removal_parameters, shares_of_maps
from subsidence_lab.core.pca import Decomposition, decompose

YEARS = (DATES - DATES[0]).astype(float) / 365.25


def _area(seed=0):
    """PS with a planted trend, an annual cycle and a ramp, so three components carry signal."""
    ids, x, y, observed, _ = ps_arrays(seed)
    rng = np.random.default_rng(seed + 10)
    season = 4.0 * np.sin(2 * np.pi * YEARS)
    ramp = (x - x.mean()) / 100.0
    amplitude = rng.uniform(0.5, 1.5, ids.size)[:, None]
    series = observed + amplitude * season + ramp[:, None] * rng.normal(0, 2, DATES.size)
    return ids, x, y, series


@pytest.fixture()
def decomposition_files(tmp_path):
    ids, x, y, series = _area()
    dec = decompose(series, k=4, dates=DATES, ids=ids, x=x, y=y)
    npz = tmp_path / "decomposition.npz"
    dec.save(str(npz))
    maps = dec.component_maps_mm()
    columns = [("id", "int", ids)] + [(f"PC{j + 1}", "float", maps[:, j]) for j in range(dec.k)]
    pc_layer = layer(gpkg_writer.write_points_gpkg(str(tmp_path / "pc.gpkg"), x, y, CRS, columns), "pc")
    QgsProject.instance().addMapLayer(pc_layer)
    yield dec, str(npz), pc_layer, maps
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture()
def dock(qgis_iface):
    from subsidence_lab.ui.components_dock import ComponentsDock

    widget = ComponentsDock(qgis_iface)
    yield widget
    dispose(widget)


def test_lists_components_and_styles_the_layer_by_the_picked_one(dock, decomposition_files):
    dec, npz, pc_layer, maps = decomposition_files
    dock.set_layer(pc_layer)
    dock.load_decomposition(npz)
    assert dock.table.rowCount() == dec.k
    share = dec.sigma**2 / np.sum(dec.all_sigma**2)
    for j in range(dec.k):
        assert dock.table.item(j, 2).text() == f"{100 * share[j]:.2f} %"
        assert dock.table.item(j, 4).text() == dec.labels[j]
    for k in (2, 3):
        dock.table.setCurrentCell(k - 1, 0)  # as a user picking the row
        renderer = pc_layer.renderer()
        assert isinstance(renderer, QgsGraduatedSymbolRenderer)
        assert renderer.classAttribute() == f"PC{k}"
        ranges = renderer.ranges()
        limit = np.percentile(np.abs(maps[:, k - 1]), 98.0)  # symmetric, centred on 0
        assert ranges[0].upperValue() == pytest.approx(-limit + 2 * limit / len(ranges))
        assert ranges[-1].lowerValue() == pytest.approx(limit - 2 * limit / len(ranges))
        middle = len(ranges) // 2
        assert ranges[middle].lowerValue() == pytest.approx(0.0, abs=1e-9)
        line = dock.plot.selected_line(k)
        np.testing.assert_allclose(line.get_ydata(), dec.temporal[:, k - 1])
        assert line.get_linewidth() > dock.plot.selected_line(1).get_linewidth()
    heights = [b.get_height() for b in dock.plot.bars]  # the scree: every singular value, up to 30
    expected = 100 * dec.all_sigma**2 / np.sum(dec.all_sigma**2)
    np.testing.assert_allclose(heights, expected[: len(heights)])
    assert len(heights) == min(30, dec.all_sigma.size)


def test_class_override_reaches_the_error_removal_parameters_and_file(dock, decomposition_files, tmp_path):
    dec, npz, pc_layer, _ = decomposition_files
    dock.set_layer(pc_layer)
    dock.load_decomposition(npz)
    wanted = ["deformation", "orbital", "keep", "noise"]
    for k, name in enumerate(wanted, start=1):
        dock.set_class(k, name)
    params = dock.removal_parameters()
    assert params == {"DEFORMATION_COMPONENTS": "1", "ERROR_COMPONENTS": "2,4", "DECOMPOSITION": npz}
    saved = Decomposition.load(dock.save_classes(str(tmp_path / "classes.npz")))
    assert saved.labels == wanted
    np.testing.assert_array_equal(saved.temporal, dec.temporal)
    assert Decomposition.load(npz).labels == dec.labels  # the input file is left alone


def test_layer_alone_gives_shares_from_its_pc_fields(dock, decomposition_files):
    dec, _, pc_layer, maps = decomposition_files
    dock.set_layer(pc_layer)
    assert dock.table.rowCount() == dec.k
    within = dec.sigma**2 / np.sum(dec.sigma**2)  # S orthonormal: sum PCk^2 = sigma_k^2
    for j in range(dec.k):
        assert dock.table.item(j, 2).text() == f"{100 * within[j]:.2f} %"
    dock.select_component(4)
    assert pc_layer.renderer().classAttribute() == "PC4"


def test_compact_numbers_and_parameters():
    assert compact_numbers([5, 1, 2, 3, 7, 8]) == "1-3,5,7-8"
    assert compact_numbers([]) == ""
    assert removal_parameters(["noise", "deformation", "seasonal_atmosphere", "orbital"]) == ("2", "1,4")
    with pytest.raises(ValueError, match="unknown"):
        removal_parameters(["deformation", "weather"])
    np.testing.assert_allclose(shares_of_maps(np.array([[3.0, 0.0], [4.0, 1.0]])), [25 / 26, 1 / 26])


def test_saved_classes_and_component_texts_drive_the_error_removal_alike(
    dock, decomposition_files, provider, tmp_path
):
    """The two forms of the override give pcaerrorremoval the same components."""
    import processing
    from dock_data import write_ps_gpkg

    dec, npz, pc_layer, _ = decomposition_files
    ids, x, y, series = _area()
    ps_path = write_ps_gpkg(tmp_path / "ps.gpkg", ids, x, y, series)
    dock.set_layer(pc_layer)
    dock.load_decomposition(npz)
    for k, name in enumerate(["deformation", "noise", "deformation", "orbital"], start=1):
        dock.set_class(k, name)
    saved = dock.save_classes(str(tmp_path / "classes.npz"))
    base = {"INPUT": ps_path, "POLYNOMIAL": 1, "QUIET_VELOCITY_MM_PER_YEAR": 0.0}
    alg = "subsidencelab:pcaerrorremoval"
    by_texts = processing.run(alg, {**base, **dock.removal_parameters(), "OUTPUT": str(tmp_path / "a.gpkg")})
    by_file = processing.run(alg, {**base, "DECOMPOSITION": saved, "OUTPUT": str(tmp_path / "b.gpkg")})
    proposed = processing.run(alg, {**base, "DECOMPOSITION": npz, "OUTPUT": str(tmp_path / "c.gpkg")})

    def values(result):
        out = QgsVectorLayer(result["OUTPUT"], "out", "ogr")
        names = [n for n in out.fields().names() if n.startswith("D")]
        return np.array([[f[n] for n in names] for f in out.getFeatures()], dtype=float)

    assert values(by_texts).shape == (ids.size, DATES.size)
    np.testing.assert_allclose(values(by_file), values(by_texts))
    assert dec.labels != ["deformation", "noise", "deformation", "orbital"]  # a real override...
    assert not np.allclose(values(proposed), values(by_texts))  # ...changes the result
