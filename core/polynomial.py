"""Per-epoch polynomial surfaces fitted by least squares (METHODS.md section 3, step 4).

For every epoch j the residual signal ``R2[:, j]`` is fitted over the fit points by

    phi_ij = a x_i + b y_i + c x_i y_i + d x_i^2 + e y_i^2 + f z_i + g z_i^2 + h

(seed 003, eq. 5) and the fitted surface is evaluated at every point so it can be removed.
**[choice]** (METHODS 3.4) the caller picks the terms (``none`` / ``plane`` / ``quadratic`` /
``quadratic_elevation``) and a mask of points to fit on (a stable area), since fitting on a
deforming area eats signal. x, y and z are centred and scaled by the fit points' mean and
standard deviation so the normal equations stay well conditioned.

All epochs share one design matrix A (factorised once, to check that the fit points
determine the surface). Every epoch is solved from the normal equations of its observed rows,
``(A^T A - A_gap^T A_gap) c = A^T r`` (r zero at the gaps), all epochs together: ``A^T r`` is
one product with many right-hand sides and the n small systems one batched solve. The
downdate of date j is ``A_j^T A_j`` over its own gap rows (a few % of the cells); the scaled
coordinates keep the small (p <= 8) systems well conditioned.
**[measured]** 200k x 150, half the points as fit points, 2 % gaps: 1.1-1.4 s -> 0.45 s CPU (the
per-epoch loop with its masked copies was most of it); coefficients equal to the per-epoch
least squares to ~1e-12 relative. The robust fit of :func:`core.error_removal.remove_errors`
gets the fit rows only, zero-filled once with their gap mask (:func:`robust_coefficients`):
no copy per fit, downdates from the gap cells, 1.9 -> ~1.0 s CPU at 200k x 150 (issue 8).
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

POLYNOMIAL_TERMS = {
    "none": (),
    "plane": ("h", "x", "y"),
    "quadratic": ("h", "x", "y", "xy", "x2", "y2"),
    "quadratic_elevation": ("h", "x", "y", "xy", "x2", "y2", "z", "z2"),
}
POLYNOMIAL_KINDS = tuple(POLYNOMIAL_TERMS)
FIT_BLOCK_ROWS = 8192
ROBUST_CUTOFF = 4.0


@dataclass
class PolynomialFit:
    """The fitted per-epoch surfaces.

    Attributes:
        kind: one of :data:`POLYNOMIAL_KINDS`.
        terms: names of the design-matrix columns (``h`` is the constant).
        coefficients: (n, p) coefficients per epoch, in the scaled coordinates.
        surface_mm: (m, n) the fitted surface at every point (zeros for ``none``).
        fit_mask: (m,) bool, the points the surfaces were fitted on.
    """

    kind: str
    terms: Tuple[str, ...]
    coefficients: np.ndarray
    surface_mm: np.ndarray
    fit_mask: np.ndarray


def _scaled(values, fit_mask, name):
    values = np.asarray(values, dtype=np.float64)
    ref = values[fit_mask]
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"{name}: the fit points must have finite {name} values (found NaN/inf)")
    spread = ref.std()
    if spread == 0:
        raise ValueError(f"{name}: constant over the fit points, so its terms cannot be fitted")
    return (values - ref.mean()) / spread


def elevation_problem(z) -> Optional[str]:
    """Why ``z`` cannot carry the elevation terms (f z + g z^2), or None when it can.

    The callers then fit the quadratic surface without them and say so (real exports have no
    elevation field, or one with gaps: the defaults must still run).
    """
    if z is None:
        return "no elevation field or DEM"
    z = np.asarray(z, dtype=np.float64)
    finite = np.isfinite(z)
    if not finite.any():
        return "the elevation has no value"
    if not finite.all():
        return f"the elevation is missing at {int((~finite).sum())} of {z.size} points"
    if np.ptp(z) == 0:
        return f"the elevation is the same ({z[0]:g} m) at every point"
    return None


def design_matrix(x, y, z=None, kind="quadratic_elevation", fit_mask=None) -> np.ndarray:
    """The (m, p) design matrix of METHODS 3 step 4 for ``kind`` (columns as :data:`POLYNOMIAL_TERMS`).

    Coordinates are centred and scaled over the points of ``fit_mask`` (all points if None).
    """
    if kind not in POLYNOMIAL_TERMS:
        raise ValueError(f"polynomial: expected one of {', '.join(POLYNOMIAL_KINDS)}, got {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    fit_mask = np.ones(m, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    terms = POLYNOMIAL_TERMS[kind]
    if not terms:
        return np.zeros((m, 0))
    xs = _scaled(x, fit_mask, "x")
    ys = _scaled(y, fit_mask, "y")
    columns = {"h": np.ones(m), "x": xs, "y": ys}
    if "xy" in terms:
        columns.update(xy=xs * ys, x2=xs**2, y2=ys**2)
    if "z" in terms:
        if z is None:
            raise ValueError("z: the quadratic_elevation polynomial needs an elevation per point")
        zs = _scaled(z, fit_mask, "z")
        columns.update(z=zs, z2=zs**2)
    return np.column_stack([columns[t] for t in terms])


def _solve_epochs(a_fit, residual_mm, fit_rows, kind, progress=None, gaps=None):
    """(n, p) least-squares coefficients of every epoch over its observed fit rows (module doc).

    ``a_fit``: the design rows of the fit points; ``fit_rows``: their rows in ``residual_mm``
    (None: all its rows, in order). ``gaps``: None when ``residual_mm`` has NaN at its gaps;
    else the (rows, n) gap mask of ``residual_mm``, whose gaps are then already zeros
    (:func:`_normal_equations_zeroed`). Then all the small (p x p) systems in one batched solve.
    """
    n = residual_mm.shape[1]
    count, p = a_fit.shape
    r = np.linalg.qr(a_fit, mode="r")
    if np.min(np.abs(np.diag(r))) < 1e-10 * np.max(np.abs(np.diag(r))):
        raise ValueError(f"fit_mask: the fit points do not determine the {kind} polynomial")
    gram = a_fit.T @ a_fit
    if gaps is None:
        rhs, downdate, n_gaps = _normal_equations(a_fit, residual_mm, fit_rows)
    else:
        rhs, downdate, n_gaps = _normal_equations_zeroed(a_fit, residual_mm, fit_rows, gaps)
    n_obs = count - n_gaps
    if np.any(n_obs < p):
        j = int(np.flatnonzero(n_obs < p)[0])
        raise ValueError(
            f"residual_mm: epoch {j} has only {int(n_obs[j])} observed fit points, "
            f"fewer than the {p} terms of the {kind} polynomial"
        )
    grams = gram[None, :, :] - downdate.reshape(n, p, p)
    try:
        coefficients = np.linalg.solve(grams, rhs.T[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        coefficients = np.empty((n, p))
        rows = np.arange(count) if fit_rows is None else fit_rows
        for j in range(n):
            values = residual_mm[rows, j]
            observed = ~np.isnan(values) if gaps is None else ~gaps[rows, j]
            coefficients[j] = np.linalg.lstsq(a_fit[observed], values[observed], rcond=None)[0]
    if progress is not None:
        progress(0.5)
    return coefficients


def _normal_equations(a_fit, residual_mm, fit_rows):
    """``A^T r`` (r zero at the gaps), the per-epoch Gram downdates of the gap rows and the gap
    counts: one streamed pass over the fit rows in blocks of ``FIT_BLOCK_ROWS``, the downdates of
    all epochs as one product ``gaps^T (a_i a_i^T)`` per block."""
    n = residual_mm.shape[1]
    count, p = a_fit.shape
    rhs = np.zeros((p, n))
    downdate = np.zeros((n, p * p))
    n_gaps = np.zeros(n, dtype=np.int64)
    for start in range(0, count, FIT_BLOCK_ROWS):
        rows = fit_rows[start : start + FIT_BLOCK_ROWS]
        block = residual_mm[rows]  # a copy: the gaps are zeroed in place
        a = a_fit[start : start + FIT_BLOCK_ROWS]
        gaps = np.isnan(block)
        if gaps.any():
            block[gaps] = 0.0
            outer = (a[:, :, None] * a[:, None, :]).reshape(rows.size, p * p)
            downdate += gaps.T.astype(np.float64) @ outer
            n_gaps += gaps.sum(axis=0)
        rhs += a.T @ block
    return rhs, downdate, n_gaps


def _normal_equations_zeroed(a_fit, residual_mm, fit_rows, gaps):
    """:func:`_normal_equations` of a residual already zero at its ``gaps``: no copy of it.

    ``A^T r`` over all its rows in blocks, with zero design rows for the rows not fitted; the
    downdate of epoch j is ``A_j^T A_j`` over its gap rows only (2 % of the cells, not a
    product with the whole gap mask).
    """
    rows_all, n = residual_mm.shape
    count, p = a_fit.shape
    if fit_rows is None:
        design, mask = a_fit, gaps
    else:
        design = np.zeros((rows_all, p))
        design[fit_rows] = a_fit
        mask = gaps[fit_rows]
    rhs = np.zeros((p, n))
    for start in range(0, rows_all, FIT_BLOCK_ROWS):
        rhs += design[start : start + FIT_BLOCK_ROWS].T @ residual_mm[start : start + FIT_BLOCK_ROWS]
    flat = np.flatnonzero(mask)
    order = np.argsort(flat % n, kind="stable")  # by date, then row
    rows, dates = flat[order] // n, flat[order] % n
    n_gaps = np.bincount(dates, minlength=n).astype(np.int64)
    ends = np.cumsum(n_gaps)
    downdate = np.zeros((n, p * p))
    for j in np.flatnonzero(n_gaps):
        a = a_fit[rows[ends[j] - n_gaps[j] : ends[j]]]
        downdate[j] = (a.T @ a).ravel()
    return rhs, downdate, n_gaps


def fit_epoch_polynomials(
    residual_mm, x, y, z=None, kind="quadratic_elevation", fit_mask=None, progress=None
) -> PolynomialFit:
    """Fit and evaluate one polynomial surface per epoch (METHODS 3 step 4, seed 003 eq. 5).

    Args:
        residual_mm: (m, n) signal to fit, NaN for gaps (gaps are left out of the fit; the
            surface is still evaluated there).
        x, y: (m,) coordinates in metres; z: (m,) elevation (needed for ``quadratic_elevation``).
        kind: see :data:`POLYNOMIAL_KINDS`.
        fit_mask: (m,) bool, points to fit on (None = all points).
        progress: optional ``progress(fraction, message=None)``.

    Returns:
        :class:`PolynomialFit`; subtract ``surface_mm`` to remove the fitted errors.
    """
    if hasattr(residual_mm, "dask"):  # normal equations summed over blocks (core/distributed_errors.py)
        from .distributed_errors import fit_polynomials_dask

        return fit_polynomials_dask(residual_mm, x, y, z, kind, fit_mask, progress)
    residual_mm = np.asarray(residual_mm, dtype=np.float64)
    if residual_mm.ndim != 2:
        raise ValueError(f"residual_mm: expected an (points x dates) matrix, got shape {residual_mm.shape}")
    m, n = residual_mm.shape
    fit_mask = np.ones(m, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if fit_mask.shape != (m,):
        raise ValueError(f"fit_mask: expected {m} values (one per point), got shape {fit_mask.shape}")
    terms = POLYNOMIAL_TERMS.get(kind)
    if terms is None:
        raise ValueError(f"polynomial: expected one of {', '.join(POLYNOMIAL_KINDS)}, got {kind!r}")
    if not terms:
        return PolynomialFit(kind, (), np.zeros((n, 0)), np.zeros((m, n)), fit_mask)
    p = len(terms)
    if fit_mask.sum() < p:
        raise ValueError(
            f"fit_mask: {int(fit_mask.sum())} fit points cannot determine "
            f"the {p} terms of the {kind} polynomial"
        )
    design = design_matrix(x, y, z, kind, fit_mask)
    rows = np.flatnonzero(fit_mask)
    coefficients = _solve_epochs(design[rows], residual_mm, rows, kind, progress)
    surface = design @ coefficients.T
    if progress is not None:
        progress(1.0)
    return PolynomialFit(kind, terms, coefficients, surface, fit_mask)


def fit_epoch_polynomials_robust(residual_mm, x, y, z=None, kind="quadratic_elevation", fit_mask=None,
                                 progress=None, cutoff=ROBUST_CUTOFF) -> PolynomialFit:
    """:func:`fit_epoch_polynomials`, fitted again without the fit points it fits worst.

    **[choice]** A first fit on the fit points only (no surface over all points, so cheap); a
    fit point whose residual RMS over the dates exceeds ``cutoff`` times the median RMS of the
    fit points (1.4826 x MAD above it: an unstable scatterer, a motion the stable ground should
    not hold) is left out, and the surfaces are fitted again. Rejecting whole points keeps the
    shared QR solve (rejecting single values would make every date its own solve).
    """
    residual_mm = np.asarray(residual_mm, dtype=np.float64)
    m = residual_mm.shape[0]
    mask = np.ones(m, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if not POLYNOMIAL_TERMS.get(kind) or mask.shape != (m,) or mask.sum() <= 2 * len(POLYNOMIAL_TERMS[kind]):
        return fit_epoch_polynomials(residual_mm, x, y, z, kind, fit_mask, progress=progress)
    residual_fit = residual_mm[mask]
    gaps = np.isnan(residual_fit)
    residual_fit[gaps] = 0.0
    design, coefficients, mask = robust_coefficients(residual_fit, gaps, x, y, z, kind, mask, progress,
                                                     cutoff)
    surface = design @ coefficients.T
    if progress is not None:
        progress(1.0)
    return PolynomialFit(kind, POLYNOMIAL_TERMS[kind], coefficients, surface, mask)


def robust_coefficients(residual_fit, gaps, x, y, z, kind, fit_mask, progress=None, cutoff=ROBUST_CUTOFF):
    """The fit of :func:`fit_epoch_polynomials_robust` from the rows of its fit points only.

    ``residual_fit``: (fit_mask.sum(), n), the residual at the fit points in row order, with
    zeros at its gaps, and ``gaps`` their mask. The other points' rows are never needed (the
    caller evaluates ``design @ coefficients.T`` where it wants the surface, e.g. block by
    block). Returns ``(design, coefficients, mask)``: the (m, p) design matrix over all points,
    the (n, p) coefficients and the (m,) points finally fitted on.
    """
    terms = POLYNOMIAL_TERMS[kind]
    p = len(terms)
    mask = np.asarray(fit_mask, dtype=bool)
    pick = np.flatnonzero(mask)
    if not terms:
        return np.zeros((mask.size, 0)), np.zeros((residual_fit.shape[1], 0)), mask
    local = None
    if pick.size < p:
        raise ValueError(
            f"fit_mask: {int(pick.size)} fit points cannot determine the {p} terms of the {kind} polynomial"
        )
    if pick.size > 2 * p:
        zs = None if z is None else np.asarray(z, dtype=np.float64)[pick]
        xs, ys = np.asarray(x, dtype=np.float64)[pick], np.asarray(y, dtype=np.float64)[pick]
        first = design_matrix(xs, ys, zs, kind)
        rms = _row_rms(residual_fit, gaps, first, _solve_epochs(first, residual_fit, None, kind, gaps=gaps))
        centre = np.nanmedian(rms)
        scale = 1.4826 * np.nanmedian(np.abs(rms - centre))
        bad = ~(rms <= centre + cutoff * max(scale, 1e-9))
        if bad.any() and (~bad).sum() > 2 * p:
            mask = mask.copy()
            mask[pick[bad]] = False
            local = np.flatnonzero(~bad)
    design = design_matrix(x, y, z, kind, mask)
    a_fit = design[pick if local is None else pick[local]]
    coefficients = _solve_epochs(a_fit, residual_fit, local, kind, progress, gaps=gaps)
    return design, coefficients, mask


def _row_rms(residual, gaps, design, coefficients):
    """Per row, the RMS over its observed dates of ``residual - design @ coefficients.T``, in row blocks."""
    out = np.empty(residual.shape[0])
    for start in range(0, residual.shape[0], FIT_BLOCK_ROWS):
        rows = slice(start, start + FIT_BLOCK_ROWS)
        diff = residual[rows] - design[rows] @ coefficients.T
        np.square(diff, out=diff)
        diff[gaps[rows]] = 0.0
        count = diff.shape[1] - gaps[rows].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = np.sqrt(diff.sum(axis=1) / count)
    return out
