"""core.synthetic: the synthetic study area matches METHODS.md section 6 and its own truth."""

import numpy as np
import pytest

from subsidence_lab.core.synthetic import (
    LAYERS,
    TRUTH_NAMES,
    SyntheticParams,
    groundwater_long_table,
    groundwater_wide_table,
    load_truth,
    make_study_area,
    save_truth,
    wells_table,
)

ERRORS = ("orbital", "atmosphere_stratified", "atmosphere_turbulent", "noise")


@pytest.fixture(scope="module")
def area():
    return make_study_area(seed=0, n_points=3000, n_dates=60, nan_fraction=0.02)


def _vertical_rate_near(area, bowl, fraction=0.25):
    ps = area.ps
    near = np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) < fraction * bowl["radius_m"]
    cos_theta = np.cos(np.deg2rad(ps.incidence_deg[near]))
    return near, area.velocity_true_mm_per_year[near] / cos_theta


def test_dates_irregular_sorted_and_layout(area):
    ps = area.ps
    steps = np.diff(ps.dates).astype(np.int64)
    assert ps.dates.dtype == np.dtype("datetime64[D]") and ps.n_dates == 60
    assert np.all(steps > 0) and np.unique(steps).size > 1
    assert np.all(steps % 24 == 0)  # RADARSAT-2 repeat with missed scenes
    span_years = (ps.dates[-1] - ps.dates[0]).astype(np.int64) / 365.25
    assert 4.5 < span_years < 7.0
    assert ps.crs == "EPSG:32650" and ps.direction == "LOS"
    assert np.array_equal(ps.ids, np.arange(1, 3001))
    assert ps.x.min() > 430000 and ps.x.max() < 470000 and ps.y.min() > 4400000 and ps.y.max() < 4440000
    assert ps.z.min() >= 0 and ps.z.max() <= 300 and ps.z.max() - ps.z.min() > 100
    assert ps.incidence_deg.min() >= 33.0 and ps.incidence_deg.max() <= 36.0
    # Clustered like a city: the densest 10 % of 1 km cells hold far more than 10 % of points.
    counts, _, _ = np.histogram2d(ps.x, ps.y, bins=20)
    top = np.sort(counts.ravel())[::-1][:40].sum() / counts.sum()
    assert top > 0.25


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_terrain_has_relief_that_a_quadratic_surface_does_not_explain(seed):
    """The DEM is plain plus ridged uplands, not a tilted plane or one-sided ramp: otherwise the
    stratified atmosphere K_j z looks like an orbital ramp and PCA cannot tell them apart
    (METHODS 2 "Classifying components", tests/test_pca_diagnostics.py acceptance)."""
    a = make_study_area(seed=seed, n_points=2000, n_dates=5)
    ps = a.ps
    z = ps.z
    xs = (ps.x - ps.x.mean()) / 20000.0
    ys = (ps.y - ps.y.mean()) / 20000.0
    design = np.column_stack([np.ones_like(xs), xs, ys, xs * ys, xs**2, ys**2])
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    r2 = 1.0 - np.sum((z - design @ coef) ** 2) / np.sum((z - z.mean()) ** 2)
    assert r2 < 0.3, r2
    # 0-300 m: a plain near sea level where most points (towns) are, uplands reaching ~300 m.
    assert 0.0 <= z.min() < 30.0 and 250.0 < z.max() <= 300.0
    assert np.median(z) < 50.0 and 0.1 < np.mean(z > 100.0) < 0.5
    assert z.std() > 50.0  # enough relief for a stratified delay of a few mm
    # Subsidence bowls and the rebound sit on the alluvial plain.
    for bowl in a.bowls:
        nearest = int(np.argmin(np.hypot(ps.x - bowl["x"], ps.y - bowl["y"])))
        assert z[nearest] < 120.0


