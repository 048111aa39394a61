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

Cost **[choice]**: the modes come from the Gram matrix of at most ``GRAM_MAX_ROWS`` evenly
spaced rows (a basis: thousands of series give it as well as millions); the rest works on row
blocks of ``BLOCK_ROWS``, two passes (coefficients, then the series), so no (m, n) temporary is
kept but the output (the products are multi-threaded by BLAS already: threads over the blocks
were slower on two shared cores). Every product goes through BLAS (C-ordered modes, no
3-operand einsum): 200k x 150 takes ~3.5-5 s on two shared cores (bench/bench_error_removal.py),
from ~8 s before. ``NEIGHBOURS`` = 12: 16 lowered the urban generator's
stable-area RMS by another 0.01-0.02 mm for a third more time in the neighbour search.

The removed part is returned (``noise_mm``) so the user can see it. With
``remove_errors(noise_floor=False)`` the series are those of the method without this step,
bit for bit.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from .pca_imputation import _interpolate_gaps
from .psdata import years_since_first
from .removal_blocks import Deferred, deferred_fields
from .row_blocks import in_background, map_row_blocks

NEIGHBOURS = 12
MAX_MODES = 40
MIN_DATES = 10
CHI2_1_MEDIAN = 0.454936
BLOCK_ROWS = 4096
GRAM_MAX_ROWS = 20_000


@deferred_fields("noise_mm")
@dataclass
class NoiseFloor:
    """The series without their unshared white noise, and what was taken out (module doc).

    Attributes:
        series_mm: (m, n) the series after the step (NaN where the input is NaN).
        noise_mm: (m, n) what was removed (input - output), built when first read.
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
    """Add to the rows of ``out`` whose ``series`` has gaps the line, zero at the first date, that
    gives them the least-squares line of ``series`` over its observed dates (both (r, n), NaN
    gaps in ``series``, none in ``out``); then NaN where ``series`` is."""
    missing = np.isnan(series)
    gapped = missing.any(axis=1)
    count = np.count_nonzero(gapped)
    if 2 * count >= gapped.size:  # mostly gapped rows: the block at once, a = b = 0 elsewhere
        return _add_lines(series, out, missing, t, gapped)
    if count:  # a few: those rows alone
        rows = np.flatnonzero(gapped)
        out[rows] = _add_lines(series[rows], out[rows], missing[rows], t)
    return out


def _add_lines(series, out, missing, t, gapped=None):
    """:func:`_restore_lines` on rows with gaps (or, with ``gapped``, on those rows of a block)."""
    w = (~missing).astype(np.float64)
    w[:, 0] = 0.0  # the reference date is kept: its difference is 0
    diff = series - out
    diff[missing] = 0.0
    diff[:, 0] = 0.0
    # With c_j = w_j (a + b t_j): sum_obs (diff - c) = 0 and sum_obs t (diff - c) = 0, the normal
    # equations of a line, so the line of (series - out - c) over the observed dates vanishes.
    powers = np.column_stack([np.ones_like(t), t, t * t])
    (s0, s1, s2), (r0, r1) = (w @ powers).T, (diff @ powers[:, :2]).T
    det = s0 * s2 - s1 * s1
    ok = det > 1e-12 * np.maximum(s0 * s2, 1e-300)
    if gapped is not None:
        ok &= gapped
    det = np.where(ok, det, 1.0)
    a = np.where(ok, (r0 * s2 - r1 * s1) / det, 0.0)
    b = np.where(ok, (s0 * r1 - s1 * r0) / det, 0.0)
    out[:, 1:] += np.column_stack([a, b]) @ powers[1:, :2].T  # c_j: w_j = 1 but at the gaps,
    out[missing] = np.nan  # which are NaN
    return out


def _rest(series, t, q):
    """Dates 2..n of ``series`` (gaps interpolated) minus their least-squares fit on ``FIXED``,
    and the fit's coefficients: ``(rest, fixed)``."""
    rest = np.array(series[:, 1:], dtype=np.float64, order="C")
    missing = np.isnan(rest)
    if missing.any():
        empty = missing.all(axis=1)
        rest[empty] = 0.0  # rows with no value after the first date
        missing[empty] = False
        _fill_gaps(rest, missing, t[1:], q)
    fixed = rest @ q
    rest -= fixed @ q.T
    return rest, fixed


