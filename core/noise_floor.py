"""The white-noise floor of the corrected series, taken out where no neighbour shares it (issue 8).

After the hierarchical removal (METHODS 3 steps 1-5) what is left on stable ground is mostly
the white noise of each scatterer, independent from point to point and date to date: on the
urban generator of METHODS 6 it sets a floor (~1.3 mm) that no spatial error model removes,
while a spatio-temporal filter gets under it by smoothing each series in time, at the price
of the deformation's own shape (its error at bowl centres doubles).

**[choice]** A noise-floor step that removes white noise without smoothing any signal that
stands above it, measured on both generators (bench/bench_error_removal_truth.py):

1. each series is split, over dates 2..n (the first date is the reference of the series and is
   kept as it is), into its least-squares fit on ``FIXED``: ``1, t, sin 2 pi t, cos 2 pi t``
   (t in years) and the rest ``Y``. The fixed part is always kept, so **every velocity is
   unchanged exactly** and the annual (seasonal) cycle is never touched;
2. the temporal modes ``V`` of ``Y`` (eigenvectors of ``Y^T Y``, the PCA of the rest, strongest
   first, at most ``MAX_MODES``) and each point's coefficients ``c_ik = Y_i . V_k``;
3. each point's noise variance ``s_i^2``: the energy of ``Y_i`` outside the kept modes per
   remaining degree of freedom (or the median of ``c_ik^2`` / 0.455, the median of a chi-square
   with one degree of freedom, when every mode is kept);
4. a coefficient is signal where the point's ``neighbours`` nearest points (itself included)
   share it: the local energy ``E_ik = mean_j c_jk^2 / s_j^2`` is 1 for white noise and grows
   with a shared signal. Each coefficient is shrunk by the positive-part Wiener (James-Stein)
   gain ``max(0, 1 - 1 / E_ik)``. A deformation shape shared by a bowl's points, a turbulent
   screen shared by a district, is kept (gain near 1); the noise of each point is taken out
   (gain near 0), and the modes beyond ``MAX_MODES`` (the weakest) are taken out entirely;
5. series with gaps are worked on with their gaps interpolated; the values at the gaps stay
   NaN and a straight line (zero at the first date) restores their least-squares line.

The removed part is returned (``noise_mm``) so the user can see it. With
``remove_errors(noise_floor=False)`` the series are those of the method without this step,
bit for bit.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .pca_imputation import _interpolate_gaps
from .psdata import years_since_first

NEIGHBOURS = 16
MAX_MODES = 40
MIN_DATES = 10
CHI2_1_MEDIAN = 0.454936
BLOCK_ROWS = 8192


@dataclass
class NoiseFloor:
    """The series without their unshared white noise, and what was taken out (module doc).

    Attributes:
        series_mm: (m, n) the series after the step (NaN where the input is NaN).
        noise_mm: (m, n) what was removed (input - output).
        n_modes: temporal modes worked on; mean_gain: mean kept share of their coefficients.
        applied: False when the series are too short (fewer than ``MIN_DATES`` dates) or too few
            points to tell shared from unshared: then nothing is removed.
    """

    series_mm: np.ndarray
    noise_mm: np.ndarray
    n_modes: int
    mean_gain: float
    applied: bool = True


def _fixed_basis(t):
    annual = 2.0 * np.pi * t
    design = np.column_stack([np.ones_like(t), t, np.sin(annual), np.cos(annual)])
    return np.linalg.qr(design)[0]


def _restore_lines(series, out, t):
    """Add to ``out`` (dates 2..n only) the line that gives each row the LSQ line of ``series``."""
    obs = ~np.isnan(series)
    diff = np.where(obs, series - out, 0.0)
    w = obs.astype(np.float64)
    w[:, 0] = 0.0  # the correction is zero at the reference date
    # Normal equations of diff ~ (a + b t) * w over the observed dates, per row; the first date's
    # diff is 0, so the fitted line of the corrected diff over every observed date vanishes.
    tw = w * t[None, :]
    s0, s1, s2 = w.sum(axis=1), tw.sum(axis=1), (tw * t[None, :]).sum(axis=1)
    r0, r1 = diff.sum(axis=1), (diff * t[None, :]).sum(axis=1)
    # Rows with their first date observed need the line through all observed dates to match:
    # sum_j obs_j (diff_j - c_j) = 0 and sum_j obs_j t_j (diff_j - c_j) = 0 with c_j = w_j (a + b t_j).
    det = s0 * s2 - s1 * s1
    ok = det > 1e-12 * np.maximum(s0 * s2, 1e-300)
    a = np.where(ok, (r0 * s2 - r1 * s1) / np.where(ok, det, 1.0), 0.0)
    b = np.where(ok, (s0 * r1 - s1 * r0) / np.where(ok, det, 1.0), 0.0)
    out += w * (a[:, None] + b[:, None] * t[None, :])
    return out


def _rest(series, t, q):
    """Dates 2..n of ``series`` (gaps interpolated) minus their least-squares fit on ``FIXED``."""
    rest = np.array(series[:, 1:], dtype=np.float64, order="C")
    missing = np.isnan(rest)
    rows = np.flatnonzero(missing.any(axis=1) & ~missing.all(axis=1))
    if rows.size:
        rest[rows] = _interpolate_gaps(np.ascontiguousarray(rest[rows]), t[1:])
    rest = np.nan_to_num(rest, nan=0.0)  # rows with no value after the first date
    rest -= (rest @ q) @ q.T
    return rest


def _noise_variance(rest, coef, n_free):
    """Per point: the energy outside the kept modes per degree of freedom (module doc, 3)."""
    r = coef.shape[1]
    if r < n_free:
        outside = np.einsum("ij,ij->i", rest, rest) - np.einsum("ij,ij->i", coef, coef)
        return np.maximum(outside, 0.0) / (n_free - r)
    return np.median(coef**2, axis=1) / CHI2_1_MEDIAN


def _gains(scaled, x, y, neighbours):
    """Positive-part Wiener gains from the neighbourhood mean of ``scaled`` (m, r) (module doc, 4)."""
    m = scaled.shape[0]
    xy = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    count = int(min(neighbours, m))
    index = cKDTree(xy).query(xy, k=count)[1].reshape(m, count)
    local = np.zeros_like(scaled)
    for j in range(count):
        local += scaled[index[:, j]]
    local /= count
    with np.errstate(divide="ignore"):
        return np.clip(1.0 - 1.0 / local, 0.0, 1.0)


def _apply(series, rest, coef, gain, modes, t):
    """The series with their rest replaced by the shrunk coefficients (module doc, 4-5)."""
    series = np.asarray(series, dtype=np.float64)
    out = series.copy()
    out[:, 1:] -= rest - (gain * coef) @ modes.T
    missing = np.isnan(series)
    out[missing] = np.nan
    gapped = np.flatnonzero(missing.any(axis=1))
    if gapped.size:
        out[gapped] = _restore_lines(series[gapped], out[gapped], t)
        out[missing] = np.nan
    return out


def _modes(gram, n_free, max_modes):
    r = int(min(max_modes, n_free))
    return np.linalg.eigh(gram)[1][:, ::-1][:, :r]


def _skip(m, n, neighbours):
    return n < MIN_DATES or n - 5 < 2 or m < 2 * max(int(neighbours), 2)


def remove_noise_floor(series_mm, dates, x, y, neighbours=NEIGHBOURS, max_modes=MAX_MODES) -> NoiseFloor:
    """The series without the white noise that no neighbour shares (module doc).

    Args:
        series_mm: (m, n) corrected series, mm (NaN gaps); the first date is the reference.
        dates: (n,) dates; x, y: (m,) metres.
        neighbours: points (the point itself included) whose shared energy tells signal from noise.
        max_modes: temporal modes worked on (the weaker ones are removed entirely).
    """
    series = np.asarray(series_mm, dtype=np.float64)
    m, n = series.shape
    if _skip(m, n, neighbours):
        return NoiseFloor(series.copy(), np.zeros_like(series), 0, 1.0, applied=False)
    t = years_since_first(dates)
    rest = _rest(series, t, _fixed_basis(t[1:]))
    gram = np.zeros((n - 1, n - 1))
    for start in range(0, m, BLOCK_ROWS):
        block = rest[start:start + BLOCK_ROWS]
        gram += block.T @ block
    modes = _modes(gram, n - 5, max_modes)
    coef = rest @ modes
    noise_var = _noise_variance(rest, coef, n - 5)
    floor = max(float(np.median(noise_var)) * 1e-6, 1e-12)
    gain = _gains(coef**2 / np.maximum(noise_var, floor)[:, None], x, y, neighbours)
    out = _apply(series, rest, coef, gain, modes, t)
    return NoiseFloor(out, series - out, modes.shape[1], float(gain.mean()))


def remove_noise_floor_dask(series, dates, x, y, neighbours=NEIGHBOURS, max_modes=MAX_MODES):
    """:func:`remove_noise_floor` of a dask (m, n) array: ``(series, noise)`` lazily, or
    ``(series, None)`` when the step does not apply. The Gram matrix is summed block by block;
    the scaled coefficients (m x ``max_modes``, 8 bytes each) are gathered for the neighbour
    sums, the rest stays lazy."""
    import dask.array as da

    m, n = series.shape
    if _skip(m, n, neighbours):
        return series, None
    t = years_since_first(dates)
    q = _fixed_basis(t[1:])
    chunks = (series.chunks[0], (n - 1,))
    rest = da.map_blocks(_rest, series, t, q, dtype=np.float64, chunks=chunks)
    modes = _modes(np.asarray(da.compute(rest.T @ rest)[0]), n - 5, max_modes)
    coef = rest @ modes
    noise_var = da.map_blocks(_noise_variance, rest, coef, n - 5, dtype=np.float64, drop_axis=1)
    noise_var, scaled = da.compute(noise_var, coef**2)
    floor = max(float(np.median(noise_var)) * 1e-6, 1e-12)
    scaled /= np.maximum(noise_var, floor)[:, None]
    gain = _gains(scaled, np.asarray(x), np.asarray(y), neighbours)
    gain = da.from_array(gain, chunks=(series.chunks[0], (modes.shape[1],)))
    out = da.map_blocks(_apply, series, rest, coef, gain, modes, t, dtype=np.float64)
    return out, series - out