def test_nan_share_exact_and_never_a_whole_row():
    for fraction, m, n in ((0.02, 500, 40), (0.3, 200, 17), (0.0, 100, 10)):
        a = make_study_area(seed=3, n_points=m, n_dates=n, nan_fraction=fraction)
        gaps = np.isnan(a.ps.displacement_mm)
        assert not gaps[:, 0].any()
        assert abs(gaps[:, 1:].mean() - fraction) <= 1.0 / (m * (n - 1))
        assert not gaps[:, 1:].all(axis=1).any()


def test_observed_is_sum_of_truth_and_first_column_zero(area):
    observed = area.ps.displacement_mm
    total = sum(area.truth[name] for name in TRUTH_NAMES)
    ok = ~np.isnan(observed)
    np.testing.assert_allclose(observed[ok], total[ok], rtol=0, atol=1e-9)
    assert set(area.truth) == set(TRUTH_NAMES)
    for name, values in area.truth.items():
        assert values.shape == observed.shape and not np.isnan(values).any(), name
        assert np.all(values[:, 0] == 0.0), name
    cos_theta = np.cos(np.deg2rad(area.ps.incidence_deg))[:, None]
    expected_vertical = (area.truth["deformation"] + area.truth["seasonal_deformation"]) / cos_theta
    np.testing.assert_allclose(area.deformation_vertical_mm, expected_vertical, atol=1e-12)
    # The stated LOS velocity is the least-squares line through the true deformation.
    t = area.ps.years()
    i = int(np.argmin(area.velocity_true_mm_per_year))
    assert area.velocity_true_mm_per_year[i] == pytest.approx(
        np.polyfit(t, area.truth["deformation"][i], 1)[0]
    )


def test_magnitudes_in_range(area):
    bowls = [b for b in area.bowls if b["kind"] == "subsidence"]
    uplifts = [b for b in area.bowls if b["kind"] == "uplift"]
    assert 2 <= len(bowls) <= 4 and len(uplifts) == 1
    for bowl in bowls:
        assert -150 <= bowl["rate_mm_per_year"] <= -100
        near, rate = _vertical_rate_near(area, bowl)
        assert near.sum() >= 5
        # Bowl centres subside at close to the stated rate (the shape falls off slowly).
        assert -155 < rate.min() < -85 and rate.max() < -40
    near, rate = _vertical_rate_near(area, uplifts[0], 0.2)
    assert 5 <= uplifts[0]["rate_mm_per_year"] <= 15 and np.all((rate > 2) & (rate < 16))
    # Large stable areas, and no deformation at all there.
    assert area.stable_mask.mean() >= 0.3
    stable = area.stable_mask
    assert np.all(np.abs(area.velocity_true_mm_per_year[stable]) < 2.0)
    assert np.all(area.truth["seasonal_deformation"][stable] == 0.0)
    # Seasonal deformation is several mm at the bowl centres.
    near, _ = _vertical_rate_near(area, bowls[0])
    seasonal = area.truth["seasonal_deformation"][near]
    assert 3.0 < np.ptp(seasonal, axis=1).mean() < 40.0
    # Errors: several mm in total; white noise about 1.5 mm.
    errors = sum(area.truth[name] for name in ERRORS)[:, 1:]
    assert 2.5 < np.sqrt(np.mean(errors**2)) < 8.0
    for name in ERRORS:
        assert 0.5 < np.sqrt(np.mean(area.truth[name][:, 1:] ** 2)) < 6.0, name
    assert 1.2 < area.truth["noise"][:, 1:].std() < 1.9
    # Turbulence is spatially correlated (neighbours agree), noise is not.
    ps = area.ps
    order = np.argsort(ps.x + 1e-3 * ps.y)
    close = np.hypot(np.diff(ps.x[order]), np.diff(ps.y[order])) < 300
    turb = area.truth["atmosphere_turbulent"][order][:, 5]
    noise = area.truth["noise"][order][:, 5]
    assert np.corrcoef(turb[:-1][close], turb[1:][close])[0, 1] > 0.8
    assert abs(np.corrcoef(noise[:-1][close], noise[1:][close])[0, 1]) < 0.2
    # Stratified delay is proportional to elevation at every date.
    j = int(np.argmax(np.abs(area.truth["atmosphere_stratified"]).max(axis=0)))
    assert abs(np.corrcoef(area.truth["atmosphere_stratified"][:, j], ps.z)[0, 1]) > 0.999


