"""Synthetic study areas with known truth (METHODS.md section 6).

:func:`make_study_area` builds a ~20 km x 20 km PS-InSAR study area in UTM 50N (east of
Beijing) together with multi-layer groundwater wells, so that the error removal (METHODS 3)
and the AM-LSTM simulation (METHODS 5) can be scored against the truth instead of only run.

What is simulated, and the choices made where METHODS 6 is silent (**[choice]**):

- **Layout.** PS points clustered like a city (towns around the wells plus sparse rural
  points), a DEM of 0-300 m (alluvial plain with a few isolated hills; upland massifs over
  about 40 % of the area, with ridges and valleys along one trend, so that a quadratic
  surface in x, y explains little of it: see the terrain constants), and an
  incidence angle rising smoothly across range (~33-36 deg).
- **Dates.** A RADARSAT-2-like 24-day repeat with missed acquisitions (irregular steps, as the
  54 scenes of seed 000), about 5.5 years for 60 dates.
- **Groundwater.** Monthly heads (metres above datum, ``kind="head"``) of four layers per
  well, starting ``history_years`` before the first SAR date: long-term decline in piecewise
  rates (steepest in the confined layers), slow random wander, a seasonal pumping cycle
  (lowest in early summer, deeper layers lag), and measurement noise.
- **Deformation (METHODS 1, 6).** Each subsidence bowl is driven by the heads of its nearest
  well. Inelastic compaction follows the running minimum of each layer's *secular* head
  (trend plus wander), delayed by an exponential kernel of time constant ``delay_years``
  (slow aquitard drainage), weighted by a per-layer compressibility so that
  ``dominant_layer`` contributes most. **[choice]** the preconsolidation head is taken on the
  secular head only, so seasonal cycles stay in the elastic range: the elastic response to
  the seasonal head is the separate truth component ``seasonal_deformation``. The bowl's
  spatial shape is an elliptical Gaussian tapered to exactly zero at ``radius_m``, so outside
  the bowls the ground is truly stable. One small uplift area rises at a slowly decelerating
  rate (rebound after pumping stopped).
- **Errors (METHODS 3).** Per-epoch orbital ramps (plane + small quadratic), stratified
  atmosphere ``K_j * z`` with an annual ``K_j`` plus a random part, turbulent atmosphere
  (FFT-filtered Gaussian random field, ~3 km correlation, bilinearly sampled at the points)
  and white noise. **[choice]** each error is that epoch's own screen, relative to the first
  (reference) epoch whose screen the processor has removed, so every column 0 is exactly 0
  and no reference-epoch pattern is copied into all later epochs.
- **Observed** LOS = (vertical deformation incl. seasonal) * cos(theta) + errors, negative =
  subsidence, then ``nan_fraction`` of the values in columns >= 1 set to NaN (exact count;
  more gaps on a few bad epochs and on low-coherence points, never a whole row).

Every random stream is ``np.random.default_rng([seed, stream])`` so the same seed gives
bit-identical output, and the layout (dates, wells, bowls) does not change with ``n_points``.
"""

import numpy as np

from .groundwater import GroundwaterRecords
from .psdata import DAYS_PER_YEAR, PSDataset
from .synthetic_base import LAYERS, TRUTH_NAMES, StudyArea, SyntheticParams, _linear_rate, _rng
from .synthetic_errors import _nan_mask, _turbulent_field
from .synthetic_groundwater import (
    _heads,
    _layer_profile,
    _layer_shares,
    _running_min_delay,
    groundwater_long_table,
    groundwater_wide_table,
    wells_table,
)
from .synthetic_layout import _bowl_shape, _dem_function, _place_features, _place_wells, _points, _sar_dates
from .synthetic_truth import benchmark_stations, load_truth, save_truth

__all__ = [
    "LAYERS",
    "TRUTH_NAMES",
    "StudyArea",
    "SyntheticParams",
    "benchmark_stations",
    "groundwater_long_table",
    "groundwater_wide_table",
    "load_truth",
    "make_study_area",
    "save_truth",
    "study_area_from_params",
    "wells_table",
]


