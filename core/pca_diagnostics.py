"""Component diagnostics and proposed classes (METHODS.md 2, "Classifying components").

For every PCA component k (S_k, sigma_k, T_k from :mod:`core.pca`) we compute the statistics
METHODS.md lists **[choice]**:

=========================  ===========================================================  ======
name                       what                                                         needs
=========================  ===========================================================  ======
``linear_r2``              R^2 of a least-squares line through T_k(t)                   --
``seasonal_r2``            share of the *detrended* T_k variance explained by an         dates
                           annual sinusoid (partial R^2: line vs line + cos + sin)
``seasonal_p_value``       F-test p-value of that sinusoid against T_k being a line     dates
                           plus white noise: ``(1 - seasonal_r2) ** ((n - 4) / 2)``
                           (exact for 2 added regressors and n - 4 residual dof)
``annual_amplitude_mm``    amplitude of that sinusoid in T_k x sigma_k x P99(|S_k|):     dates
                           the annual amplitude in mm at the strongest points of the map
``lag1_autocorrelation``   lag-1 autocorrelation of T_k (mean removed)                  --
``elevation_correlation``  |Pearson corr(S_k, z)|                                       z
``long_wavelength_r2``     R^2 of a quadratic in (x, y) fitted to S_k (smooth ramp)     x, y
                           (on at most ``SURFACE_MAX_POINTS`` points, fixed subsample)
``morans_i``               Moran's I of S_k, 8 nearest neighbours, row-standardised     x, y
                           (on at most ``MORAN_MAX_POINTS`` points, fixed subsample)
=========================  ===========================================================  ======

A statistic that cannot be computed (no dates, no z, no coordinates) is NaN and the rules
below skip it. Proposed class (the first rule that applies; thresholds are the module
constants, set on the synthetic study area of METHODS.md 6 and easy to change):

==  ============================================================  =====================
#   rule                                                          class
==  ============================================================  =====================
1   ``linear_r2 >= LINEAR_R2_MIN`` (T_k linear in time)           deformation
2   ``elevation_correlation >= ELEVATION_CORR_MIN`` and either    seasonal_atmosphere
    seasonal (``seasonal_r2 >= SEASONAL_R2_MIN``) or an annual
    cycle that is significant (``seasonal_p_value <=
    SEASONAL_P_MAX``) in a T_k that is otherwise random
    (``lag1_autocorrelation < LAG1_DEFORMATION_MIN``)
3   seasonal, map structured (``morans_i >= MORAN_MIN``) but      seasonal_deformation
    not smooth (``long_wavelength_r2 < LONG_WAVELENGTH_R2_MIN``)
4   seasonal, map known and neither structured nor smooth         noise
5   seasonal otherwise (smooth map, or no coordinates)            seasonal_atmosphere
6   ``lag1_autocorrelation >= LAG1_DEFORMATION_MIN``: T_k         deformation
    evolves persistently (not seasonal, not linear: the
    nonlinear part of the deformation, seed 003's PC2)
7a  T_k not random in time beyond chance: ``lag1 * sqrt(n) >=     ambiguous (kept)
    AMBIGUOUS_LAG1_Z``, or an annual cycle with
    ``seasonal_p_value <= AMBIGUOUS_P_MAX``
7   map smooth (``long_wavelength_r2 >= LONG_WAVELENGTH_R2_MIN``)  orbital
    or spatially correlated (``morans_i >= MORAN_MIN``)
8   otherwise (T_k random around zero, S_k without structure      noise
    or unknown)
==  ============================================================  =====================

Why rule 7a (conservative classes, issue 8): removing a component that holds deformation
destroys signal, keeping an error component only leaves noise, so when in doubt, keep. Orbital,
atmospheric and noise errors are independent between acquisitions; a T_k whose lag-1
autocorrelation is 3 standard errors above 0 (``1/sqrt(n)`` under independence: 0.39 at 60
dates, 0.21 at 210), or with a significant annual cycle, holds something persistent,
in practice part of a non-linear deformation that PCA mixed with an error. On an independent
generator, components classed orbital held 38-80 % deformation; they are now "ambiguous":
neither removed nor fitted as deformation, they stay in the series. Under independence a
component is wrongly kept with probability ~0.3 %.

Why lag-1 autocorrelation separates signal from error: orbital ramps, atmosphere and noise
are independent from one acquisition to the next, so their T_k has lag-1 autocorrelation
near 0, while deformation accumulates and gives values near 1. Rule 7 puts spatially
correlated non-persistent components (turbulent atmosphere as well as orbital ramps) in the
"orbital / long-wavelength error" class: both fluctuate around zero in time and are smooth in
space, which is how seed 003 describes its PC3.

Why rule 2 accepts a significant rather than a dominant annual cycle: the stratified delay
``K_j z`` has one map (z) but a ``K_j`` that is only partly annual (weather adds a random
part), and PCA shares the variance of a component with the turbulent modes of similar size
(random in time, smooth in space). On the synthetic study area (METHODS 6, seeds 0-2, 4, 5)
the component that holds the stratified atmosphere has ``elevation_correlation`` 0.57-0.87
but ``seasonal_r2`` only 0.34-0.65. The elevation correlation is strong evidence on its own (a
turbulent or orbital map has no reason to follow the terrain), so the temporal side need only
show that the annual cycle is real: under the null of a line plus white noise (orbital,
turbulent and noise components are independent between acquisitions) the partial R^2 of the
sinusoid is Beta(1, (n - 4) / 2), so ``p = (1 - seasonal_r2) ** ((n - 4) / 2)``;
``SEASONAL_P_MAX = 0.001`` means ``seasonal_r2 >= 0.22`` at 60 dates, ``>= 0.32`` at 40 and
``>= 0.50`` at 24. The rest of T_k must be random (lag-1 autocorrelation below
``LAG1_DEFORMATION_MIN``): a persistent T_k with a weak annual cycle is deformation (rule 6).
Limitations: when the DEM is close to a quadratic surface (a single tilted plain, or foothills
along one edge of the scene), the stratified atmosphere looks like an orbital ramp; PCA then
mixes the two into one component, which follows the stronger of them. Even over rough terrain
PCA mixes two error signals whose singular values are close and whose epoch series happen to
correlate (synthetic seed 3: the leading orbital ramp correlates 0.42 with K_j); no rule on
the mixed component can name both. Labels are proposals: the user overrides them in the
error-removal step.
"""

