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

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Dict, List, Tuple

import numpy as np
from scipy.signal import lfilter

from .groundwater import GroundwaterRecords
from .psdata import DAYS_PER_YEAR, PSDataset

LAYERS = ("unconfined", "confined_1", "confined_2", "confined_3")
TRUTH_NAMES = (
    "deformation",
    "seasonal_deformation",
    "orbital",
    "atmosphere_stratified",
    "atmosphere_turbulent",
    "noise",
)

# Independent random streams: adding a draw to one part never changes the others.
_STREAMS = {
    "dates": 1,
    "dem": 2,
    "bowls": 3,
    "wells": 4,
    "heads": 5,
    "points": 6,
    "orbital": 7,
    "stratified": 8,
    "turbulent": 9,
    "noise": 10,
    "gaps": 11,
    "head_noise": 12,
}


def _rng(seed, stream):
    return np.random.default_rng([int(seed), _STREAMS[stream]])


@dataclass
class SyntheticParams:
    """Every parameter of the generator (units in the names).

    Layer tuples follow ``LAYERS`` (unconfined, confined_1, confined_2, confined_3).
    """

    seed: int = 0
    n_points: int = 4000
    n_dates: int = 60
    nan_fraction: float = 0.02
    crs: str = "EPSG:32650"
    origin_x_m: float = 440000.0
    origin_y_m: float = 4410000.0
    extent_m: float = 20000.0
    start_date: str = "2010-11-22"
    revisit_days: int = 24
    span_years: float = 5.5
    history_years: float = 2.0
    n_wells: int = 7
    n_bowls: int = 3
    dominant_layer: str = "confined_2"
    bowl_rate_range_mm_per_year: Tuple[float, float] = (-150.0, -100.0)
    bowl_sigma_range_m: Tuple[float, float] = (1100.0, 1600.0)
    bowl_support_sigmas: float = 2.6
    uplift_rate_range_mm_per_year: Tuple[float, float] = (5.0, 15.0)
    uplift_sigma_m: float = 700.0
    urban_fraction: float = 0.65
    relief_m: float = 300.0
    incidence_range_deg: Tuple[float, float] = (33.0, 36.0)
    base_head_m: Tuple[float, ...] = (12.0, -8.0, -22.0, -30.0)
    decline_m_per_year: Tuple[float, ...] = (0.3, 1.0, 2.2, 1.4)
    seasonal_head_amplitude_m: Tuple[float, ...] = (0.5, 1.2, 2.5, 1.6)
    delay_years: Tuple[float, ...] = (0.1, 0.3, 0.5, 0.8)
    dominant_share: float = 0.7
    elastic_mm_per_m: float = 3.0
    head_noise_m: float = 0.08
    orbital_mm: float = 2.5
    stratified_seasonal_mm_per_m: float = 0.02
    stratified_random_mm_per_m: float = 0.008
    turbulent_mm: float = 2.5
    turbulent_correlation_m: float = 3000.0
    noise_mm: float = 1.5

    def validate(self):
        """Raise ``ValueError`` naming the first bad parameter."""
        for name in ("seed", "n_points", "n_dates", "n_wells", "n_bowls", "revisit_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"seed: must be >= 0, got {self.seed}")
        if self.n_points < 10:
            raise ValueError(f"n_points: need at least 10 points, got {self.n_points}")
        if self.n_dates < 3:
            raise ValueError(f"n_dates: need at least 3 dates, got {self.n_dates}")
        if not 0.0 <= float(self.nan_fraction) < 0.5:
            raise ValueError(f"nan_fraction: must be in [0, 0.5), got {self.nan_fraction}")
        if not 1 <= self.n_bowls <= 4:
            raise ValueError(f"n_bowls: must be 1..4, got {self.n_bowls}")
        if self.n_wells < self.n_bowls + 1:
            raise ValueError(f"n_wells: need at least n_bowls + 1 = {self.n_bowls + 1}, got {self.n_wells}")
        if self.dominant_layer not in LAYERS:
            raise ValueError(f"dominant_layer: expected one of {LAYERS}, got {self.dominant_layer!r}")
        if not 0.25 < float(self.dominant_share) < 1.0:
            raise ValueError(f"dominant_share: must be in (0.25, 1), got {self.dominant_share}")
        if self.extent_m < 2000:
            raise ValueError(f"extent_m: must be >= 2000, got {self.extent_m}")
        if self.revisit_days < 1:
            raise ValueError(f"revisit_days: must be >= 1, got {self.revisit_days}")
        if self.span_years <= 0 or self.history_years < 0:
            raise ValueError("span_years / history_years: must be positive")
        if not 0.0 <= self.urban_fraction <= 1.0:
            raise ValueError(f"urban_fraction: must be in [0, 1], got {self.urban_fraction}")
        for name in ("base_head_m", "decline_m_per_year", "seasonal_head_amplitude_m", "delay_years"):
            if len(getattr(self, name)) != len(LAYERS):
                raise ValueError(f"{name}: expected {len(LAYERS)} values (one per layer)")
        if min(self.delay_years) <= 0:
            raise ValueError("delay_years: every delay must be > 0")
        for name in (
            "orbital_mm",
            "stratified_seasonal_mm_per_m",
            "stratified_random_mm_per_m",
            "turbulent_mm",
            "noise_mm",
            "head_noise_m",
            "elastic_mm_per_m",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.turbulent_correlation_m <= 0:
            raise ValueError(f"turbulent_correlation_m: must be > 0, got {self.turbulent_correlation_m}")
        lo, hi = self.incidence_range_deg
        if not 0 < lo <= hi < 80:
            raise ValueError(
                f"incidence_range_deg: expected 0 < near <= far < 80, got {self.incidence_range_deg}"
            )
        return self


@dataclass
class StudyArea:
    """A synthetic study area and its truth (METHODS.md 6); see the module docstring.

    Attributes:
        ps: observed LOS series (mm, NaN gaps) as a :class:`PSDataset`.
        truth: name -> (m, n) LOS mm, no NaN, column 0 zero; ``observed = sum`` (+ gaps).
        velocity_true_mm_per_year: (m,) LOS velocity of ``truth["deformation"]`` (LSQ line).
        stable_mask: (m,) true |velocity| < 2 mm/yr and no seasonal deformation.
        bowls: dicts ``x, y, radius_m`` (deformation is exactly 0 beyond it),
            ``rate_mm_per_year`` (vertical, at the centre; negative = subsidence), ``kind``
            ("subsidence" / "uplift"), ``sigma_m``, ``axis_ratio``, ``azimuth_deg``,
            ``well_id`` (driving well, "" for the uplift).
        groundwater: wells with monthly heads of the four layers.
        dominant_layer: the layer that drives subsidence most.
        params: the :class:`SyntheticParams` used.
        layer_compressibility_mm_per_m: layer -> inelastic compaction (mm) per metre of
            new head low at a bowl centre, for each bowl (list of dicts).
    """

    ps: PSDataset
    truth: Dict[str, np.ndarray]
    velocity_true_mm_per_year: np.ndarray
    stable_mask: np.ndarray
    bowls: List[dict]
    groundwater: GroundwaterRecords
    dominant_layer: str
    params: SyntheticParams
    layer_compressibility_mm_per_m: List[dict] = field(default_factory=list)

    @cached_property
    def deformation_vertical_mm(self) -> np.ndarray:
        """(m, n) true vertical deformation: (deformation + seasonal) / cos(theta) (METHODS 1)."""
        cos_theta = np.cos(np.deg2rad(self.ps.incidence_deg))
        return (self.truth["deformation"] + self.truth["seasonal_deformation"]) / cos_theta[:, None]


# --------------------------------------------------------------------------- layout


def _sar_dates(p):
    """Sorted unique dates on a repeat-cycle grid with missed acquisitions (irregular steps).

    ``revisit_days`` (24, RADARSAT-2) is halved (12, 6: Sentinel-1-like) while ``n_dates``
    scenes with ~12 % missed do not fit in ``span_years``; beyond that the span grows.
    """
    rng = _rng(p.seed, "dates")
    needed = int(np.ceil(p.n_dates * 1.12)) + 1  # at least ~12 % missed: steps always irregular
    revisit = p.revisit_days
    while revisit % 2 == 0 and revisit > 6 and p.span_years * DAYS_PER_YEAR / revisit + 1 < needed:
        revisit //= 2
    slots = max(int(round(p.span_years * DAYS_PER_YEAR / revisit)) + 1, needed)
    chosen = np.sort(rng.choice(np.arange(1, slots), size=p.n_dates - 1, replace=False))
    chosen = np.concatenate([[0], chosen])
    if np.unique(np.diff(chosen)).size < 2:
        # Every gap equal by chance: move the last acquisition one cycle later.
        chosen[-1] += 1
    start = np.datetime64(p.start_date, "D")
    return start + chosen.astype(np.int64) * revisit


# Terrain (METHODS 6 is silent; **[choice]**). Uplands cover about 40 % of the area as
# massifs of ~6 km, scored by ridges and valleys ~1.4 km apart that run along one trend; the
# rest is alluvial plain (with a few isolated hills) where the bowls are. A quadratic surface in
# (x, y) explains little of such relief (R^2 < 0.15 on seeds 0-49, ~0.05 typically), so the
# stratified atmosphere K_j z does not look like an orbital ramp and PCA can put it in its own
# component (METHODS 2, "Classifying components"); a DEM that is one tilted plain, or foothills
# along one edge of the scene, is ~0.85 quadratic and mixes the two.
_DEM_CELLS = 160  # grid of the upland pattern over the padded area (~190 m cells at 20 km)
_DEM_PAD = 0.25  # padding on each side, as a share of extent_m (no FFT wrap-around inside)
_UPLAND_SHARE = 0.45  # share of the area inside the massif outlines
_MASSIF_WAVELENGTH = 0.3  # share of extent_m
_MASSIF_FOOT = 0.4  # how gently the massifs rise (in standard deviations of their field)
_RIDGE_WAVELENGTH = 0.07  # spacing of ridges across their trend, share of extent_m
_RIDGE_ELONGATION = 3.0  # ridges are about this many times longer than their spacing
_RIDGE_RELIEF = 0.5  # share of the upland height cut by valleys
_PLAIN_BASE_M = 15.0


def _band_limited_field(rng, cells, cell_m, wavelength_m, rel_width, elongation, angle):
    """Gaussian random field, unit variance, with its power around ``wavelength_m`` across the
    direction ``angle`` (radians from x) and ``elongation`` times longer along it."""
    noise = rng.standard_normal((cells, cells))
    ky = np.fft.fftfreq(cells, d=cell_m)[:, None]
    kx = np.fft.rfftfreq(cells, d=cell_m)[None, :]
    k_across = kx * np.cos(angle) + ky * np.sin(angle)
    k_along = -kx * np.sin(angle) + ky * np.cos(angle)
    k = np.hypot(k_across, elongation * k_along)
    band = np.exp(-0.5 * ((k * wavelength_m - 1.0) / rel_width) ** 2)
    field_ = np.fft.irfft2(np.fft.rfft2(noise) * band, s=(cells, cells))
    return field_ / field_.std()


def _dem_function(p):
    """A DEM z(x, y) in metres, 0..``relief_m``: alluvial plain, upland massifs with ridges and
    valleys along one trend, a few isolated hills (see the terrain constants above).

    The upland pattern comes from two band-limited random fields on a grid (FFT-filtered),
    sampled bilinearly, so the DEM is cheap at any number of points and the same for every
    ``n_points``.
    """
    rng = _rng(p.seed, "dem")
    ext = p.extent_m
    cells = _DEM_CELLS
    pad = _DEM_PAD * ext
    cell = (ext + 2 * pad) / cells
    trend = rng.uniform(0, np.pi)  # ridges of a fold belt share one trend
    massif = _band_limited_field(rng, cells, cell, _MASSIF_WAVELENGTH * ext, 0.5, 1.5, trend)
    ridges = _band_limited_field(rng, cells, cell, _RIDGE_WAVELENGTH * ext, 0.35, _RIDGE_ELONGATION, trend)
    inside = slice(int(pad / cell), cells - int(pad / cell))
    outline = np.quantile(massif[inside, inside], 1.0 - _UPLAND_SHARE)

    def upland_height(massif_value, ridges_value):
        rise = np.clip((massif_value - outline) / _MASSIF_FOOT, 0.0, None)
        upland = 1.0 - np.exp(-rise * rise)  # gentle foot, broad upland surface
        crests = (1.0 - np.abs(np.tanh(ridges_value))) ** 1.5  # sharp crests, wide valleys
        return upland * (1.0 - _RIDGE_RELIEF + _RIDGE_RELIEF * crests)

    top = p.relief_m - 20.0  # highest upland summit inside the area; the plain adds ~15 m
    scale = top / upland_height(massif[inside, inside], ridges[inside, inside]).max()
    hills = [
        (
            rng.uniform(0.08, 0.92) * ext,
            rng.uniform(0.08, 0.92) * ext,
            rng.uniform(300, 800),
            rng.uniform(30, 90),
        )
        for _ in range(5)
    ]
    tilt = rng.uniform(-6, 6, 2)  # the plain slopes gently (alluvial fan)

    def dem(x, y):
        u = np.asarray(x, float) - p.origin_x_m
        v = np.asarray(y, float) - p.origin_y_m
        fx = np.clip((u + pad) / cell, 0.0, cells - 1.000001)
        fy = np.clip((v + pad) / cell, 0.0, cells - 1.000001)
        ix = np.minimum(fx.astype(np.int64), cells - 2)
        iy = np.minimum(fy.astype(np.int64), cells - 2)
        wx = fx - ix
        wy = fy - iy

        def bilinear(grid):
            # The smooth fields are interpolated and the sharp shaping applied at the points,
            # so range fronts and crests have no grid steps.
            return (
                grid[iy, ix] * (1 - wx) * (1 - wy)
                + grid[iy, ix + 1] * wx * (1 - wy)
                + grid[iy + 1, ix] * (1 - wx) * wy
                + grid[iy + 1, ix + 1] * wx * wy
            )

        z = scale * upland_height(bilinear(massif), bilinear(ridges))
        # Isolated hills stand on the plain; on the uplands they fade out (no clipped tops).
        plain = np.clip(1.0 - z / top, 0.0, 1.0)
        z += _PLAIN_BASE_M + tilt[0] * u / ext + tilt[1] * v / ext
        for hx, hy, hs, hh in hills:
            z += plain * hh * np.exp(-0.5 * ((u - hx) ** 2 + (v - hy) ** 2) / hs**2)
        return np.clip(z, 0.0, p.relief_m)

    return dem


def _place_features(p, dem):
    """Bowl centres (in the plain, supports not overlapping) and the uplift centre."""
    rng = _rng(p.seed, "bowls")
    ext = p.extent_m
    sigmas = rng.uniform(*p.bowl_sigma_range_m, size=p.n_bowls) * ext / 20000.0
    supports = sigmas * p.bowl_support_sigmas
    uplift_support = p.uplift_sigma_m * p.bowl_support_sigmas * ext / 20000.0
    margin = 0.12 * ext
    centres = []
    for _attempt in range(4000):
        centres = []
        radii = list(supports) + [uplift_support]
        for r in radii:
            for _ in range(200):
                cx, cy = rng.uniform(margin, ext - margin, size=2)
                if dem(cx + p.origin_x_m, cy + p.origin_y_m) > 80.0:
                    continue  # subsidence bowls and rebound belong to the alluvial plain
                if all(np.hypot(cx - ox, cy - oy) > r + orr + 0.03 * ext for ox, oy, orr in centres):
                    centres.append((cx, cy, r))
                    break
            else:
                break
        if len(centres) == len(radii):
            break
    else:  # pragma: no cover - the plain is always large enough at the default sizes
        raise ValueError("extent_m: too small to place the bowls without overlap")
    bowls = []
    for i, (cx, cy, r) in enumerate(centres):
        kind = "subsidence" if i < p.n_bowls else "uplift"
        sigma = sigmas[i] if kind == "subsidence" else p.uplift_sigma_m * ext / 20000.0
        bowls.append(
            {
                "x": float(cx + p.origin_x_m),
                "y": float(cy + p.origin_y_m),
                "radius_m": float(r),
                "sigma_m": float(sigma),
                "axis_ratio": float(rng.uniform(0.65, 1.0)),
                "azimuth_deg": float(rng.uniform(0, 180)),
                "kind": kind,
                "rate_mm_per_year": float(
                    rng.uniform(*p.bowl_rate_range_mm_per_year)
                    if kind == "subsidence"
                    else rng.uniform(*p.uplift_rate_range_mm_per_year)
                ),
                "well_id": "",
            }
        )
    return bowls


def _bowl_shape(bowl, x, y):
    """Elliptical Gaussian tapered to exactly 0 at ``radius_m`` along the major axis; 1 at the centre."""
    az = np.deg2rad(bowl["azimuth_deg"])
    dx = np.asarray(x) - bowl["x"]
    dy = np.asarray(y) - bowl["y"]
    a = dx * np.cos(az) + dy * np.sin(az)
    b = (-dx * np.sin(az) + dy * np.cos(az)) / bowl["axis_ratio"]
    rho2 = (a * a + b * b) / bowl["sigma_m"] ** 2
    cut2 = (bowl["radius_m"] / bowl["sigma_m"]) ** 2
    floor = np.exp(-0.5 * cut2)
    return np.where(rho2 < cut2, (np.exp(-0.5 * rho2) - floor) / (1.0 - floor), 0.0)


def _place_wells(p, bowls):
    """A well near every bowl centre (so its buffer samples the bowl), one near the uplift,
    the others spread over the area (mostly stable ground)."""
    rng = _rng(p.seed, "wells")
    ext = p.extent_m
    xs, ys, intensity = [], [], []
    for bowl in bowls:
        dist = rng.uniform(80, 300)
        ang = rng.uniform(0, 2 * np.pi)
        xs.append(bowl["x"] + dist * np.cos(ang))
        ys.append(bowl["y"] + dist * np.sin(ang))
        intensity.append(rng.uniform(0.8, 1.2) if bowl["kind"] == "subsidence" else 0.15)
    for _ in range(p.n_wells - len(bowls)):
        for _try in range(500):
            wx = p.origin_x_m + rng.uniform(0.08, 0.92) * ext
            wy = p.origin_y_m + rng.uniform(0.08, 0.92) * ext
            if all(np.hypot(wx - ox, wy - oy) > 0.12 * ext for ox, oy in zip(xs, ys)):
                break
        xs.append(wx)
        ys.append(wy)
        intensity.append(rng.uniform(0.1, 0.35))
    screens = np.empty((p.n_wells, len(LAYERS)))
    depth_ranges = ((15, 40), (60, 100), (120, 180), (220, 300))
    for j, (lo, hi) in enumerate(depth_ranges):
        screens[:, j] = np.round(rng.uniform(lo, hi, size=p.n_wells), 1)
    well_ids = np.array([f"W{i + 1:02d}" for i in range(p.n_wells)])
    return well_ids, np.array(xs), np.array(ys), np.array(intensity), screens


def _points(p, well_x, well_y, rng):
    """PS positions: towns around the wells and a few more, plus sparse rural points."""
    ext = p.extent_m
    n_extra_towns = 4
    town_x = np.concatenate(
        [well_x + rng.normal(0, 250, well_x.size), p.origin_x_m + rng.uniform(0.1, 0.9, n_extra_towns) * ext]
    )
    town_y = np.concatenate(
        [well_y + rng.normal(0, 250, well_y.size), p.origin_y_m + rng.uniform(0.1, 0.9, n_extra_towns) * ext]
    )
    town_sigma = rng.uniform(0.04, 0.08, town_x.size) * ext
    town_weight = rng.uniform(0.5, 1.5, town_x.size)
    m = p.n_points
    n_urban = int(round(p.urban_fraction * m))
    town = rng.choice(town_x.size, size=n_urban, p=town_weight / town_weight.sum())
    x = np.empty(m)
    y = np.empty(m)
    x[:n_urban] = town_x[town] + rng.normal(size=n_urban) * town_sigma[town]
    y[:n_urban] = town_y[town] + rng.normal(size=n_urban) * town_sigma[town]
    x[n_urban:] = p.origin_x_m + rng.uniform(0, ext, m - n_urban)
    y[n_urban:] = p.origin_y_m + rng.uniform(0, ext, m - n_urban)
    outside = (x < p.origin_x_m) | (x > p.origin_x_m + ext) | (y < p.origin_y_m) | (y > p.origin_y_m + ext)
    x[outside] = p.origin_x_m + rng.uniform(0, ext, outside.sum())
    y[outside] = p.origin_y_m + rng.uniform(0, ext, outside.sum())
    # Sorted north to south, west to east, as PS exports usually are.
    order = np.lexsort((x, -np.round(y, -2)))
    return x[order], y[order]


# --------------------------------------------------------------------------- groundwater


def _layer_shares(p):
    """Each layer's share of the compaction at a bowl: ``dominant_share`` to the dominant
    layer, the rest split over the others (confined layers weigh 4x the unconfined one)."""
    base = np.array([1.0 if name == "unconfined" else 4.0 for name in LAYERS])
    dom = LAYERS.index(p.dominant_layer)
    base[dom] = 0.0
    shares = (1.0 - p.dominant_share) * base / base.sum()
    shares[dom] = p.dominant_share
    return shares


def _layer_profile(p):
    """Nominal decline (m/yr) and seasonal amplitude (m) per layer.

    The tuples in :class:`SyntheticParams` describe the default case, confined_2 the most
    exploited layer; another ``dominant_layer`` takes over confined_2's pumping profile (and
    gives it its own), since the layer that drives subsidence is the one pumped hardest.
    """
    decline = np.array(p.decline_m_per_year, dtype=float)
    amplitude = np.array(p.seasonal_head_amplitude_m, dtype=float)
    dom, default = LAYERS.index(p.dominant_layer), LAYERS.index("confined_2")
    decline[[dom, default]] = decline[[default, dom]]
    amplitude[[dom, default]] = amplitude[[default, dom]]
    return decline, amplitude


def _heads(p, intensity, day0, n_days):
    """Daily heads, split into secular (trend + wander) and seasonal parts, (w, L, days) each.

    Every layer of every well has its own decline-rate changes and wander, so the layers
    are distinguishable and the dominant one can be identified from the data (METHODS 5).
    """
    rng = _rng(p.seed, "heads")
    w, n_layers = intensity.size, len(LAYERS)
    t = np.arange(n_days) / DAYS_PER_YEAR  # years since the start of the well record
    years_total = t[-1]
    secular = np.empty((w, n_layers, n_days))
    seasonal = np.empty((w, n_layers, n_days))
    decline, amplitude = _layer_profile(p)
    epoch_days = (day0 + np.arange(n_days)).astype("datetime64[D]").astype(np.int64)
    doy_phase = 2 * np.pi * epoch_days / DAYS_PER_YEAR
    # Epoch day 0 is 1970-01-01. Shallow heads are lowest in late spring (irrigation
    # pumping), deeper layers lag by about 40 days per layer (slow leakage).
    low_day = np.array([140.0, 180.0, 220.0, 260.0])
    for i in range(w):
        for j in range(n_layers):
            rate = decline[j] * intensity[i]
            n_breaks = rng.integers(2, 4)
            breaks = np.sort(rng.uniform(0.1, 0.9, n_breaks)) * years_total
            # The most exploited (dominant) layer keeps declining at changing rates; the
            # others mix fast decline, stagnation and partial recovery (pumping bans,
            # imported water). Both average about the nominal rate.
            if LAYERS[j] == p.dominant_layer:
                rates = rate * rng.uniform(0.4, 1.6, n_breaks + 1)
            else:
                rates = rate * rng.uniform(-0.8, 2.8, n_breaks + 1)
            piece = np.searchsorted(breaks, t)
            slope = rates[piece]
            trend = np.concatenate([[0.0], np.cumsum(0.5 * (slope[1:] + slope[:-1]) * np.diff(t))])
            # Slow wander (low-pass random walk, ~0.4 yr), amplitude grows with pumping.
            steps = rng.normal(size=n_days)
            wander = lfilter([1.0 - np.exp(-1 / 150.0)], [1.0, -np.exp(-1 / 150.0)], steps)
            wander = lfilter([1.0 - np.exp(-1 / 150.0)], [1.0, -np.exp(-1 / 150.0)], wander)
            wander = wander / (np.std(wander) + 1e-12) * (0.25 + 0.6 * intensity[i] * (j > 0))
            base = p.base_head_m[j] + rng.normal(0, 2.0)
            secular[i, j] = base - trend + wander
            amp = amplitude[j] * (0.5 + 0.7 * intensity[i])
            wobble = np.sin(2 * np.pi * t / rng.uniform(2.5, 4.5) + rng.uniform(0, 2 * np.pi))
            amp_year = amp * (1.0 + 0.15 * wobble)
            phase = 2 * np.pi * (low_day[j] + rng.normal(0, 8)) / DAYS_PER_YEAR
            seasonal[i, j] = -amp_year * np.cos(doy_phase - phase)
    return secular, seasonal


def _running_min_delay(head, tau_days):
    """Inelastic drawdown: new head lows (running minimum, relative to the start), passed
    through an exponential delay kernel of time constant ``tau_days`` (METHODS 6)."""
    low = np.minimum.accumulate(head, axis=-1) - head[..., :1]
    a = np.exp(-1.0 / tau_days)
    # Start in equilibrium so the delay adds no artificial ramp at the first day.
    return lfilter([1.0 - a], [1.0, -a], low, axis=-1)


# --------------------------------------------------------------------------- errors


def _turbulent_field(p, x, y, dates):
    """Spatially correlated turbulent delay (LOS mm), (m, n), column 0 zero.

    A white Gaussian field per epoch on a padded grid, low-pass filtered in the Fourier
    domain with a Gaussian kernel (correlation length ``turbulent_correlation_m``),
    normalised to a per-epoch standard deviation and bilinearly sampled at the points.
    """
    rng = _rng(p.seed, "turbulent")
    n = dates.size
    pad = 1.5 * p.turbulent_correlation_m
    size_m = p.extent_m + 2 * pad
    cells = 128
    cell = size_m / cells
    noise = rng.standard_normal((n, cells, cells))
    kx = np.fft.fftfreq(cells, d=cell)
    ky = np.fft.rfftfreq(cells, d=cell)
    scale = p.turbulent_correlation_m / 2.0
    kernel = np.exp(-2 * (np.pi * scale) ** 2 * (kx[:, None] ** 2 + ky[None, :] ** 2))
    grid = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(cells, cells))
    grid -= grid.mean(axis=(1, 2), keepdims=True)
    grid /= grid.std(axis=(1, 2), keepdims=True)
    # Some epochs are much more turbulent than others (summer convection).
    epoch_std = p.turbulent_mm * rng.lognormal(-0.18, 0.6, n)
    epoch_std[0] = 0.0
    grid *= epoch_std[:, None, None]
    fx = (x - (p.origin_x_m - pad)) / cell
    fy = (y - (p.origin_y_m - pad)) / cell
    ix = np.clip(np.floor(fx).astype(np.int64), 0, cells - 2)
    iy = np.clip(np.floor(fy).astype(np.int64), 0, cells - 2)
    wx = (fx - ix)[None, :]
    wy = (fy - iy)[None, :]
    flat = grid.reshape(n, -1)
    i00 = iy * cells + ix
    out = (
        flat[:, i00] * (1 - wx) * (1 - wy)
        + flat[:, i00 + 1] * wx * (1 - wy)
        + flat[:, i00 + cells] * (1 - wx) * wy
        + flat[:, i00 + cells + 1] * wx * wy
    )
    return np.ascontiguousarray(out.T)


def _nan_mask(p, m, n, rng):
    """Exactly round(nan_fraction * m * (n - 1)) gaps in columns >= 1, weighted towards a few
    bad epochs and low-coherence points (Efraimidis-Spirakis weighted sampling)."""
    mask = np.zeros((m, n), dtype=bool)
    count = int(round(p.nan_fraction * m * (n - 1)))
    if count == 0:
        return mask
    epoch_w = rng.lognormal(0.0, 0.7, n - 1)
    point_w = rng.lognormal(0.0, 0.5, m)
    keys = np.log(rng.random((m, n - 1)))
    keys /= point_w[:, None]
    keys /= epoch_w[None, :]
    flat = np.argpartition(keys.ravel(), keys.size - count)[keys.size - count :]
    sub = mask[:, 1:].copy()
    sub.ravel()[flat] = True
    mask[:, 1:] = sub
    return mask


# --------------------------------------------------------------------------- main


def _linear_rate(series, years):
    """Least-squares slope per row of ``series`` (..., n) against ``years`` (n,)."""
    tc = years - years.mean()
    return (series @ tc) / (tc @ tc)


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

    # Groundwater: daily heads from the start of the record to the month after the last scene.
    first_month = (dates[0] - int(round(p.history_years * DAYS_PER_YEAR))).astype("datetime64[M]")
    last_month = dates[-1].astype("datetime64[M]") + 1
    gw_dates = np.arange(first_month, last_month + 1).astype("datetime64[D]")
    day0 = gw_dates[0]
    n_days = int((gw_dates[-1] - day0).astype(np.int64)) + 1
    secular, seasonal = _heads(p, intensity, day0, n_days)
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


def save_truth(area, path):
    """Write the truth of ``area`` to an ``.npz`` file (read it back with :func:`load_truth`).

    Keys: ids, x, y, dates, truth_<name> for every truth array, nan_mask (the observed gaps),
    stable_mask, velocity_true_mm_per_year, deformation_vertical_mm, bowl_<key> arrays,
    dominant_layer, params_json.
    """
    arrays = {
        "ids": area.ps.ids,
        "x": area.ps.x,
        "y": area.ps.y,
        "dates": area.ps.dates,
        "nan_mask": np.isnan(area.ps.displacement_mm),
        "stable_mask": area.stable_mask,
        "velocity_true_mm_per_year": area.velocity_true_mm_per_year,
        "deformation_vertical_mm": area.deformation_vertical_mm,
        "dominant_layer": np.array(area.dominant_layer),
        "params_json": np.array(json.dumps(asdict(area.params))),
    }
    for name, values in area.truth.items():
        arrays[f"truth_{name}"] = values
    for key in area.bowls[0] if area.bowls else ():
        arrays[f"bowl_{key}"] = np.array([bowl[key] for bowl in area.bowls])
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_truth(path):
    """Read a file written by :func:`save_truth` into a dict.

    Returns keys ids, x, y, dates, truth (name -> array), nan_mask, stable_mask,
    velocity_true_mm_per_year, deformation_vertical_mm, bowls (list of dicts),
    dominant_layer (str), params (dict).
    """
    with np.load(path, allow_pickle=False) as data:
        out = {"truth": {}, "bowls": []}
        bowl_cols = {}
        for key in data.files:
            if key.startswith("truth_"):
                out["truth"][key[len("truth_") :]] = data[key]
            elif key.startswith("bowl_"):
                bowl_cols[key[len("bowl_") :]] = data[key]
            elif key == "dominant_layer":
                out[key] = str(data[key])
            elif key == "params_json":
                out["params"] = json.loads(str(data[key]))
            else:
                out[key] = data[key]
    if bowl_cols:
        count = len(next(iter(bowl_cols.values())))
        for i in range(count):
            out["bowls"].append({k: v[i].item() for k, v in bowl_cols.items()})
    missing = {"ids", "dates", "stable_mask"} - set(out)
    if missing:
        raise ValueError(f"{path}: not a study-area truth file (missing {sorted(missing)[0]!r})")
    return out


def _records(area_or_groundwater):
    return getattr(area_or_groundwater, "groundwater", area_or_groundwater)


def benchmark_stations(area, noise_mm=1.0, offset_m=300.0, seed=2024):
    """Synthetic benchmark ("GNSS") stations for validation tests and benches (METHODS 3).

    One station at the PS nearest a point ``offset_m`` east of each of the first four bowl
    centres: the true LOS deformation there (secular + seasonal) plus white noise of
    ``noise_mm``, on the SAR dates. Returns dicts ``id, kind, x, y, dates, values_mm`` as
    :func:`core.validation.compare_with_benchmarks` takes them.
    """
    ps = area.ps
    rng = np.random.default_rng(seed)
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    stations = []
    for number, bowl in enumerate(area.bowls[:4]):
        i = int(np.argmin(np.hypot(ps.x - bowl["x"] - offset_m, ps.y - bowl["y"])))
        stations.append({
            "id": f"GNSS{number + 1}", "kind": bowl["kind"], "x": ps.x[i], "y": ps.y[i],
            "dates": ps.dates, "values_mm": truth[i] + rng.normal(0, noise_mm, ps.n_dates),
        })
    return stations


def groundwater_long_table(area):
    """Long table of the heads: columns well_id, date, layer, level_m (one row per
    well x date x layer, wells then dates then layers), as a dict of (rows,) arrays.

    Accepts a :class:`StudyArea` or a :class:`GroundwaterRecords`.
    """
    gw = _records(area)
    w, n_layers, t = gw.levels_m.shape
    return {
        "well_id": np.repeat(gw.well_ids, t * n_layers),
        "date": np.tile(np.repeat(gw.dates, n_layers), w),
        "layer": np.tile(np.asarray(gw.layers), w * t),
        "level_m": gw.levels_m.transpose(0, 2, 1).reshape(-1),
    }


def groundwater_wide_table(area):
    """Wide table of the heads: columns well_id, date and one per layer (metres), one row
    per well x date (wells then dates), as a dict of (rows,) arrays.

    Accepts a :class:`StudyArea` or a :class:`GroundwaterRecords`.
    """
    gw = _records(area)
    w, _, t = gw.levels_m.shape
    table = {"well_id": np.repeat(gw.well_ids, t), "date": np.tile(gw.dates, w)}
    for j, name in enumerate(gw.layers):
        table[name] = gw.levels_m[:, j, :].reshape(-1)
    return table


def wells_table(area):
    """Per-well attributes: well_id, x, y and ``screen_depth_<layer>_m`` for every layer."""
    gw = _records(area)
    table = {"well_id": gw.well_ids, "x": gw.x, "y": gw.y}
    for j, name in enumerate(gw.layers):
        table[f"screen_depth_{name}_m"] = (
            gw.screen_depth_m[:, j] if gw.screen_depth_m is not None else np.full(gw.n_wells, np.nan)
        )
    return table
