"""A second synthetic study area, built differently from :mod:`core.synthetic` on purpose.

"Your generator is not the judge": every method is scored on two generators whose structure
differs, so that a method tuned to one of them shows. :func:`make_urban_area` returns the same
:class:`~core.synthetic.StudyArea` contract (observed :class:`PSDataset`, truth split into
``TRUTH_NAMES``, true LOS velocity, true stable mask, bowls, multi-layer wells), so every
algorithm and test takes either. What differs from :mod:`core.synthetic`:

- **Layout.** A 12 km city on a river valley (UTM 32N, Po-plain like): PS clustered in
  districts (Neyman-Scott clusters of building blocks snapped to a street grid, densest over
  the pumping districts), rooftop elevations (terrain + building height), very few rural PS.
  Terrain: a valley floor with two terraces and a hill range on one side.
- **Dates.** Sentinel-1-like 6/12-day grid over ~3.5 years with missed and clustered
  acquisitions and one long outage (irregular steps, not on one repeat cycle).
- **Deformation.** Six subsidence bowls, each driven by ONE aquifer layer of its own well
  (the layer differs between bowls) through a gamma-distributed lag of 2-14 months; the
  compaction follows the lagged drawdown, whose rate changes (pumping restrictions, recovery),
  so bowls are non-linear in time. Each bowl has a heavy-tailed core and a **gentle fringe**:
  a broad, slowly subsiding ring (1-8 % of the centre rate, i.e. -0.5 to -6 mm/yr) tapered to
  exactly zero 3-4.5 core widths out. Fringes may overlap. The elastic response to the
  seasonal heads is ``seasonal_deformation``. One uplift plateau (logistic edge) rises at a
  steady rate with a slight acceleration.
- **Stable ground** is only what lies outside every support (deformation exactly 0): the
  fringes make it a minority of the PS (typically 25-45 %).
- **Errors, independent from date to date** (none seasonal): an orbital ramp (plane + weak
  quadratic) drawn per date; an elevation-correlated delay ``K_j (z - z_ref)`` with ``K_j``
  i.i.d. per date; a turbulent delay with a power-law (Kolmogorov-like) spectrum per date, its
  strength drawn per date; heteroscedastic white noise. Column 0 (the reference date) is 0.
- **Gaps.** Scattered NaN plus contiguous outages: PS lost for the last part of the series or
  for a block in the middle (demolition, scaffolding). Never a whole row, never column 0.

Every random stream is ``np.random.default_rng([seed, 100 + stream])``: the same seed gives
bit-identical output; the layout does not depend on ``n_points``.
"""

from dataclasses import dataclass
from typing import Tuple

import numpy as np
from scipy.signal import lfilter

from .groundwater import GroundwaterRecords
from .psdata import DAYS_PER_YEAR, PSDataset, years_since_first
from .synthetic_base import LAYERS, StudyArea, _linear_rate

_STREAMS = {name: i for i, name in enumerate(
    ("dates", "terrain", "bowls", "heads", "points", "orbital", "stratified", "turbulent", "noise", "gaps"))}


def _rng(seed, stream):
    return np.random.default_rng([int(seed), 100 + _STREAMS[stream]])