import numpy as np

from .psdata import years_since_first

LINEAR_R2_MIN = 0.7
SEASONAL_R2_MIN = 0.4
SEASONAL_P_MAX = 0.001
ELEVATION_CORR_MIN = 0.5
LONG_WAVELENGTH_R2_MIN = 0.6
MORAN_MIN = 0.3
LAG1_DEFORMATION_MIN = 0.6
MORAN_NEIGHBOURS = 8
MORAN_MAX_POINTS = 20_000
SURFACE_MAX_POINTS = 20_000

CLASSES = ("deformation", "orbital", "seasonal_atmosphere", "seasonal_deformation", "noise", "ambiguous")
AMBIGUOUS_LAG1_Z = 3.0
AMBIGUOUS_P_MAX = 0.001
DIAGNOSTIC_NAMES = (
    "linear_r2",
    "seasonal_r2",
    "seasonal_p_value",
    "annual_amplitude_mm",
    "lag1_autocorrelation",
    "elevation_correlation",
    "long_wavelength_r2",
    "morans_i",
)


def _r2(design, values):
    """R^2 of the least-squares fit of ``values`` (columns) on ``design`` (with an intercept column)."""
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    resid = values - design @ coef
    centred = values - values.mean(axis=0)
    ss_tot = np.sum(centred**2, axis=0)
    ss_res = np.sum(resid**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan), coef, ss_res