def test_groundwater_records(area):
    gw = area.groundwater
    assert gw.kind == "head" and gw.layers == list(LAYERS) and gw.crs == "EPSG:32650"
    assert 6 <= gw.n_wells <= 8
    assert gw.screen_depth_m.shape == (gw.n_wells, 4)
    assert np.all(np.diff(gw.screen_depth_m, axis=1) > 0)  # layers shallow to deep
    months = gw.dates.astype("datetime64[M]")
    assert np.all(np.diff(months).astype(np.int64) == 1) and np.all(
        gw.dates == months.astype("datetime64[D]")
    )
    ps_first, ps_last = area.ps.dates[0], area.ps.dates[-1]
    history_years = (ps_first - gw.dates[0]).astype(np.int64) / 365.25
    assert 1.0 <= history_years <= 2.5 and gw.dates[-1] >= ps_last
    assert not np.isnan(gw.levels_m).any()
    # Long-term decline in the confined layers of the wells that drive bowls.
    years = (gw.dates - gw.dates[0]).astype(np.int64) / 365.25
    for bowl in area.bowls:
        if bowl["kind"] != "subsidence":
            continue
        w = list(gw.well_ids).index(bowl["well_id"])
        dominant = LAYERS.index(area.dominant_layer)
        assert np.polyfit(years, gw.levels_m[w, dominant], 1)[0] < -0.5
        # The driving well is the one nearest the bowl centre.
        nearest = np.argmin(np.hypot(gw.x - bowl["x"], gw.y - bowl["y"]))
        assert nearest == w


def _monthly_increment_correlations(area, bowl):
    """corr(monthly head change, monthly deformation increment) per layer at a bowl centre:
    the quantities the AM-LSTM of METHODS.md section 5 relates."""
    ps, gw = area.ps, area.groundwater
    near = np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) < 0.3 * bowl["radius_m"]
    w = list(gw.well_ids).index(bowl["well_id"])
    ps_days = (ps.dates - gw.dates[0]).astype(np.int64)
    gw_days = (gw.dates - gw.dates[0]).astype(np.int64)
    inside = (gw_days >= ps_days[0]) & (gw_days <= ps_days[-1])
    monthly = np.interp(gw_days[inside], ps_days, area.deformation_vertical_mm[near].mean(axis=0))
    return np.array(
        [np.corrcoef(np.diff(gw.levels_m[w, j][inside]), np.diff(monthly))[0, 1] for j in range(4)]
    )


@pytest.mark.parametrize("seed, dominant", [(0, "confined_2"), (1, "confined_2"), (2, "confined_1")])
def test_dominant_layer_drives_subsidence_at_the_bowls(seed, dominant):
    a = make_study_area(seed=seed, n_points=1500, n_dates=60, dominant_layer=dominant)
    assert a.dominant_layer == dominant
    bowls = [b for b in a.bowls if b["kind"] == "subsidence"]
    correlations = np.mean([_monthly_increment_correlations(a, b) for b in bowls], axis=0)
    assert int(np.argmax(correlations)) == LAYERS.index(dominant)
    assert correlations.max() > 0.5
    # Head decline and subsidence go together over the whole record, too.
    for bowl in bowls:
        ps, gw = a.ps, a.groundwater
        near = np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) < 0.3 * bowl["radius_m"]
        w = list(gw.well_ids).index(bowl["well_id"])
        head = np.interp(
            (ps.dates - gw.dates[0]).astype(np.int64),
            (gw.dates - gw.dates[0]).astype(np.int64),
            gw.levels_m[w, LAYERS.index(dominant)],
        )
        assert np.corrcoef(head, a.deformation_vertical_mm[near].mean(axis=0))[0, 1] > 0.6