def make_study_area(seed=0, n_points=4000, n_dates=60, nan_fraction=0.02, progress=None, **options):
    """Generate a synthetic study area with known truth (METHODS.md section 6).

    Args:
        seed: integer >= 0; the same seed gives bit-identical output.
        n_points: number of PS points (>= 10).
        n_dates: number of SAR acquisitions (>= 3).
        nan_fraction: share of the values in columns >= 1 set to NaN, in [0, 0.5).
        progress: optional ``progress(fraction, message=None)`` callback.
        **options: any other :class:`SyntheticParams` field (e.g. ``n_bowls``,
            ``dominant_layer``, ``noise_mm``).

    Returns:
        :class:`StudyArea`.

    Raises:
        ValueError: naming the bad parameter.
    """
    unknown = set(options) - set(SyntheticParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not a parameter of make_study_area")
    params = SyntheticParams(
        seed=seed, n_points=n_points, n_dates=n_dates, nan_fraction=nan_fraction, **options
    ).validate()
    return study_area_from_params(params, progress=progress)


def daily_heads(p, dates, intensity):
    """Groundwater of the study area: the monthly record dates (from ``history_years`` before
    the first scene to the month after the last) and the daily secular and seasonal heads,
    (wells, layers, days) each, day 0 = the record's first date."""
    first_month = (dates[0] - int(round(p.history_years * DAYS_PER_YEAR))).astype("datetime64[M]")
    last_month = dates[-1].astype("datetime64[M]") + 1
    gw_dates = np.arange(first_month, last_month + 1).astype("datetime64[D]")
    n_days = int((gw_dates[-1] - gw_dates[0]).astype(np.int64)) + 1
    secular, seasonal = _heads(p, intensity, gw_dates[0], n_days)
    return gw_dates, secular, seasonal


def study_area_from_params(params, progress=None):
    """Like :func:`make_study_area`, from a :class:`SyntheticParams`."""
    p = params.validate()

    def report(fraction, message=None):
        if progress is not None:
            progress(fraction, message)

    report(0.0, "Laying out the study area")
    dates = _sar_dates(p)
    years = (dates - dates[0]).astype(np.int64) / DAYS_PER_YEAR
    dem = _dem_function(p)
    bowls = _place_features(p, dem)
    well_ids, well_x, well_y, intensity, screens = _place_wells(p, bowls)
    for i, bowl in enumerate(bowls):
        if bowl["kind"] == "subsidence":
            bowl["well_id"] = str(well_ids[i])

    gw_dates, secular, seasonal = daily_heads(p, dates, intensity)
    day0 = gw_dates[0]
    month_index = (gw_dates - day0).astype(np.int64)
    sar_index = (dates - day0).astype(np.int64)
    head_noise = _rng(p.seed, "head_noise").normal(0, p.head_noise_m, (p.n_wells, len(LAYERS), gw_dates.size))
    levels = secular[:, :, month_index] + seasonal[:, :, month_index] + head_noise
    groundwater = GroundwaterRecords(
        well_ids=well_ids,
        x=well_x,
        y=well_y,
        layers=list(LAYERS),
        dates=gw_dates,
        levels_m=np.round(levels, 3),
        kind="head",
        crs=p.crs,
        screen_depth_m=screens,
    )
    report(0.15, "Driving the bowls with the well heads")

    # Time functions (vertical mm at the centre, relative to the first scene) per feature.
    shares = _layer_shares(p)
    tau_days = np.asarray(p.delay_years) * DAYS_PER_YEAR
    n_feat = len(bowls)
    secular_time = np.zeros((n_feat, dates.size))
    seasonal_time = np.zeros((n_feat, dates.size))
    compressibility = []
    for b, bowl in enumerate(bowls):
        if bowl["kind"] == "uplift":
            # Rebound after pumping stopped: decelerating rise, linear rate fitted to the target.
            shape_t = 1.0 - np.exp(-(years + 1.0) / 4.0)
            shape_t = shape_t - shape_t[0]
            secular_time[b] = shape_t * bowl["rate_mm_per_year"] / _linear_rate(shape_t, years)
            compressibility.append({})
            continue
        drawdown = np.stack([_running_min_delay(secular[b, j], tau_days[j]) for j in range(len(LAYERS))])[
            :, sar_index
        ]
        drawdown -= drawdown[:, :1]
        # Per-layer compressibility (mm of compaction per m of new head low): the layer's
        # share over its nominal decline, then one factor so the centre rate is the target.
        coeff = shares / _layer_profile(p)[0]
        # A well whose heads made no new low during the scenes cannot drive a bowl; the
        # floor keeps the factor finite (the bowl then barely moves).
        scale = bowl["rate_mm_per_year"] / min(_linear_rate(coeff @ drawdown, years), -1e-3)
        coeff = coeff * scale
        secular_time[b] = coeff @ drawdown
        compressibility.append({name: float(c) for name, c in zip(LAYERS, coeff)})
        # Elastic: the seasonal head swings, same layer shares, elastic storage per metre.
        seas = seasonal[b][:, sar_index]
        seas = seas - seas[:, :1]
        elastic = p.elastic_mm_per_m * shares / shares.max()
        seasonal_time[b] = elastic @ seas

    m, n = p.n_points, dates.size
    prng = _rng(p.seed, "points")
    x, y = _points(p, well_x, well_y, prng)
    z = np.round(dem(x, y), 2)
    u = (x - p.origin_x_m) / p.extent_m
    v = (y - p.origin_y_m) / p.extent_m
    lo, hi = p.incidence_range_deg
    incidence = lo + (hi - lo) * u + 0.15 * (v - 0.5)
    incidence = np.clip(incidence, lo, hi)
    cos_theta = np.cos(np.deg2rad(incidence))
    shapes = np.stack([_bowl_shape(bowl, x, y) for bowl in bowls], axis=1)  # (m, B)
    report(0.3, "Deformation")

    truth = {}
    truth["deformation"] = (shapes * cos_theta[:, None]) @ secular_time
    truth["seasonal_deformation"] = (shapes * cos_theta[:, None]) @ seasonal_time

    report(0.4, "Orbital ramps")
    orng = _rng(p.seed, "orbital")
    xc, yc = 2 * u - 1, 2 * v - 1
    basis = np.stack([xc, yc, xc * yc, xc * xc - 1 / 3, yc * yc - 1 / 3], axis=1)
    coeffs = orng.normal(0, 1, (5, n)) * (p.orbital_mm * np.array([1.0, 1.0, 0.25, 0.3, 0.3]))[:, None]
    coeffs[:, 0] = 0.0
    truth["orbital"] = basis @ coeffs

    report(0.5, "Stratified atmosphere")
    srng = _rng(p.seed, "stratified")
    doy = (dates - np.datetime64("1970-01-01")).astype(np.int64) / DAYS_PER_YEAR
    # Wet summers delay more over the plain than over the hills: K highest in July.
    k_strat = p.stratified_seasonal_mm_per_m * np.cos(2 * np.pi * (doy - 195 / DAYS_PER_YEAR))
    k_strat = k_strat + srng.normal(0, p.stratified_random_mm_per_m, n)
    k_strat[0] = 0.0
    truth["atmosphere_stratified"] = np.outer(-z, k_strat)

    report(0.6, "Turbulent atmosphere")
    truth["atmosphere_turbulent"] = _turbulent_field(p, x, y, dates)

    report(0.8, "Noise and gaps")
    nrng = _rng(p.seed, "noise")
    point_noise = p.noise_mm * nrng.lognormal(-0.02, 0.2, m)
    noise = nrng.standard_normal((m, n))
    noise *= point_noise[:, None]
    noise[:, 0] = 0.0
    truth["noise"] = noise

    observed = truth["deformation"].copy()
    for name in TRUTH_NAMES[1:]:
        observed += truth[name]
    observed[_nan_mask(p, m, n, _rng(p.seed, "gaps"))] = np.nan

    velocity = _linear_rate(truth["deformation"], years)
    seasonal_free = ~np.any(truth["seasonal_deformation"] != 0.0, axis=1)
    stable = (np.abs(velocity) < 2.0) & seasonal_free

    ps = PSDataset(
        ids=np.arange(1, m + 1, dtype=np.int64),
        x=x,
        y=y,
        dates=dates,
        displacement_mm=observed,
        z=z,
        incidence_deg=incidence,
        crs=p.crs,
        direction="LOS",
    )
    report(1.0, f"Study area ready: {m} points, {n} dates, {p.n_wells} wells")
    return StudyArea(
        ps=ps,
        truth=truth,
        velocity_true_mm_per_year=velocity,
        stable_mask=stable,
        bowls=bowls,
        groundwater=groundwater,
        dominant_layer=p.dominant_layer,
        params=p,
        layer_compressibility_mm_per_m=compressibility,
    )


# --------------------------------------------------------------------------- files and tables