def temporal_diagnostics(temporal, years=None):
    """Linear R^2, seasonal partial R^2 and its F-test p-value, annual amplitude of T (unitless),
    lag-1 autocorrelation (module table; METHODS.md 2, "Classifying components")."""
    temporal = np.asarray(temporal, dtype=np.float64)
    n, k = temporal.shape
    t = np.arange(n, dtype=np.float64) if years is None else np.asarray(years, dtype=np.float64)
    line = np.column_stack([np.ones(n), t - t.mean()])
    linear_r2, _, ss_line = _r2(line, temporal)
    seasonal_r2 = np.full(k, np.nan)
    seasonal_p = np.full(k, np.nan)
    amplitude = np.full(k, np.nan)
    span = t.max() - t.min()
    if years is not None and span > 0.5 and n >= 5:
        # Less than half a year cannot separate a seasonal cycle from a trend.
        phase = 2 * np.pi * t
        full = np.column_stack([line, np.cos(phase), np.sin(phase)])
        _, coef, ss_full = _r2(full, temporal)
        with np.errstate(invalid="ignore", divide="ignore"):
            seasonal_r2 = np.where(ss_line > 0, 1.0 - ss_full / ss_line, np.nan)
        amplitude = np.hypot(coef[2], coef[3])
        # F(2, n - 4) test of the sinusoid; its tail has this closed form in the partial R^2.
        seasonal_p = np.clip(1.0 - seasonal_r2, 0.0, 1.0) ** ((n - 4) / 2.0)
    centred = temporal - temporal.mean(axis=0)
    num = np.sum(centred[1:] * centred[:-1], axis=0)
    den = np.sum(centred**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lag1 = np.where(den > 0, num / den, np.nan)
    return {
        "linear_r2": linear_r2,
        "seasonal_r2": seasonal_r2,
        "seasonal_p_value": seasonal_p,
        "annual_amplitude": amplitude,
        "lag1_autocorrelation": lag1,
    }


def elevation_correlation(spatial, z):
    """|Pearson correlation| of each S_k with elevation z over points where both are finite."""
    spatial = np.asarray(spatial, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    ok = np.isfinite(z) & np.all(np.isfinite(spatial), axis=1)
    if ok.sum() < 3:
        return np.full(spatial.shape[1], np.nan)
    s = spatial[ok] - spatial[ok].mean(axis=0)
    zc = z[ok] - z[ok].mean()
    den = np.linalg.norm(s, axis=0) * np.linalg.norm(zc)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.abs(zc @ s) / den, np.nan)


def _scaled_xy(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    scale = max(np.ptp(x), np.ptp(y)) or 1.0
    return (x - x.mean()) / scale, (y - y.mean()) / scale


def _subsample(ok, max_points):
    """At most ``max_points`` of the indices ``ok``: a fixed random subsample (seed 0), sorted."""
    if ok.size > max_points:
        ok = np.sort(np.random.default_rng(0).choice(ok, size=max_points, replace=False))
    return ok


def long_wavelength_r2(spatial, x, y, max_points=SURFACE_MAX_POINTS):
    """R^2 of ``a + b x + c y + d xy + e x^2 + f y^2`` fitted to each S_k (coordinates centred, scaled).

    **[choice]** Above ``max_points`` points the fit uses the fixed random subsample of
    :func:`morans_i` (seed 0, reproducible): the R^2 of a smooth surface is a property of the
    map, estimated from 20k points to ~0.005 (it only meets a threshold, 0.6). Measured on
    200k points x 6 components (bench/bench_pca.py): 29 ms -> 8 ms, R^2 within 0.004, the same
    labels.
    """
    spatial = np.asarray(spatial, dtype=np.float64)
    ok = np.flatnonzero(np.all(np.isfinite(spatial), axis=1) & np.isfinite(x) & np.isfinite(y))
    if ok.size < 7:
        return np.full(spatial.shape[1], np.nan)
    ok = _subsample(ok, max_points)
    xs, ys = _scaled_xy(np.asarray(x)[ok], np.asarray(y)[ok])
    design = np.column_stack([np.ones_like(xs), xs, ys, xs * ys, xs**2, ys**2])
    return _r2(design, spatial[ok])[0]


def morans_i(spatial, x, y, neighbours=MORAN_NEIGHBOURS, max_points=MORAN_MAX_POINTS):
    """Moran's I of each S_k with row-standardised k-nearest-neighbour weights.

    ``I = sum_i z_i * mean_{j in knn(i)} z_j / sum_i z_i^2`` (z = S_k minus its mean); about 0 for
    spatially random maps, towards 1 for smooth ones. Above ``max_points`` a fixed random
    subsample (seed 0) is used so the cost stays bounded and the result reproducible.
    """
    from scipy.spatial import cKDTree

    spatial = np.asarray(spatial, dtype=np.float64)
    k = spatial.shape[1]
    ok = np.flatnonzero(np.all(np.isfinite(spatial), axis=1) & np.isfinite(x) & np.isfinite(y))
    if ok.size <= neighbours + 1:
        return np.full(k, np.nan)
    ok = _subsample(ok, max_points)
    xy = np.column_stack([np.asarray(x, dtype=np.float64)[ok], np.asarray(y, dtype=np.float64)[ok]])
    _, nb = cKDTree(xy).query(xy, k=neighbours + 1, workers=2)  # same neighbours, ~30 % faster
    nb = nb[:, 1:]  # drop the point itself
    vals = spatial[ok] - spatial[ok].mean(axis=0)
    lagged = vals[nb].mean(axis=1)
    den = np.sum(vals**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.sum(vals * lagged, axis=0) / den, np.nan)


def component_diagnostics(dec, x=None, y=None, z=None):
    """All statistics of the module table for a :class:`core.pca.Decomposition`: name -> (k,) array."""
    k = dec.sigma.shape[0]
    years = None
    if dec.dates is not None:
        years = years_since_first(dec.dates)
    temporal = temporal_diagnostics(dec.temporal, years)
    spatial = dec.spatial
    with np.errstate(invalid="ignore"):
        finite_abs = np.abs(np.where(np.isfinite(spatial), spatial, 0.0))
        peak = np.percentile(finite_abs, 99, axis=0) if spatial.shape[0] else np.zeros(k)
    out = {
        "linear_r2": temporal["linear_r2"],
        "seasonal_r2": temporal["seasonal_r2"],
        "seasonal_p_value": temporal["seasonal_p_value"],
        "annual_amplitude_mm": temporal["annual_amplitude"] * dec.sigma * peak,
        "lag1_autocorrelation": temporal["lag1_autocorrelation"],
        "elevation_correlation": np.full(k, np.nan),
        "long_wavelength_r2": np.full(k, np.nan),
        "morans_i": np.full(k, np.nan),
    }
    if z is not None:
        out["elevation_correlation"] = elevation_correlation(spatial, z)
    if x is not None and y is not None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out["long_wavelength_r2"] = long_wavelength_r2(spatial, x, y)
        out["morans_i"] = morans_i(spatial, x, y)
    return out


def _at_least(value, threshold):
    """True when value is known and >= threshold (NaN = unknown = False)."""
    return bool(np.isfinite(value) and value >= threshold)


def propose_label(d):
    """Class of one component from its diagnostics ``d`` (name -> float), module rules 1-8.

    A missing ``seasonal_p_value`` (diagnostics from an older decomposition file) counts as
    unknown: rule 2 then needs ``seasonal_r2 >= SEASONAL_R2_MIN`` as before.
    """
    if _at_least(d["linear_r2"], LINEAR_R2_MIN):
        return "deformation"
    smooth = _at_least(d["long_wavelength_r2"], LONG_WAVELENGTH_R2_MIN)
    correlated = _at_least(d["morans_i"], MORAN_MIN)
    seasonal = _at_least(d["seasonal_r2"], SEASONAL_R2_MIN)
    if _at_least(d["elevation_correlation"], ELEVATION_CORR_MIN):
        p_value = d.get("seasonal_p_value", np.nan)
        annual = bool(np.isfinite(p_value) and p_value <= SEASONAL_P_MAX)
        random_rest = not _at_least(d["lag1_autocorrelation"], LAG1_DEFORMATION_MIN)
        if seasonal or (annual and random_rest):
            return "seasonal_atmosphere"
    if seasonal:
        if correlated and not smooth:
            return "seasonal_deformation"
        if np.isfinite(d["morans_i"]) and not correlated and not smooth:
            return "noise"
        return "seasonal_atmosphere"
    if _at_least(d["lag1_autocorrelation"], LAG1_DEFORMATION_MIN):
        return "deformation"
    if _not_random_in_time(d):
        return "ambiguous"
    if smooth or correlated:
        return "orbital"
    return "noise"


def _not_random_in_time(d):
    """Rule 7a: T_k departs from date-to-date independence beyond chance (module doc)."""
    n = d.get("n_dates", np.nan)
    lag1 = d["lag1_autocorrelation"]
    if np.isfinite(n) and n > 4 and np.isfinite(lag1) and lag1 * np.sqrt(n) >= AMBIGUOUS_LAG1_Z:
        return True
    p_value = d.get("seasonal_p_value", np.nan)
    return bool(np.isfinite(p_value) and p_value <= AMBIGUOUS_P_MAX)


def propose_labels(diagnostics, n_dates=None):
    """Proposed class of every component (list of str, one of :data:`CLASSES`).

    ``n_dates`` (the length of T_k) enables rule 7a's lag-1 and trend tests; without it only
    the seasonal p-value can make a component ambiguous.
    """
    k = len(diagnostics["linear_r2"])
    unknown = np.full(k, np.nan)
    columns = {name: diagnostics.get(name, unknown) for name in DIAGNOSTIC_NAMES}
    n = float(n_dates) if n_dates is not None else np.nan
    return [
        propose_label({"n_dates": n, **{name: float(values[j]) for name, values in columns.items()}})
        for j in range(k)
    ]
