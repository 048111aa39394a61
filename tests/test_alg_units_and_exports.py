"""Units, field names and real exports through the Processing algorithms (issue 8, acceptance 2-3).

* A layer in cm with UNIT=cm gives, in mm, exactly what the same layer converted by hand gives
  (pcaerrorremoval and preparepsdataset); without the unit, a layer whose values look like cm
  gets a warning.
* The real EGMS L2b burst, read from its ZIP as downloaded, runs through pcaerrorremoval with
  every default.
* A SARscape / P-SBAS-style shapefile (D20190101... in cm, Topo, cosU, VEL) runs with its
  elevation recognised, and its LOS up component gives the vertical conversion.
* Without any elevation the quadratic + elevation default runs as a quadratic and says so.
"""

from dataclasses import replace

import numpy as np
import pytest
from qgis.core import QgsProcessingFeedback, QgsProject, QgsVectorLayer

from subsidence_lab.core import ps_io
from subsidence_lab.core.ps_ops import velocity
from subsidence_lab.core.synthetic import make_study_area

EGMS_ZIP = "egms-ustica-l2b/EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip"
EGMS_CSV = "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.csv"


class Capture(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.warnings = []
        self.infos = []

    def pushWarning(self, text):
        self.warnings.append(text)

    def pushInfo(self, text):
        self.infos.append(text)


def _run(alg, params, feedback=None):
    import processing

    return processing.run(f"subsidencelab:{alg}", params, feedback=feedback or Capture())


@pytest.fixture(scope="module")
def cm_layers(tmp_path_factory):
    """The same synthetic area as a layer in cm (with Topo, and VEL in mm/yr) and converted by hand to mm."""
    area = make_study_area(seed=4, n_points=700, n_dates=36, nan_fraction=0.02)
    ps = area.ps
    folder = tmp_path_factory.mktemp("units")
    in_cm = ps.displacement_mm / 10.0
    vel = np.round(velocity(ps.displacement_mm, ps.dates)[0], 1)  # the producer's VEL, mm/yr
    fields = {"Topo": ps.z, "VEL": vel}
    cm_path = ps_io.write_ps_file(folder / "in_cm.gpkg", ps.with_displacement(in_cm), fields=fields)
    mm_path = ps_io.write_ps_file(folder / "by_hand.gpkg", ps.with_displacement(in_cm * 10.0), fields=fields)
    return str(cm_path), str(mm_path), folder


def _same(a, b):
    assert a.n_points == b.n_points and np.array_equal(a.ids, b.ids)
    assert np.array_equal(a.displacement_mm, b.displacement_mm, equal_nan=True)
    for name, values in a.attributes.items():
        assert np.array_equal(values, b.attributes[name], equal_nan=values.dtype.kind == "f"), name


def test_a_layer_in_cm_with_the_unit_gives_exactly_the_layer_converted_by_hand(provider, cm_layers):
    cm_path, mm_path, folder = cm_layers
    for alg, extra in (("pcaerrorremoval", {}), ("preparepsdataset", {"DIRECTION": 0})):
        with_unit = Capture()
        out_cm = _run(
            alg, {"INPUT": cm_path, "UNIT": 1, **extra, "OUTPUT": str(folder / f"{alg}_cm.gpkg")}, with_unit
        )["OUTPUT"]
        by_hand = Capture()
        out_mm = _run(alg, {"INPUT": mm_path, **extra, "OUTPUT": str(folder / f"{alg}_mm.gpkg")}, by_hand)[
            "OUTPUT"
        ]
        _same(ps_io.read_ps_file(out_cm, date_fields="D"), ps_io.read_ps_file(out_mm, date_fields="D"))
        assert not [w for w in with_unit.warnings + by_hand.warnings if w.startswith("UNIT")]
        assert any("read in cm and converted to mm" in i for i in with_unit.infos)
    # Not the same as reading the cm values as mm: the conversion did happen.
    raw = ps_io.read_ps_file(cm_path)
    converted = ps_io.read_ps_file(str(folder / "preparepsdataset_cm.gpkg"), date_fields="D")
    assert np.allclose(converted.displacement_mm, 10.0 * raw.displacement_mm, equal_nan=True)


def test_a_layer_that_looks_like_cm_read_as_mm_gets_a_warning(provider, cm_layers):
    cm_path, _, folder = cm_layers
    for alg in ("pcaerrorremoval", "preparepsdataset", "spatiotemporalfilter"):
        feedback = Capture()
        _run(alg, {"INPUT": cm_path, "OUTPUT": str(folder / f"{alg}_warned.gpkg")}, feedback)
        unit_warnings = [w for w in feedback.warnings if w.startswith("UNIT:")]
        text = " ".join(unit_warnings)
        assert "the velocity field 'VEL' spreads 10" in text, feedback.warnings
        assert "the series are in cm: set the unit to cm" in text
        assert "too smooth for mm" in text


def test_egms_zip_runs_through_error_removal_with_every_default(provider, realdata_dir, tmp_path):
    feedback = Capture()
    # The layer QGIS makes of the CSV inside the ZIP (browser, drag and drop): no unzipping.
    # Owned by the project (C++), so nothing Python-owned outlives QGIS at the end of the session.
    project = QgsProject.instance()
    source = f"/vsizip/{realdata_dir / EGMS_ZIP}/{EGMS_CSV}"
    layer = project.addMapLayer(QgsVectorLayer(source, "egms", "ogr"))
    assert layer is not None and layer.isValid()
    layer_id = layer.id()
    del layer
    try:
        params = {"INPUT": layer_id, "OUTPUT": str(tmp_path / "egms.gpkg")}
        out = _run("pcaerrorremoval", params, feedback)["OUTPUT"]
    finally:
        project.removeMapLayer(layer_id)
    corrected = ps_io.read_ps_file(out, date_fields="D")
    assert corrected.n_points == 11590 and corrected.n_dates == 210
    assert np.isfinite(corrected.attributes["velocity_mm_per_year"]).all()
    # EGMS L2b is calibrated: the defaults keep its reference and its velocities (issue 8, acc. 2).
    raw = ps_io.read_ps_file(source)
    order = {key: i for i, key in enumerate(np.asarray(corrected.ids).astype(str).tolist())}
    rows = [order[key] for key in np.asarray(raw.ids).astype(str).tolist()]
    v_raw = velocity(raw.displacement_mm, raw.dates)[0]
    v_out = velocity(corrected.displacement_mm[rows], raw.dates)[0]
    assert np.corrcoef(v_out, np.asarray(raw.attributes["mean_velocity"], dtype=float))[0, 1] >= 0.99
    assert abs(np.median(v_out - v_raw)) < 0.2
    removed = np.asarray(corrected.attributes["removed_velocity_mm_per_year"], dtype=float)[rows]
    np.testing.assert_allclose(removed, v_raw - v_out, atol=1e-6)
    # height_ortho is the elevation: the default quadratic + elevation surface keeps its terms.
    assert not any("without the elevation terms" in w for w in feedback.warnings)
    assert not [w for w in feedback.warnings if w.startswith("UNIT")]  # EGMS is in mm


@pytest.fixture(scope="module")
def sarscape_shapefile(tmp_path_factory):
    """A P-SBAS / SARscape-style export: D20190101... in cm, Topo (m), cosU, VEL (cm/yr), no height."""
    area = make_study_area(seed=5, n_points=600, n_dates=30, nan_fraction=0.0)
    ps = area.ps
    rng = np.random.default_rng(5)
    cos_u = np.round(rng.uniform(0.74, 0.82, ps.n_points), 4)
    in_cm = np.round(ps.displacement_mm / 10.0, 3)
    fields = {
        "Topo": np.round(ps.z, 1),
        "cosU": cos_u,
        "VEL": np.round(velocity(in_cm, ps.dates)[0], 3),
        "COHER": rng.uniform(0.6, 1.0, ps.n_points),
    }
    dates = ps.dates - ps.dates[0] + np.datetime64("2019-01-01")
    shp = ps_io.write_ps_file(
        tmp_path_factory.mktemp("sarscape") / "PSBAS_export.shp",
        replace(ps, dates=dates, displacement_mm=in_cm, z=None, date_fields=None),
        fields=fields,
    )
    return str(shp)


def test_sarscape_style_shapefile_in_cm_with_topo_and_cosu(provider, sarscape_shapefile, tmp_path):
    read = ps_io.read_ps_file(sarscape_shapefile, unit="cm")
    assert read.date_fields[0] == "D20190101" and read.z is not None  # Topo is the elevation
    feedback = Capture()
    _run(
        "pcaerrorremoval",
        {"INPUT": sarscape_shapefile, "UNIT": 1, "OUTPUT": str(tmp_path / "err.gpkg")},
        feedback,
    )
    assert not any("without the elevation terms" in w for w in feedback.warnings)
    assert not [w for w in feedback.warnings if w.startswith("UNIT")]
    out = _run(
        "preparepsdataset",
        {"INPUT": sarscape_shapefile, "UNIT": 1, "DIRECTION": 1, "OUTPUT": str(tmp_path / "vertical.gpkg")},
    )["OUTPUT"]
    vertical = ps_io.read_ps_file(out, date_fields="D")
    assert vertical.attributes["direction"].tolist() == ["vertical"] * read.n_points
    expected = read.displacement_mm / read.attributes["cosU"][:, None]  # D_v = D_LOS (mm) / cosU
    assert np.allclose(vertical.displacement_mm, expected, rtol=1e-12, equal_nan=True)


def test_without_elevation_the_default_surface_runs_as_a_quadratic_and_says_so(provider, cm_layers, tmp_path):
    cm_path, _, _ = cm_layers
    ps = ps_io.read_ps_file(cm_path, unit="cm")
    no_z = ps_io.write_ps_file(tmp_path / "no_z.gpkg", ps)  # no elevation field at all
    feedback = Capture()
    default = _run("pcaerrorremoval", {"INPUT": str(no_z), "OUTPUT": str(tmp_path / "a.gpkg")}, feedback)
    assert any(
        w.startswith(
            "Z_FIELD: no elevation field or DEM, so the surface is fitted as a quadratic without "
            "the elevation terms"
        )
        for w in feedback.warnings
    )
    quadratic = _run(
        "pcaerrorremoval", {"INPUT": str(no_z), "POLYNOMIAL": 2, "OUTPUT": str(tmp_path / "b.gpkg")}
    )
    _same(
        ps_io.read_ps_file(default["OUTPUT"], date_fields="D"),
        ps_io.read_ps_file(quadratic["OUTPUT"], date_fields="D"),
    )