def test_same_seed_identical_different_seed_different():
    a = make_study_area(seed=7, n_points=300, n_dates=25)
    b = make_study_area(seed=7, n_points=300, n_dates=25)
    c = make_study_area(seed=8, n_points=300, n_dates=25)
    assert np.array_equal(a.ps.displacement_mm, b.ps.displacement_mm, equal_nan=True)
    assert np.array_equal(a.ps.x, b.ps.x) and np.array_equal(a.ps.dates, b.ps.dates)
    assert np.array_equal(a.groundwater.levels_m, b.groundwater.levels_m)
    for name in TRUTH_NAMES:
        assert np.array_equal(a.truth[name], b.truth[name])
    assert a.bowls == b.bowls
    assert not np.array_equal(a.ps.displacement_mm, c.ps.displacement_mm, equal_nan=True)
    assert not np.array_equal(a.ps.x, c.ps.x)
    assert not np.array_equal(a.groundwater.levels_m, c.groundwater.levels_m)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_points": 9}, "n_points"),
        ({"n_points": 100.5}, "n_points"),
        ({"n_dates": 2}, "n_dates"),
        ({"nan_fraction": 0.5}, "nan_fraction"),
        ({"nan_fraction": -0.01}, "nan_fraction"),
        ({"seed": -1}, "seed"),
        ({"dominant_layer": "confined_9"}, "dominant_layer"),
        ({"n_bowls": 5}, "n_bowls"),
        ({"n_wells": 2}, "n_wells"),
        ({"noise_mm": -1.0}, "noise_mm"),
        ({"not_a_parameter": 1}, "not_a_parameter"),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        make_study_area(**kwargs)


def test_truth_file_round_trip_and_tables(area, tmp_path):
    path = tmp_path / "truth.npz"
    save_truth(area, path)
    truth = load_truth(path)
    assert np.array_equal(truth["ids"], area.ps.ids)
    assert np.array_equal(truth["dates"], area.ps.dates)
    for name in TRUTH_NAMES:
        assert np.array_equal(truth["truth"][name], area.truth[name])
    assert np.array_equal(truth["nan_mask"], np.isnan(area.ps.displacement_mm))
    assert np.array_equal(truth["stable_mask"], area.stable_mask)
    assert np.array_equal(truth["velocity_true_mm_per_year"], area.velocity_true_mm_per_year)
    assert np.array_equal(truth["deformation_vertical_mm"], area.deformation_vertical_mm)
    assert truth["bowls"] == area.bowls
    assert truth["dominant_layer"] == "confined_2"
    assert SyntheticParams(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in truth["params"].items()}
    ) == (area.params)
    bad = tmp_path / "other.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ValueError, match="not a study-area truth file"):
        load_truth(bad)

    gw = area.groundwater
    w, n_layers, t = gw.levels_m.shape
    long = groundwater_long_table(area)
    assert len(long["level_m"]) == w * n_layers * t
    row = 5 * n_layers * t + 7 * n_layers + 2  # well 5, month 7, layer 2
    assert long["well_id"][row] == gw.well_ids[5] and long["date"][row] == gw.dates[7]
    assert long["layer"][row] == LAYERS[2] and long["level_m"][row] == gw.levels_m[5, 2, 7]
    wide = groundwater_wide_table(gw)
    assert len(wide["well_id"]) == w * t and list(wide)[2:] == list(LAYERS)
    assert (
        wide["confined_3"][3 * t + 11] == gw.levels_m[3, 3, 11] and wide["date"][3 * t + 11] == gw.dates[11]
    )
    wells = wells_table(area)
    assert np.array_equal(wells["screen_depth_confined_1_m"], gw.screen_depth_m[:, 1])


def test_progress_is_reported_and_large_areas_scale():
    calls = []
    a = make_study_area(seed=1, n_points=20000, n_dates=30, progress=lambda f, msg=None: calls.append(f))
    assert a.ps.n_points == 20000 and calls[0] == 0.0 and calls[-1] == 1.0
    assert all(b >= a for a, b in zip(calls, calls[1:]))
    # The layout does not depend on the number of points.
    small = make_study_area(seed=1, n_points=50, n_dates=30)
    assert small.bowls == a.bowls and np.array_equal(small.groundwater.levels_m, a.groundwater.levels_m)