def _fill_gaps(rows, missing, t, q):
    """Gaps filled in place by linear interpolation inside the observed span; beyond it (a PS
    lost for the end of the series), from the last value on, by the row's least-squares fit on
    ``FIXED`` over its observed dates (its line and annual cycle carried on: a flat tail on a
    fast bowl would be a kink the modes do not hold, and the step would remove signal there)."""
    # Works on the gap cells only (rows without gaps are not copied); before the fill, for the
    # rows with a tail, their observed values.
    n = rows.shape[1]
    seen = ~missing
    first = np.argmax(seen, axis=1)
    last = n - 1 - np.argmax(seen[:, ::-1], axis=1)
    ends = np.flatnonzero(((first > 0) | (last < n - 1)) & (seen.sum(axis=1) >= 8))
    w = seen[ends].astype(np.float64)
    observed = np.where(w > 0, rows[ends], 0.0)
    _interpolate_gaps(rows, t)
    if ends.size:
        k = q.shape[1]  # the normal matrices as one product (a 3-operand einsum is 20x slower)
        normal = (w @ (q[:, :, None] * q[:, None, :]).reshape(-1, k * k)).reshape(-1, k, k)
        coef = np.linalg.solve(normal, (observed @ q)[:, :, None])[:, :, 0]
        fit = coef @ q.T
        j = np.arange(n)[None, :]
        f, la = first[ends, None], last[ends, None]
        at = np.where(j < f, f, np.where(j > la, la, j))  # the nearest observed date
        edge = np.take_along_axis(fit, at, axis=1)
        rows[ends] += np.where((j < f) | (j > la), fit - edge, 0.0)
    return rows


def _gram_rows(m):
    return np.arange(m) if m <= GRAM_MAX_ROWS else np.linspace(0, m - 1, GRAM_MAX_ROWS).astype(np.int64)


def _modes(gram, n_free, max_modes):
    r = int(min(max_modes, n_free))
    # C order: a reversed-stride view would take numpy's slow (non-BLAS) matmul loop (10x).
    return np.ascontiguousarray(np.linalg.eigh(gram)[1][:, ::-1][:, :r])


def _coefficients(series, t, q, modes, n_free):
    """Per row: the kept modes' coefficients, the fixed fit and the noise variance (module doc 2-3)."""
    rest, fixed = _rest(series, t, q)
    coef = rest @ modes
    r = modes.shape[1]
    if r < n_free:
        outside = np.einsum("ij,ij->i", rest, rest) - np.einsum("ij,ij->i", coef, coef)
        noise_var = np.maximum(outside, 0.0) / (n_free - r)
    else:
        noise_var = np.median(coef**2, axis=1) / CHI2_1_MEDIAN
    return coef, fixed, noise_var


def neighbour_index(x, y, neighbours=NEIGHBOURS):
    """(m, count) row numbers of each point's ``neighbours`` nearest points, itself included."""
    xy = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    count = int(min(neighbours, xy.shape[0]))
    return cKDTree(xy).query(xy, k=count, workers=-1)[1].reshape(xy.shape[0], count)


def start_neighbour_index(x, y, neighbours=NEIGHBOURS):
    """:func:`neighbour_index` started in the background (a future, :func:`.row_blocks.in_background`):
    it only needs the coordinates, so :func:`core.error_removal.remove_errors` starts it first
    and the search runs while the surfaces are fitted."""
    return in_background(neighbour_index, x, y, neighbours)


def _gains(coef, noise_var, index):
    """Positive-part Wiener gains from the neighbourhood mean of ``c^2 / s^2`` (module doc, 4)."""
    m, count = index.shape
    floor = max(float(np.median(noise_var)) * 1e-6, 1e-12)
    scaled = np.square(coef)
    scaled /= np.maximum(noise_var, floor)[:, None]
    mean = sparse.csr_matrix(
        (np.full(m * count, 1.0 / count), index.ravel(), np.arange(0, m * count + 1, count)), shape=(m, m)
    )
    local = mean @ scaled
    with np.errstate(divide="ignore"):
        return np.clip(1.0 - 1.0 / local, 0.0, 1.0)


