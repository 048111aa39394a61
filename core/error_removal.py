"""PCA-based hierarchical error removal (METHODS.md section 3, seed 003 section 3.3).

Given a PCA decomposition ``X = mu + S W T^T + rest`` (METHODS 2) and component labels:

1. fit a straight line in time (least squares, years) to each deformation component's
   temporal function T_d, giving T'_d;
2. deformation model ``D = S_d W_d T'_d^T``; ``R1 = X - mu - D``;
3. error components (default: the ones labelled orbital and noise, seed 003's PC3 and PC5)
   reconstructed with their own T and removed: ``R2 = R1 - S_e W_e T_e^T``;
4. per epoch a polynomial (none / plane / quadratic / quadratic + f z + g z^2) fitted by least
   squares to R2 over the fit points (all, or a stable-area mask: then to R2 + D, see below)
   and removed (:mod:`.polynomial`);
5. the deformation model added back: ``final = R2 - poly + D + level``.

**Without a stable-area mask** the steps are followed literally, fitting on all points.
The per-epoch mean mu (METHODS 3 step 5 says add it back) holds the spatial mean of the
deformation *and* of the errors; a per-epoch constant is not identifiable from the data alone
(a uniform error and a uniform motion look the same). **[choice]** the polynomial's constant
term already takes the mean of R2, so instead of all of mu we add back its least-squares
straight line in time: the mean deformation's secular part is kept (as step 1 does for T_d)
and mu's non-linear part, the mean of the errors, is removed with the other errors.

**With a stable-area mask** (points known not to deform) three **[choice]**s follow from
"nothing deforms on these points", each measured on the synthetic area of METHODS 6
(tests/test_error_removal.py):

* *reference*: set on the stable area (see **Reference** below), not by adding mu back,
  which would offset the stable area by the mean deformation (D is centred);
* *polynomial*: fitted on the stable points to ``R2 + D = X - mu - S_e W_e T_e^T``. With no
  deformation there, D holds only what the PCA leaked of the errors into the deformation
  components; removing it before the fit would bend the surface by that leak and carry it
  into the deforming area by extrapolation. ``final = X - mu - S_e W_e T_e^T - poly``, so
  D (still returned, for inspection) cancels out: the deformation components' role is to
  stay out of the error list;
* *error maps*: a deformation that is not exactly in the span of the deformation
  components' T (a non-linear, head-driven bowl) leaks into the error components where it
  is large, so ``S_e`` inside deforming areas is contaminated by deformation, and removing
  it there damages the bowls (up to ~6 mm at bowl centres on the synthetic area). The error
  components' maps S_e (the error fields are spatially correlated) are therefore taken as
  they are on stable points and interpolated into the other points from the
  ``ERROR_MAP_NEIGHBOURS`` nearest stable points (inverse squared distance weights).

**With no stable area known** (``fit_mask="auto"``, the algorithm's default) the stable ground
is chosen by significance, away from moving ground, after a first correction
(:mod:`.stable_ground`); the old rule (:func:`quiet_points`, within 2 mm/yr of the median) kept
bowl fringes and biased fast points by +0.4 to +0.8 mm/yr on the urban generator. The surfaces
are fitted robustly (:func:`.polynomial.fit_epoch_polynomials_robust`).

After step 4, what is left on stable ground is error only; its screen is interpolated to every
point and removed too (:mod:`.residual_screen`, ``screen=True``).

Last, the white noise of each point that no neighbour shares is taken out (:mod:`.noise_floor`,
``noise_floor=True``): every velocity and the annual cycle stay exactly as they are, and the
velocity, its standard deviation and the residual RMS are those of the series before this step
(the noise it removes is part of the velocity's uncertainty).

**Reference** (with a stable area). ``reference="input"`` keeps the input's reference: the
removed level on stable ground (its mean removed part per date) is taken out only around its
least-squares line in time, so the regional velocity of the stable ground, as the input has it,
stays (EGMS L2b is calibrated: zeroing it would remove a real regional motion).
``reference="stable"`` makes the stable ground the zero of the result at every date.
``reference="auto"`` (default) **[choice]** keeps the input's reference unless the stable
ground's velocity in it is within ``REFERENCE_SIGNIFICANCE`` (4) standard errors of zero (the
standard error from the scatter of that level about its line): such a trend cannot be told
from the date-to-date error of the level, and keeping it biased every velocity on both
synthetic generators (-0.45 mm/yr on the urban one, seed 0). The offset (``reference_velocity
_mm_per_year``) and whether it was kept (``reference_kept``) are reported in every mode.

With ``polynomial="none"`` (no constant term to carry the level) mu is added back whole, as
METHODS says, with or without a mask.

Every removed part is kept: ``observed - corrected = error_components_mm + polynomial_mm +
reference_mm[None, :] + noise_mm`` (NaN where the input had gaps; ``noise_mm`` is None without
the noise-floor step).

Velocity (mm/yr), its standard deviation and the residual RMS come from a per-point
least-squares line through the corrected series (:func:`linear_velocity`).
"""

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .noise_floor import remove_noise_floor, start_neighbour_index
from .polynomial import POLYNOMIAL_KINDS, robust_coefficients
from .ps_ops import velocity as ps_velocity
from .psdata import years_since_first
from .removal_blocks import Deferred, Parts, deferred_fields
from .removal_inputs import (  # noqa: F401 (quiet_points and its threshold: the module's API)
    QUIET_VELOCITY_MM_PER_YEAR,
    _components,
    align_spatial,
    default_components,
    quiet_points,
)
from .residual_screen import interpolate_from_stable, screen_factors, screen_weights
from .row_blocks import in_background
from .stable_ground import SIGNIFICANCE, automatic_stable_ground