@dataclass
class UrbanParams:
    """Parameters of :func:`make_urban_area` (units in the names)."""

    seed: int = 0
    n_points: int = 4000
    n_dates: int = 60
    nan_fraction: float = 0.02
    crs: str = "EPSG:32632"
    origin_x_m: float = 680000.0
    origin_y_m: float = 4920000.0
    extent_m: float = 12000.0
    start_date: str = "2017-03-02"
    span_years: float = 3.5
    history_years: float = 3.0
    n_bowls: int = 6
    n_extra_wells: int = 3
    bowl_rate_range_mm_per_year: Tuple[float, float] = (-80.0, -25.0)
    bowl_sigma_range_m: Tuple[float, float] = (350.0, 650.0)
    fringe_share_range: Tuple[float, float] = (0.01, 0.08)
    fringe_extent_range: Tuple[float, float] = (3.0, 4.5)
    lag_months_range: Tuple[float, float] = (2.0, 14.0)
    uplift_rate_range_mm_per_year: Tuple[float, float] = (4.0, 9.0)
    rural_fraction: float = 0.06
    incidence_range_deg: Tuple[float, float] = (38.5, 42.5)
    elastic_mm_per_m: float = 1.5
    head_noise_m: float = 0.05
    orbital_mm: float = 2.0
    stratified_mm_per_m: float = 0.012
    turbulent_mm: float = 2.0
    noise_mm: float = 1.2

    def validate(self):
        """Raise ``ValueError`` naming the first bad parameter."""
        for name in ("seed", "n_points", "n_dates", "n_bowls", "n_extra_wells"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        if self.n_points < 50:
            raise ValueError(f"n_points: need at least 50 points, got {self.n_points}")
        if self.n_dates < 5:
            raise ValueError(f"n_dates: need at least 5 dates, got {self.n_dates}")
        if not 1 <= self.n_bowls <= 6:
            raise ValueError(f"n_bowls: must be 1..6, got {self.n_bowls}")
        if not 0.0 <= float(self.nan_fraction) < 0.3:
            raise ValueError(f"nan_fraction: must be in [0, 0.3), got {self.nan_fraction}")
        if self.extent_m < 6000:
            raise ValueError(f"extent_m: must be >= 6000, got {self.extent_m}")
        if self.span_years <= 0.5 or self.history_years < 0:
            raise ValueError("span_years / history_years: span > 0.5 years, history >= 0")
        if not 0.0 <= self.rural_fraction < 1.0:
            raise ValueError(f"rural_fraction: must be in [0, 1), got {self.rural_fraction}")
        for name in ("elastic_mm_per_m", "head_noise_m", "orbital_mm", "stratified_mm_per_m",
                     "turbulent_mm", "noise_mm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        return self


def _dates(p):
    """A 6-day grid: 12-day repeat most of the time, 6-day bursts, misses and one outage."""
    rng = _rng(p.seed, "dates")
    slots = int(p.span_years * DAYS_PER_YEAR / 6)
    weight = np.where(np.arange(slots) % 2 == 0, 1.0, 0.25)  # mostly the 12-day cycle
    start = rng.integers(slots // 4, slots // 2)
    weight[start:start + rng.integers(8, 15)] = 0.0  # an outage of ~2-3 months
    weight[0] = 0.0
    if np.count_nonzero(weight) < p.n_dates - 1:
        raise ValueError(f"n_dates: {p.n_dates} dates do not fit in span_years = {p.span_years}")
    chosen = rng.choice(slots, size=p.n_dates - 1, replace=False, p=weight / weight.sum())
    steps = np.concatenate([[0], np.sort(chosen)]) * 6
    return np.datetime64(p.start_date, "D") + steps


def _terrain(p):
    """z(u, v) in metres (u, v in [0, 1]): valley floor, two terraces, a hill range on one side."""
    rng = _rng(p.seed, "terrain")
    angle = rng.uniform(0, 2 * np.pi)
    hills = [(rng.uniform(0, 1), rng.uniform(0.05, 0.2), rng.uniform(40, 140)) for _ in range(6)]

    def z(u, v):
        across = (u - 0.5) * np.cos(angle) + (v - 0.5) * np.sin(angle)  # across the valley
        along = -(u - 0.5) * np.sin(angle) + (v - 0.5) * np.cos(angle)
        height = 30.0 + 12.0 / (1 + np.exp(-(across - 0.05) / 0.01))
        height = height + 15.0 / (1 + np.exp(-(across - 0.2) / 0.01))
        for pos, width, h in hills:  # a range of hills on the far side of the upper terrace
            r2 = ((along + 0.5 - pos) / width) ** 2 + ((across - 0.42) / 0.08) ** 2
            height = height + h * np.exp(-0.5 * r2)
        return height

    return z


def _place_centres(p, rng):
    """Bowl centres (pairwise >= 2.2 km at 12 km) and the uplift centre, in the valley area."""
    ext = p.extent_m
    gap = 2200.0 * ext / 12000.0
    for _attempt in range(2000):
        centres = []
        for _ in range(p.n_bowls + 1):
            for _try in range(300):
                c = rng.uniform(0.1, 0.9, 2) * ext
                if all(np.hypot(*(c - o)) > gap for o in centres):
                    centres.append(c)
                    break
        if len(centres) == p.n_bowls + 1:
            return np.array(centres)
    raise ValueError("extent_m: too small for the bowls")  # pragma: no cover


def _bowl_shape(bowl, x, y):
    """Heavy-tailed core (exactly 0 at 3 sigma) plus a broad fringe (exactly 0 at its radius)."""
    az = np.deg2rad(bowl["azimuth_deg"])
    dx, dy = x - bowl["x"], y - bowl["y"]
    a = dx * np.cos(az) + dy * np.sin(az)
    b = (-dx * np.sin(az) + dy * np.cos(az)) / bowl["axis_ratio"]
    rho2 = (a * a + b * b) / bowl["sigma_m"] ** 2
    floor = 10.0 ** -1.5
    core = np.where(rho2 < 9.0, ((1 + rho2) ** -1.5 - floor) / (1 - floor), 0.0)
    f2 = rho2 * (bowl["sigma_m"] / bowl["fringe_radius_m"]) ** 2
    fringe = np.where(f2 < 1.0, (1 - f2) ** 2, 0.0)
    share = bowl["fringe_share"]
    return (1 - share) * core + share * fringe


def _uplift_shape(bowl, x, y):
    r = np.hypot(x - bowl["x"], y - bowl["y"])
    edge = bowl["sigma_m"] / 6
    cut = 1 / (1 + np.exp(4.0))
    plateau = 1 / (1 + np.exp((r - bowl["sigma_m"]) / edge))
    return np.where(r < bowl["radius_m"], (plateau - cut) / (1 - cut), 0.0)


def _heads(p, rng, n_wells, months):
    """Monthly heads (w, L, t) split into secular and seasonal parts; t in years from the start."""
    t = (months - months[0]).astype(np.int64) / DAYS_PER_YEAR
    secular = np.empty((n_wells, len(LAYERS), t.size))
    seasonal = np.empty_like(secular)
    base = np.array([8.0, -5.0, -18.0, -26.0])
    for i in range(n_wells):
        pumped = rng.permutation(len(LAYERS))  # how hard each layer is pumped here
        for j in range(len(LAYERS)):
            rate = (0.2, 0.5, 1.2, 2.0)[np.flatnonzero(pumped == j)[0]] * rng.uniform(0.7, 1.3)
            # Rate changes: heavy pumping, a restriction (slower decline or recovery), pumping again.
            cuts = np.sort(rng.uniform(0.2, 0.95, 2)) * t[-1]
            rates = rate * np.array([rng.uniform(0.8, 1.6), rng.uniform(-0.4, 0.5), rng.uniform(0.6, 1.4)])
            slope = rates[np.searchsorted(cuts, t)]
            decline = np.concatenate([[0.0], np.cumsum(slope[1:] * np.diff(t))])
            wander = lfilter([0.3], [1.0, -0.7], rng.normal(0, 0.15 * (1 + rate), t.size))
            secular[i, j] = base[j] + rng.normal(0, 1.5) - decline + wander
            phase = 2 * np.pi * (t - (0.35 + 0.08 * j + rng.normal(0, 0.03)))
            seasonal[i, j] = -(0.3 + 0.6 * rate) * np.cos(phase)
    return t, secular, seasonal


def _gamma_lag(series, months):
    """``series`` (t,) monthly, passed through a gamma kernel (shape 2) of mean ``months``."""
    scale = months / 2.0
    k = np.arange(int(6 * months) + 1)
    kernel = k * np.exp(-k / scale)
    kernel /= kernel.sum()
    padded = np.concatenate([np.full(kernel.size, series[0]), series])
    return np.convolve(padded, kernel)[kernel.size:kernel.size + series.size]


def _power_law_screens(p, rng, n, x, y):
    """Turbulent delay (m, n): per date a random field with a -8/3 power-law spectrum."""
    cells, size = 96, p.extent_m * 1.5
    kx = np.fft.fftfreq(cells, d=size / cells)
    ky = np.fft.rfftfreq(cells, d=size / cells)
    k = np.hypot(kx[:, None], ky[None, :])
    amp = np.where(k > 0, np.maximum(k, 1 / 15000.0) ** (-8 / 6), 0.0)
    amp[k > 1 / 300.0] = 0.0
    grid = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((n, cells, cells))) * amp, s=(cells, cells))
    grid /= grid.std(axis=(1, 2), keepdims=True)
    grid *= (p.turbulent_mm * rng.lognormal(-0.1, 0.45, n))[:, None, None]
    ix = np.clip(((x - p.origin_x_m) / size * cells + cells / 6).astype(int), 0, cells - 1)
    iy = np.clip(((y - p.origin_y_m) / size * cells + cells / 6).astype(int), 0, cells - 1)
    out = np.ascontiguousarray(grid[:, iy, ix].T)
    out[:, 0] = 0.0  # the processor removed the reference date's own screen
    return out


def _points(p, rng, centres, terrain):
    """Clustered urban PS: districts around the pumping centres and a few others, blocks on a grid."""
    ext, m = p.extent_m, p.n_points
    districts = np.vstack([centres + rng.normal(0, 250, centres.shape), rng.uniform(0.1, 0.9, (5, 2)) * ext])
    spread = rng.uniform(350, 900, len(districts))
    weight = rng.uniform(0.6, 1.4, len(districts))
    n_rural = int(round(p.rural_fraction * m))
    which = rng.choice(len(districts), m - n_rural, p=weight / weight.sum())
    # Buildings: blocks of ~8 PS scattered around a block centre.
    blocks = districts[which] + rng.normal(0, 1, (m - n_rural, 2)) * spread[which, None]
    blocks = np.round(blocks / 80.0) * 80.0 + rng.normal(0, 18, blocks.shape)
    xy = np.vstack([blocks, rng.uniform(0, ext, (n_rural, 2))])
    out = (xy < 0) | (xy > ext)
    xy[out] = rng.uniform(0, ext, out.sum())
    order = np.lexsort((xy[:, 0], -np.round(xy[:, 1], -2)))
    xy = xy[order]
    urban = np.ones(m, dtype=bool)
    urban[order >= m - n_rural] = False
    z = terrain(xy[:, 0] / ext, xy[:, 1] / ext) + np.where(urban, rng.exponential(9.0, m), 0.5)
    return xy[:, 0] + p.origin_x_m, xy[:, 1] + p.origin_y_m, np.round(z, 2), urban


def _gaps(p, rng, m, n, urban):
    mask = rng.random((m, n)) < p.nan_fraction * 0.5
    lost = np.flatnonzero(rng.random(m) < p.nan_fraction * 2)
    for i in lost:  # PS lost for the end of the series
        mask[i, n - rng.integers(2, max(3, n // 4)):] = True
    blocked = np.flatnonzero(rng.random(m) < p.nan_fraction * 1.5)
    for i in blocked:  # a block in the middle (scaffolding)
        start = rng.integers(1, n - 3)
        mask[i, start:start + rng.integers(2, max(3, n // 6))] = True
    mask[:, 0] = False
    mask[~urban[:, None] & (rng.random((m, n)) < 0.05)] = True  # rural PS decorrelate more often
    mask[:, 0] = False
    return mask


def make_urban_area(seed=0, n_points=4000, n_dates=60, nan_fraction=0.02, **options):
    """Generate the urban study area (module doc); same contract as ``core.synthetic.make_study_area``.

    Returns :class:`~core.synthetic.StudyArea`. ``stable_mask`` is the truly undeformed ground
    (truth exactly 0 at every date); ``velocity_true_mm_per_year`` the LSQ LOS rate of
    ``truth["deformation"]``. Bowl dicts carry ``layer`` (the aquifer layer that drives it),
    ``lag_months``, ``fringe_radius_m`` and ``fringe_share`` besides the keys of core.synthetic.

    Raises:
        ValueError: naming the bad parameter.
    """
    unknown = set(options) - set(UrbanParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not a parameter of make_urban_area")
    p = UrbanParams(seed=seed, n_points=n_points, n_dates=n_dates, nan_fraction=nan_fraction, **options)
    p.validate()
    dates = _dates(p)
    years = years_since_first(dates)
    terrain = _terrain(p)
    brng = _rng(p.seed, "bowls")
    centres = _place_centres(p, brng)
    bowls = []
    for b, (cx, cy) in enumerate(centres):
        sigma = brng.uniform(*p.bowl_sigma_range_m)
        bowl = {"x": cx + p.origin_x_m, "y": cy + p.origin_y_m, "sigma_m": float(sigma),
                "axis_ratio": float(brng.uniform(0.6, 1.0)), "azimuth_deg": float(brng.uniform(0, 180)),
                "well_id": "", "layer": ""}
        if b < p.n_bowls:
            extent = brng.uniform(*p.fringe_extent_range)
            rate = float(brng.uniform(*p.bowl_rate_range_mm_per_year))
            bowl.update(kind="subsidence", rate_mm_per_year=rate,
                        fringe_share=float(brng.uniform(*p.fringe_share_range)),
                        fringe_radius_m=float(extent * sigma), radius_m=float(extent * sigma),
                        lag_months=float(brng.uniform(*p.lag_months_range)), well_id=f"U{b + 1:02d}")
        else:
            sigma *= 2.5
            bowl.update(kind="uplift", sigma_m=float(sigma), radius_m=float(sigma * 1.67), fringe_share=0.0,
                        fringe_radius_m=float(sigma * 1.67), lag_months=0.0,
                        rate_mm_per_year=float(brng.uniform(*p.uplift_rate_range_mm_per_year)))
        bowls.append(bowl)

    # Wells: one near each bowl centre (it drives the bowl), a few elsewhere.
    hrng = _rng(p.seed, "heads")
    well_xy = [(bw["x"] + hrng.normal(0, 120), bw["y"] + hrng.normal(0, 120)) for bw in bowls[:p.n_bowls]]
    well_xy += [tuple(hrng.uniform(0.1, 0.9, 2) * p.extent_m + (p.origin_x_m, p.origin_y_m))
                for _ in range(p.n_extra_wells)]
    n_wells = len(well_xy)
    first = (dates[0] - int(p.history_years * DAYS_PER_YEAR)).astype("datetime64[M]")
    months = np.arange(first, dates[-1].astype("datetime64[M]") + 2).astype("datetime64[D]")
    t_month, secular, seasonal = _heads(p, hrng, n_wells, months)
    levels = secular + seasonal + hrng.normal(0, p.head_noise_m, secular.shape)
    groundwater = GroundwaterRecords(
        well_ids=np.array([f"U{i + 1:02d}" for i in range(n_wells)]), x=np.array([w[0] for w in well_xy]),
        y=np.array([w[1] for w in well_xy]), layers=list(LAYERS), dates=months,
        levels_m=np.round(levels, 3), kind="head", crs=p.crs,
        screen_depth_m=np.round(np.sort(hrng.uniform(10, 280, (n_wells, len(LAYERS))), axis=1), 1))

    # Time functions at the SAR dates (vertical mm at the centre).
    t_sar = (dates - months[0]).astype(np.int64) / DAYS_PER_YEAR
    secular_time = np.zeros((len(bowls), dates.size))
    seasonal_time = np.zeros_like(secular_time)
    layer_votes = []
    for b, bowl in enumerate(bowls):
        if bowl["kind"] == "uplift":
            shape_t = years + 0.04 * years**2
            secular_time[b] = shape_t * bowl["rate_mm_per_year"] / _linear_rate(shape_t, years)
            continue
        # The layer whose lagged drawdown declines most during the scenes drives this bowl.
        lagged = np.stack([np.interp(t_sar, t_month, _gamma_lag(secular[b, j], bowl["lag_months"]))
                           for j in range(len(LAYERS))])
        drawdown = lagged[:, :1] - lagged
        j = int(np.argmax(_linear_rate(drawdown, years)))
        bowl["layer"] = LAYERS[j]
        layer_votes.append(j)
        secular_time[b] = drawdown[j] * bowl["rate_mm_per_year"] / max(_linear_rate(drawdown[j], years), 1e-3)
        swing = np.interp(t_sar, t_month, seasonal[b, j])
        seasonal_time[b] = p.elastic_mm_per_m * (swing - swing[0])

    prng = _rng(p.seed, "points")
    x, y, z, urban = _points(p, prng, centres, terrain)
    m, n = x.size, dates.size
    u = (x - p.origin_x_m) / p.extent_m
    v = (y - p.origin_y_m) / p.extent_m
    lo, hi = p.incidence_range_deg
    incidence = lo + (hi - lo) * u
    cos_theta = np.cos(np.deg2rad(incidence))
    shapes = np.stack([_bowl_shape(bw, x, y) if bw["kind"] == "subsidence" else _uplift_shape(bw, x, y)
                       for bw in bowls], axis=1) * cos_theta[:, None]
    truth = {"deformation": shapes @ secular_time, "seasonal_deformation": shapes @ seasonal_time}

    orng = _rng(p.seed, "orbital")
    xc, yc = 2 * u - 1, 2 * v - 1
    basis = np.stack([np.ones(m), xc, yc, xc * yc, xc * xc, yc * yc], axis=1)
    coef = orng.normal(0, 1, (6, n)) * (p.orbital_mm * np.array([0.5, 1.0, 1.0, 0.2, 0.2, 0.2]))[:, None]
    coef[:, 0] = 0.0
    truth["orbital"] = basis @ coef
    k_strat = _rng(p.seed, "stratified").normal(0, p.stratified_mm_per_m, n)
    k_strat[0] = 0.0
    truth["atmosphere_stratified"] = np.outer(-(z - np.median(z)), k_strat)
    trng = _rng(p.seed, "turbulent")
    truth["atmosphere_turbulent"] = _power_law_screens(p, trng, n, x, y)
    nrng = _rng(p.seed, "noise")
    point_noise = p.noise_mm * np.where(urban, 1.0, 1.6) * nrng.lognormal(0, 0.25, m)
    noise = nrng.standard_normal((m, n)) * point_noise[:, None]
    noise[:, 0] = 0.0
    truth["noise"] = noise

    observed = sum(truth.values())
    observed[_gaps(p, _rng(p.seed, "gaps"), m, n, urban)] = np.nan
    stable = ~np.any(shapes != 0.0, axis=1)
    dominant = LAYERS[int(np.bincount(layer_votes, minlength=len(LAYERS)).argmax())]
    ps = PSDataset(ids=np.arange(1, m + 1, dtype=np.int64), x=x, y=y, dates=dates, displacement_mm=observed,
                   z=z, incidence_deg=incidence, crs=p.crs, direction="LOS")
    return StudyArea(
        ps=ps, truth=truth, velocity_true_mm_per_year=_linear_rate(truth["deformation"], years),
        stable_mask=stable, bowls=bowls, groundwater=groundwater, dominant_layer=dominant, params=p,
        layer_compressibility_mm_per_m=[{bw["layer"]: 1.0} if bw["layer"] else {} for bw in bowls],
    )
