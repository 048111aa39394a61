"""Units of the series, elevation / LOS field names real exports use, and ZIP reading (core, no QGIS)."""

import zipfile
from dataclasses import replace

import numpy as np
import pytest

from subsidence_lab.core import ps_io, ps_ops, units
from subsidence_lab.core.archives import resolve_archive
from subsidence_lab.core.field_names import Z_FIELD_CANDIDATES
from subsidence_lab.core.polynomial import elevation_problem
from subsidence_lab.core.psdata import PSDataset

DATES = np.array(
    ["2019-01-01", "2019-01-13", "2019-01-25", "2019-02-06", "2019-02-18", "2019-03-02"],
    dtype="datetime64[D]",
)


def _noisy_ps(m=300, noise_mm=2.0, velocity_spread=8.0, seed=0):
    """m points, 6 dates: a line per point (mm/yr) plus white noise (mm)."""
    rng = np.random.default_rng(seed)
    t = (DATES - DATES[0]).astype(np.float64) / 365.25
    v = rng.normal(0.0, velocity_spread, m)
    series = v[:, None] * t[None, :] * 10 + rng.normal(0.0, noise_mm, (m, DATES.size))
    x, y = rng.uniform(0, 5000, m), rng.uniform(0, 5000, m)
    return PSDataset(ids=np.arange(1, m + 1), x=x, y=y, dates=DATES, displacement_mm=series, crs="EPSG:32633")


def test_unit_names_and_scales():
    assert [units.mm_per_unit(u) for u in ("mm", "cm", "m", " CM ")] == [1.0, 10.0, 1000.0, 10.0]
    with pytest.raises(ValueError, match="unit:.*'km'"):
        units.mm_per_unit("km")


def test_a_layer_in_cm_is_read_in_mm_exactly_as_converted_by_hand(tmp_path):
    ps = _noisy_ps()
    in_cm = ps.with_displacement(ps.displacement_mm / 10.0)
    by_hand = ps.with_displacement(in_cm.displacement_mm * 10.0)
    cm_path = ps_io.write_ps_file(
        tmp_path / "cm.gpkg", in_cm, fields={"height": np.linspace(5, 90, ps.n_points)}
    )
    mm_path = ps_io.write_ps_file(
        tmp_path / "mm.gpkg", by_hand, fields={"height": np.linspace(5, 90, ps.n_points)}
    )
    read_cm = ps_io.read_ps_file(cm_path, unit="cm")
    read_mm = ps_io.read_ps_file(mm_path)
    assert np.array_equal(read_cm.displacement_mm, read_mm.displacement_mm, equal_nan=True)
    assert np.array_equal(read_cm.z, np.linspace(5, 90, ps.n_points))  # elevation is not scaled
    in_m = ps_io.read_ps_file(cm_path, unit="m")
    assert np.allclose(in_m.displacement_mm, 1000.0 * in_cm.displacement_mm, rtol=1e-15)
    with pytest.raises(ValueError, match="unit:.*'inch'"):
        ps_io.read_ps_file(cm_path, unit="inch")


def test_values_that_look_like_cm_are_warned_about():
    ps = _noisy_ps()
    assert units.unit_warnings(ps, "mm") == []
    in_cm = ps.with_displacement(ps.displacement_mm / 10.0)
    warnings = units.unit_warnings(in_cm, "mm")
    assert len(warnings) == 1 and "too smooth for mm" in warnings[0] and "set the unit to cm" in warnings[0]
    # Read with the right unit, nothing to say.
    assert units.unit_warnings(in_cm.with_displacement(in_cm.displacement_mm * 10.0), "cm") == []
    # mm read as cm: ten times too rough.
    assert "too rough for cm" in " ".join(
        units.unit_warnings(ps.with_displacement(ps.displacement_mm * 10), "cm")
    )


def test_a_velocity_field_an_order_of_magnitude_off_is_warned_about():
    ps = _noisy_ps(noise_mm=1.0)  # plausible in mm, too smooth in cm: the velocity field speaks too
    v_mm = ps_ops.velocity(ps.displacement_mm, ps.dates)[0]
    in_cm = ps.with_displacement(ps.displacement_mm / 10.0)
    # The producer's VEL in mm/yr with series in cm (read as mm): 10x.
    with_vel = replace(in_cm, attributes={"VEL": np.round(v_mm, 1)})
    text = " ".join(units.unit_warnings(with_vel, "mm"))
    assert "'VEL' spreads 10" in text and "the series are in cm: set the unit to cm" in text
    # VEL in cm/yr as the series, read with unit cm: consistent, no velocity warning.
    good = replace(in_cm.with_displacement(in_cm.displacement_mm * 10.0), attributes={"VEL": v_mm / 10.0})
    assert not any("VEL" in w for w in units.unit_warnings(good, "cm"))
    # mean_velocity in mm/yr with series in mm.
    egms = replace(ps, attributes={"mean_velocity": v_mm + 0.01})
    assert units.unit_warnings(egms, "mm") == []