DEFORMATION_LABELS = ("deformation",)
ERROR_LABELS = ("orbital", "noise")
REFERENCES = ("auto", "input", "stable")
REFERENCE_SIGNIFICANCE = 4.0


@deferred_fields("deformation_model_mm", "error_components_mm", "polynomial_mm", "noise_mm")
@dataclass
class ErrorRemovalResult:
    """The corrected series and every part that was removed (all (m, n) mm unless said).

    Attributes:
        corrected_mm: final series (METHODS 3 step 5).
        deformation_model_mm: D, the linear deformation model (added back, not removed).
        error_components_mm: the reconstructed error components (step 3).
        polynomial_mm: the per-epoch polynomial surfaces (step 4).
        reference_mm: (n,) per-epoch level removed (mu minus the level kept, see module doc).
        velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm: (m,) per point.
        deformation_components, error_components: the 1-based component numbers used.
        polynomial: the polynomial kind; polynomial_coefficients: (n, p).
        fit_mask: (m,) bool, the points the polynomial was fitted on.
        reference: ``"input"`` or ``"stable"`` (module doc); reference_velocity_mm_per_year:
            the velocity of the removed level on stable ground (kept with ``"input"``,
            removed with ``"stable"``); NaN without a stable area.
        stable_ground: the :class:`~.stable_ground.StableGround` of ``fit_mask="auto"``, else None.
        noise_mm: the unshared white noise removed last (:mod:`.noise_floor`), or None.
    """

    corrected_mm: np.ndarray
    deformation_model_mm: np.ndarray
    error_components_mm: np.ndarray
    polynomial_mm: np.ndarray
    reference_mm: np.ndarray
    velocity_mm_per_year: np.ndarray
    velocity_std_mm_per_year: np.ndarray
    residual_rms_mm: np.ndarray
    deformation_components: list
    error_components: list
    polynomial: str
    polynomial_coefficients: np.ndarray
    fit_mask: np.ndarray
    reference: str = "input"
    reference_velocity_mm_per_year: float = float("nan")
    reference_kept: bool = False
    stable_ground: Optional[object] = None
    noise_mm: Optional[np.ndarray] = None


def linear_velocity(series_mm, dates):
    """Per-point least-squares line through a series (NaN-aware, vectorised).

    Returns ``(velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm)``, each (m,):
    slope and standard error from :func:`core.ps_ops.velocity` (``se = sqrt(RSS / (k - 2) /
    sum (t - t_mean)^2)``), and the RMS of the residuals about the line, ``sqrt(RSS / k)``
    (k observed dates; NaN with fewer than two).
    """
    return ps_velocity(series_mm, dates, residual_rms=True)


def _line_fit(values, t):
    """Least-squares straight line in ``t`` through each column of ``values`` (n, k), evaluated at t."""
    design = np.column_stack([np.ones_like(t), t])
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    return design @ coef


def _slope(values, t):
    """Least-squares slope of ``values`` (n,) in ``t`` and its standard error."""
    tc = t - t.mean()
    slope = float(tc @ values / (tc @ tc))
    resid = values - values.mean() - slope * tc
    se = float(np.sqrt(resid @ resid / max(t.size - 2, 1) / (tc @ tc)))
    return slope, se


