"""Shared parts of the synthetic study areas (METHODS.md section 6): the aquifer layers, the
truth names, the random streams and parameters of :mod:`core.synthetic`, the
:class:`StudyArea` contract that :mod:`core.synthetic_urban` also returns, and the
least-squares rate used to define the true velocity.
"""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, List, Tuple

import numpy as np

from .groundwater import GroundwaterRecords
from .psdata import PSDataset

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

def _linear_rate(series, years):
    """Least-squares slope per row of ``series`` (..., n) against ``years`` (n,)."""
    tc = years - years.mean()
    return (series @ tc) / (tc @ tc)