@pytest.mark.parametrize(
    "name",
    ["height", "height_ortho", "height_ellipse", "Topo", "topo", "elevation", "ELEV", "z", "hgt", "dem"],
)
def test_elevation_field_names_of_real_exports_are_detected(name):
    m = 5
    columns = {
        "pid": np.arange(m),
        name: np.arange(m) * 10.0 + 3,
        "D20190101": np.zeros(m),
        "D20190113": np.ones(m),
    }
    ps = ps_io.ps_from_columns(columns, np.arange(m) * 1.0, np.zeros(m), "EPSG:32633")
    assert np.array_equal(ps.z, np.arange(m) * 10.0 + 3)
    assert name not in ps.attributes


def test_elevation_preference_order_is_the_documented_one():
    m = 3
    columns = {
        "z": np.full(m, 1.0),
        "height_ellipse": np.full(m, 2.0),
        "Topo": np.full(m, 3.0),
        "height_ortho": np.full(m, 4.0),
        "D20190101": np.zeros(m),
    }
    assert Z_FIELD_CANDIDATES.index("height_ortho") < Z_FIELD_CANDIDATES.index("height_ellipse")
    ps = ps_io.ps_from_columns(columns, np.arange(m) * 1.0, np.zeros(m), "")
    assert np.all(ps.z == 4.0)  # height_ortho first, then height_ellipse, ..., topo, ..., z
    del columns["height_ortho"]
    assert np.all(ps_io.ps_from_columns(columns, np.arange(m) * 1.0, np.zeros(m), "").z == 2.0)


def _los_ps(attributes, incidence=None):
    series = np.array([[0.0, -8.0, -16.0], [0.0, 3.0, np.nan]])
    return PSDataset(
        ids=np.array([1, 2]),
        x=np.zeros(2),
        y=np.zeros(2),
        dates=DATES[:3],
        displacement_mm=series,
        incidence_deg=incidence,
        attributes=attributes,
    )


def test_los_to_vertical_from_a_los_unit_vector_up_component():
    series = np.array([[0.0, -8.0, -16.0], [0.0, 3.0, np.nan]])
    for name in ("los_up", "cosU", "los_u", "up"):
        out = ps_ops.los_to_vertical(_los_ps({name: np.array([0.8, 0.5])}))
        assert out.direction == "vertical"
        assert np.allclose(out.displacement_mm, series / np.array([[0.8], [0.5]]), rtol=1e-15, equal_nan=True)
    # A per-point incidence angle comes before a detected up component; a named field before both.
    both = _los_ps({"los_up": np.array([0.8, 0.5])}, incidence=[60.0, 60.0])
    assert np.allclose(ps_ops.los_to_vertical(both).displacement_mm[:, 1], [-16.0, 6.0])
    assert np.allclose(
        ps_ops.los_to_vertical(both, los_up_field="los_up").displacement_mm[:, 1], [-10.0, 6.0]
    )
    # A NaN up component falls back to the scene angle.
    gap = ps_ops.los_to_vertical(_los_ps({"cosU": np.array([np.nan, 0.5])}), scene_incidence_deg=60.0)
    assert np.allclose(gap.displacement_mm[:, 1], [-16.0, 6.0])
    with pytest.raises(ValueError, match="los_up_field: field 'cosU' holds 1.5 at point 1"):
        ps_ops.los_to_vertical(_los_ps({"cosU": np.array([1.5, 0.5])}))
    with pytest.raises(ValueError, match="los_up_field: no field 'nope'"):
        ps_ops.los_to_vertical(_los_ps({"cosU": np.array([0.8, 0.5])}), los_up_field="nope")
    with pytest.raises(ValueError, match="no LOS up-component field"):
        ps_ops.los_to_vertical(_los_ps({"other": np.array([0.8, 0.5])}))


def test_elevation_problems_are_named():
    assert elevation_problem(np.array([1.0, 2.0])) is None
    assert "no elevation" in elevation_problem(None)
    assert "missing at 1 of 3" in elevation_problem(np.array([1.0, np.nan, 2.0]))
    assert "same (7 m)" in elevation_problem(np.full(4, 7.0))


def test_a_zip_holding_one_table_is_read_in_place(tmp_path):
    ps = _noisy_ps(m=20)
    csv = ps_io.write_ps_file(tmp_path / "burst.csv", ps, fields={"pid": ps.ids}, series_prefix="")
    archive = tmp_path / "burst.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(csv, "burst.csv")
        zf.writestr("burst.xml", "<metadata/>")
    assert resolve_archive(str(archive)) == f"/vsizip/{archive}/burst.csv"
    read = ps_io.read_ps_file(archive)
    assert np.allclose(read.displacement_mm, ps.displacement_mm, rtol=1e-12)
    assert read.crs == "EPSG:3035"  # easting/northing, the EGMS layout
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as zf:
        zf.write(csv, "a.csv")
        zf.write(csv, "b.csv")
    with pytest.raises(ValueError, match="two.zip: the ZIP holds 2 tables"):
        ps_io.read_ps_file(tmp_path / "two.zip")