def remove_errors(
    displacement_mm,
    decomposition,
    dates=None,
    x=None,
    y=None,
    z=None,
    ids=None,
    deformation_components: Optional[Sequence[int]] = None,
    error_components: Optional[Sequence[int]] = None,
    polynomial: str = "quadratic_elevation",
    fit_mask=None,
    progress=None,
    reference: str = "auto",
    significance: float = SIGNIFICANCE,
    screen: bool = True,
    margin_m: Optional[float] = None,
    noise_floor: bool = True,
) -> ErrorRemovalResult:
    """Hierarchical error removal, METHODS 3 steps 1-5 (see the module docstring for mu).

    Args:
        displacement_mm: (m, n) observed series X (mm, NaN gaps).
        decomposition: a :class:`~.pca.Decomposition` of X (``mean_mm``, ``spatial``, ``sigma``,
            ``temporal``, ``dates``, ``ids``, ``labels``).
        dates: (n,) dates (default: the decomposition's); must match the decomposition's.
        x, y: (m,) coordinates (metres); z: (m,) elevation (for ``quadratic_elevation``).
        ids: (m,) point ids; the decomposition's rows are matched to them (any order).
        deformation_components / error_components: 1-based component numbers; None = the
            components labelled ``deformation`` / ``orbital`` or ``noise``.
        polynomial: one of ``none``, ``plane``, ``quadratic``, ``quadratic_elevation``.
        fit_mask: (m,) bool, a stable area: points to fit the polynomial on (and the reference
            of the result); ``"auto"`` = chosen by significance (:mod:`.stable_ground`, with
            ``significance`` and ``margin_m``); None = fit on all points, keep mu's linear
            trend (Chen et al. 2023 literally).
        reference: ``"auto"`` (default: keep the input's reference unless the stable
            ground's velocity in it is within ``REFERENCE_SIGNIFICANCE`` standard errors of 0),
            ``"input"`` (always keep it) or ``"stable"`` (zero on the stable area); used with a
            stable area (module doc).
        screen: with a stable area, also remove the residual error screen interpolated from
            stable ground (:mod:`.residual_screen`).
        noise_floor: last, remove each point's white noise that its neighbours do not share
            (:mod:`.noise_floor`; velocities unchanged); False gives the series without it.
        progress: optional ``progress(fraction, message=None)``.
    """
    if hasattr(displacement_mm, "dask"):  # block by block, locally or on a cluster
        from .distributed_errors import remove_errors_dask

        return remove_errors_dask(
            displacement_mm, decomposition, dates, x, y, z, ids, deformation_components, error_components,
            polynomial, fit_mask, progress, reference, significance, screen, margin_m, noise_floor,
        )
    x_obs = np.asarray(displacement_mm, dtype=np.float64)
    if x_obs.ndim != 2:
        raise ValueError(f"displacement_mm: expected an (points x dates) matrix, got shape {x_obs.shape}")
    m, n = x_obs.shape
    if polynomial not in POLYNOMIAL_KINDS:
        raise ValueError(f"polynomial: expected one of {', '.join(POLYNOMIAL_KINDS)}, got {polynomial!r}")
    temporal = np.asarray(decomposition.temporal, dtype=np.float64)
    sigma = np.asarray(decomposition.sigma, dtype=np.float64)
    mean_mm = np.asarray(decomposition.mean_mm, dtype=np.float64)
    if temporal.shape[0] != n or mean_mm.shape != (n,):
        raise ValueError(f"decomposition: it has {temporal.shape[0]} dates, the series {n}")
    if dates is None:
        dates = decomposition.dates
    dates = np.asarray(dates, dtype="datetime64[D]")
    dec_dates = getattr(decomposition, "dates", None)
    if dec_dates is not None and not np.array_equal(np.asarray(dec_dates, dtype="datetime64[D]"), dates):
        raise ValueError("dates: the decomposition's dates differ from the series' dates")
    spatial = align_spatial(decomposition, ids)
    if spatial.shape[0] != m:
        raise ValueError(f"decomposition: it has {spatial.shape[0]} points, the series {m}")
    k = sigma.size
    labels = list(getattr(decomposition, "labels", None) or [])
    if deformation_components is None:
        deformation_components = default_components(labels, DEFORMATION_LABELS)
    if error_components is None:
        error_components = default_components(labels, ERROR_LABELS)
    deformation_components = _components(deformation_components, k, "deformation_components")
    error_components = _components(error_components, k, "error_components")
    both = sorted(set(deformation_components) & set(error_components))
    if both:
        raise ValueError(f"error_components: component(s) {both} are also listed as deformation")
    if reference not in REFERENCES:
        raise ValueError(f"reference: expected one of {', '.join(REFERENCES)}, got {reference!r}")
    floor_on = noise_floor and x is not None and y is not None
    neighbours = start_neighbour_index(x, y) if floor_on else None  # runs while the surfaces are fitted
    ground = None
    if isinstance(fit_mask, str):
        if fit_mask != "auto":
            raise ValueError(f"fit_mask: expected None, 'auto' or one value per point, got {fit_mask!r}")
        if x is None or y is None:
            raise ValueError("x, y: coordinates are needed to find the stable ground")
        ground = automatic_stable_ground(x_obs, dates, x, y, z, polynomial, significance, margin_m)
        fit_mask = ground.mask if ground.usable else None
    stable_reference = fit_mask is not None
    fit_mask = np.ones(m, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if fit_mask.shape != (m,):
        raise ValueError(f"fit_mask: expected {m} values (one per point), got shape {fit_mask.shape}")
    if not fit_mask.any():
        raise ValueError("fit_mask: no point is selected to fit the polynomial on")

    screen_on = stable_reference and screen and polynomial != "none"
    weights = in_background(screen_weights, x, y, fit_mask) if screen_on else None  # x, y only
    t = years_since_first(dates)
    d_idx = np.asarray(deformation_components, dtype=int) - 1
    e_idx = np.asarray(error_components, dtype=int) - 1
    # Steps 1-2: linear temporal functions of the deformation components.
    deformation = None
    if d_idx.size:
        deformation = (spatial[:, d_idx] * sigma[d_idx], _line_fit(temporal[:, d_idx], t).T)
    if progress is not None:
        progress(0.2, "deformation model built")
    # Step 3: error components with their own temporal functions.
    errors = None
    if e_idx.size:
        error_maps = spatial[:, e_idx] * sigma[e_idx]
        if stable_reference:
            # Own maps wherever nothing moves significantly (auto: more than the fit points).
            own = fit_mask | ~ground.moving if ground is not None else fit_mask
            error_maps = interpolate_from_stable(error_maps, x, y, own)
        errors = (error_maps, temporal[:, e_idx].T)
    if progress is not None:
        progress(0.4, "error components reconstructed")
    # The (m, n) parts are built block by block from these factors (core/removal_blocks.py).
    parts = Parts(x_obs, mean_mm, deformation, errors, not stable_reference)
    # Step 4: per-epoch polynomial on the fit points (with a mask: on R2 + D, module doc).
    fit_rows = np.flatnonzero(fit_mask)
    residual, gaps = parts.fit_residual(fit_rows)
    sub = None if progress is None else (lambda f, msg=None: progress(0.4 + 0.4 * f, msg))
    coefficients = np.zeros((n, 0))
    if polynomial != "none":
        fit = robust_coefficients(residual, gaps, x, y, z, polynomial, fit_mask, sub)
        parts.design, coefficients = fit[:2]
        parts.coefficients = coefficients
        parts.remove_polynomial(residual, gaps, fit_rows)
    level_velocity, kept = float("nan"), False
    if screen_on:
        # What is left on stable ground is error only: its screen is removed too (residual_screen).
        parts.screen = screen_factors(residual, x, y, fit_mask, weights=weights)[:3]
    del residual, gaps
    # Step 5: the deformation model back, at the reference level (module doc).
    if stable_reference:
        # The removed level on stable ground: mu + the mean removed part over the fit points.
        level = mean_mm + parts.mean_removed(fit_rows)
        level_velocity, level_se = _slope(level, t)
        significant = abs(level_velocity) > REFERENCE_SIGNIFICANCE * level_se
        kept = reference == "input" or (reference == "auto" and significant)
    if polynomial == "none":
        offset = mean_mm.copy()
    elif stable_reference:
        offset = level_velocity * t if kept else np.zeros(n)
    else:
        offset = _line_fit(mean_mm[:, None], t)[:, 0]
    corrected, velocity, velocity_std, rms = parts.corrected(offset, dates)
    noise = None
    if floor_on:  # velocity and its error stay (noise_floor)
        floor = remove_noise_floor(corrected, dates, x, y, index=neighbours)
        if floor.applied:  # what it removed is built when read
            corrected, noise = floor.series_mm, Deferred(lambda: floor.noise_mm)
    if progress is not None:
        progress(1.0, "velocities estimated")
    return ErrorRemovalResult(
        corrected_mm=corrected,
        deformation_model_mm=Deferred(parts.deformation),
        error_components_mm=Deferred(parts.errors),
        polynomial_mm=Deferred(parts.surface),
        reference_mm=mean_mm - offset,
        velocity_mm_per_year=velocity,
        velocity_std_mm_per_year=velocity_std,
        residual_rms_mm=rms,
        deformation_components=deformation_components,
        error_components=error_components,
        polynomial=polynomial,
        polynomial_coefficients=coefficients,
        fit_mask=fit_mask,
        reference=reference,
        reference_velocity_mm_per_year=level_velocity,
        reference_kept=bool(kept),
        stable_ground=ground,
        noise_mm=noise,
    )
