"""core.synthetic_urban: the second generator keeps the StudyArea contract and its own truth."""

import numpy as np
import pytest

from subsidence_lab.core.groundwater import GroundwaterRecords
from subsidence_lab.core.synthetic import LAYERS, TRUTH_NAMES, StudyArea, benchmark_stations
from subsidence_lab.core.synthetic_urban import make_urban_area


@pytest.fixture(scope="module")
def area():
    return make_urban_area(seed=0, n_points=3000, n_dates=50)


def test_same_contract_as_core_synthetic(area):
    assert isinstance(area, StudyArea) and isinstance(area.groundwater, GroundwaterRecords)
    ps = area.ps
    assert ps.displacement_mm.shape == (3000, 50) and ps.direction == "LOS" and ps.crs == "EPSG:32632"
    assert set(area.truth) == set(TRUTH_NAMES)
    observed = sum(area.truth[name] for name in TRUTH_NAMES)
    gaps = np.isnan(ps.displacement_mm)
    np.testing.assert_allclose(ps.displacement_mm[~gaps], observed[~gaps], atol=1e-9)
    for name in TRUTH_NAMES:
        assert np.all(area.truth[name][:, 0] == 0.0), name
    # Gaps: about the share asked, outages in blocks, never column 0 or a whole row.
    assert 0.015 < gaps.mean() < 0.06 and not gaps[:, 0].any() and not gaps.all(axis=1).any()
    t = ps.years()
    tc = t - t.mean()
    np.testing.assert_allclose(area.velocity_true_mm_per_year, area.truth["deformation"] @ tc / (tc @ tc))
    # The stable mask is ground where nothing at all deforms.
    moving = area.truth["deformation"] + area.truth["seasonal_deformation"]
    assert np.all(moving[area.stable_mask] == 0.0)
    assert np.all(np.any(moving[~area.stable_mask] != 0.0, axis=1))
    assert area.deformation_vertical_mm.shape == ps.displacement_mm.shape
    assert len(benchmark_stations(area)) == 4


def test_six_lagged_bowls_with_fringes_an_uplift_and_few_stable_points(area):
    ps, v = area.ps, area.velocity_true_mm_per_year
    kinds = [b["kind"] for b in area.bowls]
    assert kinds.count("subsidence") == 6 and kinds.count("uplift") == 1
    for bowl in area.bowls:
        near = np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) < 0.3 * bowl["sigma_m"]
        if near.any():
            assert np.sign(v[near].mean()) == np.sign(bowl["rate_mm_per_year"])
        if bowl["kind"] == "subsidence":
            assert bowl["layer"] in LAYERS and 2 <= bowl["lag_months"] <= 14
    # Gentle fringes: many deforming points move less than 2 mm/yr (the trap of a fixed
    # mm/yr stable rule), and truly stable ground is a minority.
    slow_but_moving = (~area.stable_mask) & (np.abs(v) < 2.0)
    assert slow_but_moving.mean() > 0.1
    assert 0.1 < area.stable_mask.mean() < 0.5
    # Non-linear in time: a straight line leaves > 1 mm RMS at the fastest points.
    fast = np.argsort(v)[:20]
    t = ps.years()
    series = area.truth["deformation"][fast]
    fit = np.polynomial.polynomial.polyfit(t, series.T, 1)
    resid = series - (fit[0][:, None] + fit[1][:, None] * t)
    assert np.sqrt(np.mean(resid**2)) > 1.0


def test_errors_are_independent_from_date_to_date_and_not_seasonal(area):
    t = area.ps.years()
    for name in ("orbital", "atmosphere_stratified", "atmosphere_turbulent"):
        strength = area.truth[name][:, 1:].std(axis=0)
        signed = area.truth[name][:200, 1:].mean(axis=0)
        centred = signed - signed.mean()
        lag1 = np.sum(centred[1:] * centred[:-1]) / np.sum(centred**2)
        assert abs(lag1) < 0.4, name
        design = np.column_stack([np.ones(t.size - 1), np.cos(2 * np.pi * t[1:]), np.sin(2 * np.pi * t[1:])])
        coef, res, *_ = np.linalg.lstsq(design, signed, rcond=None)
        r2 = 1 - res[0] / np.sum(centred**2)
        assert r2 < 0.3, name
        assert strength.mean() > 0.2, name


def test_irregular_dates_clustered_points_and_monthly_multilayer_wells(area):
    ps = area.ps
    steps = np.diff(ps.dates).astype(np.int64)
    assert np.all(steps > 0) and np.unique(steps).size >= 4 and steps.max() >= 60
    counts, _, _ = np.histogram2d(ps.x, ps.y, bins=12)
    assert np.sort(counts.ravel())[::-1][:14].sum() / counts.sum() > 0.3
    gw = area.groundwater
    assert gw.layers == list(LAYERS) and gw.kind == "head" and gw.n_wells == 9
    months = gw.dates.astype("datetime64[M]")
    assert np.all(np.diff(months).astype(np.int64) == 1) and gw.dates[0] < ps.dates[0]
    assert np.all(np.isfinite(gw.levels_m))
    for bowl in (b for b in area.bowls if b["kind"] == "subsidence"):
        assert bowl["well_id"] in gw.well_ids.tolist()


def test_deterministic_from_the_seed_and_bad_parameters_named():
    a = make_urban_area(seed=3, n_points=300, n_dates=20)
    b = make_urban_area(seed=3, n_points=300, n_dates=20)
    c = make_urban_area(seed=4, n_points=300, n_dates=20)
    np.testing.assert_array_equal(a.ps.displacement_mm, b.ps.displacement_mm)
    np.testing.assert_array_equal(a.groundwater.levels_m, b.groundwater.levels_m)
    assert not np.array_equal(np.nan_to_num(a.ps.displacement_mm), np.nan_to_num(c.ps.displacement_mm))
    for kwargs, name in (({"n_bowls": 9}, "n_bowls"), ({"n_points": 5}, "n_points"),
                         ({"noise_mm": -1.0}, "noise_mm"), ({"wobble": 1}, "wobble")):
        with pytest.raises(ValueError, match=name):
            make_urban_area(**kwargs)