def _apply(series, fixed, coef, gain, q, modes, t, out=None):
    """The series rebuilt from their fixed fit and shrunk coefficients (module doc, 4-5), in
    ``out`` when given."""
    series = np.asarray(series, dtype=np.float64)
    out = np.empty_like(series) if out is None else out
    out[:, 0] = series[:, 0]
    np.matmul(np.hstack([fixed, gain * coef]), np.vstack([q.T, modes.T]), out=out[:, 1:])  # one product
    return _restore_lines(series, out, t)


def _skip(m, n, neighbours):
    return n < MIN_DATES or n - 5 < 2 or m < 2 * max(int(neighbours), 2)


def _blocks(function, m):
    return map_row_blocks(function, m, BLOCK_ROWS)  # independent blocks, shared by two threads


def remove_noise_floor(
    series_mm, dates, x, y, neighbours=NEIGHBOURS, max_modes=MAX_MODES, index=None
) -> NoiseFloor:
    """The series without the white noise that no neighbour shares (module doc).

    Args:
        series_mm: (m, n) corrected series, mm (NaN gaps); the first date is the reference.
        dates: (n,) dates; x, y: (m,) metres.
        neighbours: points (the point itself included) whose shared energy tells signal from noise.
        max_modes: temporal modes worked on (the weaker ones are removed entirely).
        index: :func:`neighbour_index` of x, y (or a future of it), when already started.
    """
    series = np.asarray(series_mm, dtype=np.float64)
    m, n = series.shape
    if _skip(m, n, neighbours):
        return NoiseFloor(series.copy(), np.zeros_like(series), 0, 1.0, applied=False)
    t = years_since_first(dates)
    q = _fixed_basis(t[1:])
    sample = _rest(series[_gram_rows(m)], t, q)[0]
    modes = _modes(sample.T @ sample, n - 5, max_modes)
    del sample
    parts = _blocks(lambda s: _coefficients(series[s:s + BLOCK_ROWS], t, q, modes, n - 5), m)
    coef, fixed, noise_var = (np.concatenate(p) for p in zip(*parts))
    index = neighbour_index(x, y, neighbours) if index is None else index
    gain = _gains(coef, noise_var, index.result() if hasattr(index, "result") else index)
    out = np.empty_like(series)

    def rebuild(s):
        rows = slice(s, s + BLOCK_ROWS)
        _apply(series[rows], fixed[rows], coef[rows], gain[rows], q, modes, t, out=out[rows])

    _blocks(rebuild, m)
    # What was removed is built when read (most runs do not write it).
    return NoiseFloor(out, Deferred(lambda: series - out), modes.shape[1], float(gain.mean()))


def remove_noise_floor_dask(series, dates, x, y, neighbours=NEIGHBOURS, max_modes=MAX_MODES):
    """:func:`remove_noise_floor` of a dask (m, n) array: ``(series, noise)`` lazily, or
    ``(series, None)`` when the step does not apply. The same rows give the modes; the
    coefficients (m x ``max_modes``, 8 bytes each) are gathered for the neighbour sums, the
    series stay lazy."""
    import dask.array as da

    m, n = series.shape
    if _skip(m, n, neighbours):
        return series, None
    t = years_since_first(dates)
    q = _fixed_basis(t[1:])
    sample = _rest(np.asarray(series[_gram_rows(m)].compute()), t, q)[0]
    modes = _modes(sample.T @ sample, n - 5, max_modes)
    r = modes.shape[1]
    rows = series.chunks[0]
    parts = da.map_blocks(
        lambda b: np.column_stack(_coefficients(b, t, q, modes, n - 5)), series, dtype=np.float64,
        chunks=(rows, (r + 5,)),
    )
    parts = np.asarray(parts.compute())
    coef, fixed, noise_var = parts[:, :r], parts[:, r:r + 4], parts[:, r + 4]
    gain = _gains(coef, noise_var, neighbour_index(x, y, neighbours))
    lazy = [da.from_array(a, chunks=(rows, (a.shape[1],))) for a in (fixed, coef, gain)]
    out = da.map_blocks(lambda b, f, c, g: _apply(b, f, c, g, q, modes, t), series, *lazy, dtype=np.float64)
    return out, series - out
