"""PCA decomposition of a PS displacement matrix (METHODS.md section 2, seed 003 after PCAIM).

``X' = X - mu`` (each date's spatial mean removed, 2.1), ``X' ~= S diag(sigma) T^T`` (2.2) with
S = U[:, :k] (m x k), sigma the singular values, T = V[:, :k] (n x k).

How it is computed (the "computational note" of section 2): m >> n, so instead of a thin SVD
of the m x n matrix we stream the rows once in chunks (float64, ``chunk_rows`` rows at a
time, memory bounded whatever m is) to build the n x n Gram matrix ``G = X'^T X'``, take its
eigen-decomposition ``G = V diag(sigma^2) V^T`` (sorted descending, sigma = sqrt(max(eig, 0))),
and project in a second chunked pass: ``S = X' T diag(sigma)^-1``. This is exact in exact
arithmetic and matches a dense SVD to rounding (tests/test_pca.py); the Gram matrix squares the
condition number, so components whose sigma is below ``SIGMA_RELATIVE_TOL * sigma_1`` cannot be
normalised reliably and are refused (ValueError) when ``k`` asks for them.

Centring without a first pass: the Gram matrix is accumulated on the *shifted* data
``X - c`` (c = mean of the first chunk) together with its column sums, then corrected,
``G = G_c - m d d^T`` with ``d = mean(X) - c``. Because c is already close to the mean, the
correction is small and the one-pass form keeps the digits a naive ``X^T X - m mu mu^T``
would lose when the mean is large against the spread (checked against SVD in the tests).

Missing data (2.6) **[choice: iterative low-rank imputation]**: rows with gaps are filled
first by linear interpolation in time (nearest value beyond the ends), then repeatedly by
their rank-k reconstruction ``mu + X'_i T T^T`` at the missing dates only (EM-PCA),
recomputing mu, G and T from all rows, until the filled values are within ``IMPUTE_TOL`` x the
data RMS of their fixed point: the RMS change of the last iteration, or, since EM converges
linearly, that change x r / (1 - r) with r the ratio of the last two changes when r < 0.5
(the rest of a geometric series). Measured effect of the gaps (tests/test_pca.py): 10 % random
gaps on the synthetic study area move sigma_1..3 by < 0.2 %, T_1..3 by < 0.003 and the
deformation reconstruction by 0.2 mm RMS.

How the imputation is computed **[choices, measured on the 200k x 150 matrix of
bench/bench_pca.py, 2 % gaps, 90 % of the rows with a gap, k = 6, 2 shared cores]**:

* one pass over X: each chunk is copied once (shifted by c), its gap cells interpolated in
  that copy, and the whole chunk goes into G with one product; chunks with gap rows are kept
  (the whole chunk when most rows have gaps, else its gap rows), so the gap rows are neither
  copied a second time nor read again for their first Gram matrix;
* the gap bookkeeping (rows, dates, interpolation) works on the flat indices of the NaN cells,
  its cost follows the number of gaps, not m x n;
* an iteration changes only the filled cells, so G is updated with the sparse change D rather
  than rebuilt: ``G += D^T H + H^T D`` with ``H = F + D / 2`` (F the rows before the update),
  which equals ``D^T F + F^T D + D^T D`` with one sparse-dense product instead of two; the
  complete rows' part of G is never touched again;
* rows are walked in cache-sized blocks (``IMPUTE_BLOCK_ROWS``: scores, new values and the
  Gram update of a block while it is in cache), the blocks split over ``IMPUTE_THREADS``
  threads (numpy, BLAS and scipy.sparse release the GIL; partial results summed in a fixed
  order, so runs are reproducible);
* the stopping rule above ends after 3 iterations instead of 4 (the fill moves by a further
  < 0.005 mm; sigma by < 3e-5 relative).

Together: decomposition with diagnostics 1.1-1.6 s -> 0.45-0.6 s on that matrix (the same
labels; sigma, T and S within 1e-12 of the previous code with the same number of iterations).
Excluding gap rows and projecting them
afterwards (the other option of 2.6) was rejected: with scattered gaps most rows have at
least one NaN (0.9**60 = 0.2 % of rows are complete at 10 % gaps over 60 dates), so the fit
would rest on almost no points. Rows that are entirely NaN are left out of the fit and get NaN
in ``spatial`` (and so in every reconstruction); a date with no value at any point is an error.

Sign (2.5) **[choice]**: each component is flipped so that T_k correlates positively with
time; when |corr| < ``FLAT_TREND_CORRELATION`` (a flat curve) the largest-magnitude entry of
S_k is made positive instead. Signs are therefore the same across runs and row orders.

Choice of k (2.4) **[choice]**: ``suggest_k`` counts the singular values above the
Gavish-Donoho (2014) optimal hard threshold ``omega(beta) * median(sigma)`` (the noise floor
of white noise of unknown level) and keeps the count in [1, ``MAX_SUGGESTED_K``]; the reason
gives both numbers and the variance explained. A cumulative-variance rule was rejected as the
criterion: deformation of ~100 mm/yr holds > 99 % of the variance in one or two components,
so it would hide the error components that the error removal needs. Spatially correlated
atmosphere is not white noise and puts many components above the floor (18-20 on the
synthetic study area). All of them are suggested: each is signal (deformation or error) that
the error removal must either keep or take out, and any left out stays in the corrected series.
Measured on the synthetic area (stable-area RMS after error removal, automatic stable points;
raw 4.0-4.4 mm, filter baseline 2.3-2.5 mm): k = 10 gives 2.1-2.5 mm, the 18-20 components above
the floor 1.6-1.9 mm (seeds 0-2). The seed's k = 6 was chosen by eye for interpreting the
components (3-5 mixed signals, >= 7 redundant, METHODS.md 2.4), not for removing errors; it
stays the algorithms' default for the decomposition table, and 0 asks for this suggestion.
``MAX_SUGGESTED_K`` only guards against pathological inputs.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .decomposition import FILE_FORMAT_VERSION, NAN_METHOD, Decomposition
from .pca_imputation import _imputation_blocks, _imputation_step, _interpolate_gaps
from .psdata import years_since_first

__all__ = [
    "DEFAULT_K",
    "FILE_FORMAT_VERSION",
    "NAN_METHOD",
    "Decomposition",
    "decompose",
    "decompose_ps",
    "suggest_k",
]

DEFAULT_K = 6
CHUNK_ROWS = 8192
SIGMA_RELATIVE_TOL = 1e-6
FLAT_TREND_CORRELATION = 0.01
IMPUTE_TOL = 1e-4
IMPUTE_MAX_ITER = 200
IMPUTE_BLOCK_ROWS = 2048
IMPUTE_THREADS = 2
MAX_SUGGESTED_K = 30


# --- the k suggestion (2.4) -----------------------------------------------------------------


def _gavish_donoho_omega(beta):
    """Approximation of omega(beta) for the optimal hard threshold, unknown noise (G&D 2014, eq. 5)."""
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def suggest_k(all_sigma, m, n):
    """Suggested number of components and the reason (METHODS.md 2.4, see module docstring)."""
    sig = np.asarray(all_sigma, dtype=np.float64)[: min(m, n)]
    total = float(np.sum(sig**2))
    if total <= 0:
        return 1, "the centred data have no variance; 1 component"
    omega = _gavish_donoho_omega(min(m, n) / max(m, n))
    threshold = omega * float(np.median(sig))
    k_noise = int(np.sum(sig > threshold))
    rank = int(np.sum(sig > SIGMA_RELATIVE_TOL * sig[0]))
    k = max(1, min(k_noise, MAX_SUGGESTED_K, rank))
    share = float(np.sum(sig[:k] ** 2)) / total
    capped = f", capped at {MAX_SUGGESTED_K}" if k_noise > MAX_SUGGESTED_K else ""
    reason = (
        f"{k_noise} singular values above the noise floor (Gavish-Donoho threshold "
        f"{threshold:.4g} = {omega:.3f} x median singular value){capped}: suggest k = {k}, "
        f"explaining {100 * share:.2f} % of the variance"
    )
    return k, reason


# --- helpers --------------------------------------------------------------------------------


def _years(dates, n):
    if dates is None:
        return None
    dates = np.asarray(dates, dtype="datetime64[D]")
    if dates.shape != (n,):
        raise ValueError(f"dates: expected {n} dates (one per column), got shape {dates.shape}")
    return years_since_first(dates)


def _fix_signs(spatial, temporal, t):
    """Sign rule of METHODS.md 2.5 (module docstring); flips columns in place."""
    tc = t - t.mean()
    tn = np.linalg.norm(tc)
    for j in range(temporal.shape[1]):
        col = temporal[:, j]
        cn = np.linalg.norm(col - col.mean())
        r = float(np.dot(col - col.mean(), tc) / (cn * tn)) if cn > 0 and tn > 0 else 0.0
        if abs(r) >= FLAT_TREND_CORRELATION:
            flip = r < 0
        else:
            s = spatial[:, j]
            finite = np.where(np.isfinite(s), s, 0.0)
            flip = finite[np.argmax(np.abs(finite))] < 0
        if flip:
            temporal[:, j] *= -1.0
            spatial[:, j] *= -1.0


def _gram_of(d):
    """``d^T d`` of a C-ordered float64 (rows, n) block by BLAS ``dsyrk``: the symmetric product
    takes half the work of the general one (measured 0.41 against 0.75 s for 200k x 150)."""
    from scipy.linalg import blas

    upper = blas.dsyrk(1.0, d.T, trans=0)  # d.T is Fortran-ordered: passed without a copy
    return np.triu(upper) + np.triu(upper, 1).T


def _validate_k(k, m_fit, n):
    if k is None:
        return None
    if isinstance(k, bool) or int(k) != k:
        raise ValueError(f"k: expected a whole number of components, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k: must be at least 1 (None for the automatic suggestion), got {k}")
    if k > n:
        raise ValueError(f"k: {k} components asked but there are only {n} dates (k <= number of dates)")
    if k > m_fit:
        raise ValueError(f"k: {k} components asked but only {m_fit} points have data (k <= number of points)")
    return k


# --- the decomposition ----------------------------------------------------------------------


def decompose(
    displacement_mm,
    k=DEFAULT_K,
    dates=None,
    ids=None,
    progress=None,
    x=None,
    y=None,
    z=None,
    chunk_rows=CHUNK_ROWS,
    classify=True,
) -> Decomposition:
    """PCA of the (m, n) displacement matrix, METHODS.md 2.1-2.6 (how: see the module docstring).

    Args:
        displacement_mm: (m, n) float array (any float dtype, memory-mapped is fine), NaN gaps.
        k: number of components (1..n), or None for the automatic suggestion (2.4).
        dates: (n,) dates (for the sign rule and the seasonal diagnostics); None = equally spaced.
        ids: (m,) point ids; None = 1..m.
        progress: optional ``progress(fraction, message=None)``.
        x, y, z: optional (m,) coordinates (projected, m) and elevation for the spatial diagnostics.
        chunk_rows: rows per streamed chunk (memory ~ chunk_rows * n * 8 bytes per temporary).
        classify: compute diagnostics and proposed labels (core.pca_diagnostics).
    """
    X = displacement_mm
    if hasattr(X, "dask"):  # a dask array: block by block, locally or on a cluster (core/distributed.py)
        from .distributed import decompose_dask

        return decompose_dask(X, k, dates, ids, progress, x, y, z, classify)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"displacement_mm: expected an (points x dates) matrix, got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"displacement_mm: expected numbers, got dtype {X.dtype}")
    m, n = X.shape
    if m < 3:
        raise ValueError(f"displacement_mm: at least 3 points are needed for a decomposition, got {m}")
    if n < 3:
        raise ValueError(f"displacement_mm: at least 3 dates are needed for a decomposition, got {n}")
    if k is not None and not isinstance(k, bool) and int(k) == k and int(k) > n:
        raise ValueError(f"k: {int(k)} components asked but there are only {n} dates (k <= number of dates)")
    years = _years(dates, n)
    t_axis = years if years is not None else np.arange(n, dtype=np.float64)
    chunk_rows = max(1, int(chunk_rows))
    report = progress or (lambda fraction, message=None: True)

    # Pass 1: one streamed pass over X. Each chunk is copied once, shifted by c (module
    # docstring); the gap cells of its rows are filled by interpolation in time right there,
    # and the whole chunk goes into the Gram matrix with one product. Chunks with gap rows are
    # kept (shifted, filled) for the imputation below: the whole chunk when most of its rows
    # have gaps (no second copy), else only its gap rows.
    first = np.asarray(X[: min(m, chunk_rows)], dtype=np.float64)
    usable_first = np.isfinite(first)
    counts = usable_first.sum(axis=0)
    c = np.where(usable_first, first, 0.0).sum(axis=0) / np.maximum(counts, 1)
    del first
    gram = np.zeros((n, n))
    col_sum = np.zeros(n)
    m_used = 0
    gap_rows = []
    empty_rows = []
    kept = []  # (first row of the chunk, rows of X held (None = all), filled shifted values)
    kept_missing = []  # per kept block: (row in block, column) of every filled cell
    observed_per_date = np.zeros(n, dtype=np.int64)
    n_chunks = (m + chunk_rows - 1) // chunk_rows
    ones = np.ones(chunk_rows)
    for ci, start in enumerate(range(0, m, chunk_rows)):
        d = np.subtract(X[start : start + chunk_rows], c, dtype=np.float64)  # the one copy per chunk
        rows = d.shape[0]
        sums = ones[:rows] @ d  # NaN/inf anywhere in the chunk shows here: no separate isfinite pass
        if not np.isfinite(sums).all():
            # Gap bookkeeping from the flat indices of the NaN cells: its cost follows the gaps.
            flat = np.flatnonzero(np.isnan(d))
            rows_of = flat // n
            cols_of = flat - rows_of * n
            observed_per_date += rows - np.bincount(cols_of, minlength=n)
            row_nan = np.bincount(rows_of, minlength=rows)
            empty_local = np.flatnonzero(row_nan == n)
            gap_local = np.flatnonzero((row_nan > 0) & (row_nan < n))
            empty_rows.append(start + empty_local)
            gap_rows.append(start + gap_local)
            if empty_local.size:
                d[empty_local] = 0.0  # out of the fit: zero rows add nothing to G or the sums
                in_gap_row = row_nan[rows_of] < n
                rows_of, cols_of = rows_of[in_gap_row], cols_of[in_gap_row]
            sums = 0.0
            if 2 * gap_local.size >= rows:
                block_rows = None
            else:
                block_rows = gap_local
                d_gaps = d[gap_local]
                d[gap_local] = 0.0
                gram += _gram_of(d)
                sums = ones[:rows] @ d
                d = d_gaps
                rows_of = np.searchsorted(gap_local, rows_of)
            _interpolate_gaps(d, t_axis, offset=c, flat=rows_of * n + cols_of)
            kept.append((start, block_rows, d))
            kept_missing.append((rows_of, cols_of))  # row-major order: sorted by row
            m_used += rows - empty_local.size
            sums = sums + ones[: d.shape[0]] @ d
            if not np.isfinite(sums).all():
                i, j = np.argwhere(np.isinf(np.asarray(X[start : start + chunk_rows], dtype=np.float64)))[0]
                raise ValueError(
                    f"displacement_mm: infinite value at point {start + i} (row), date column {j}; "
                    "use NaN for gaps"
                )
        else:
            observed_per_date += rows
            m_used += rows
        gram += _gram_of(d)
        col_sum += sums
        del d
        report(0.45 * (ci + 1) / n_chunks, None)
    empty = np.concatenate(empty_rows) if empty_rows else np.zeros(0, dtype=np.int64)
    gaps = np.concatenate(gap_rows) if gap_rows else np.zeros(0, dtype=np.int64)
    no_data = np.flatnonzero(observed_per_date == 0)
    if no_data.size:
        which = [str(dates[j]) if dates is not None else f"column {j}" for j in no_data[:5]]
        raise ValueError(f"displacement_mm: no value at any point on date(s) {', '.join(which)}; drop them")
    m_fit = m - empty.size
    if m_fit < 3:
        raise ValueError(
            f"displacement_mm: only {m_fit} points have any value ({empty.size} are all-NaN); "
            "at least 3 are needed"
        )
    k = _validate_k(k, m_fit, n)

    def centred(g, s):
        shift = s / m_used
        g = g - m_used * np.outer(shift, shift)
        return 0.5 * (g + g.T), shift

    def eig_desc(g):
        vals, vecs = np.linalg.eigh(g)
        return vals[::-1], np.ascontiguousarray(vecs[:, ::-1])

    # Gap rows: iterative low-rank imputation (2.6), on the kept blocks (shifted by c, so the
    # current mean is c + shift). Only the filled cells change between iterations, so the Gram
    # matrix is updated with the sparse change D instead of being rebuilt from the rows:
    # G += D^T F + F^T D + D^T D = D^T H + H^T D with H = F + D / 2 (F before the update), one
    # sparse-dense product per block.
    g, shift = centred(gram, col_sum)
    vals, vecs = eig_desc(g)
    iterations = 0
    if gaps.size:
        report(0.45, f"filling {gaps.size} points with gaps by iterative low-rank imputation")
        rank_k = k
        if rank_k is None:
            rank_k = suggest_k(np.sqrt(np.clip(vals, 0, None)), m_fit, n)[0]
        scale = np.sqrt(max(float(np.trace(g)), 0.0) / (m_fit * n)) or 1.0
        blocks = _imputation_blocks(kept, kept_missing, IMPUTE_BLOCK_ROWS)
        n_missing = max(sum(r.size for r, _ in kept_missing), 1)
        halves = [blocks[0::2], blocks[1::2]]
        last_change = 0.0
        pool = ThreadPoolExecutor(2) if IMPUTE_THREADS > 1 and len(blocks) > 1 else None
        try:
            for iterations in range(1, IMPUTE_MAX_ITER + 1):
                tk = np.ascontiguousarray(vecs[:, :rank_k])
                if pool is None:
                    parts = [_imputation_step(blocks, tk, shift)]
                else:
                    parts = list(pool.map(_imputation_step, halves, [tk] * 2, [shift] * 2))
                cross = sum(p[0] for p in parts)
                gram += cross + cross.T
                col_sum += sum(p[1] for p in parts)
                step_sq = sum(p[2] for p in parts)
                g, shift = centred(gram, col_sum)
                vals, vecs = eig_desc(g)
                change = float(np.sqrt(step_sq / n_missing))
                # EM converges linearly: with the ratio r of successive changes, the fill is
                # within change * r / (1 - r) of its fixed point (a geometric series).
                ratio = change / last_change if last_change > 0 else 1.0
                remaining = change * ratio / (1.0 - ratio) if ratio < 0.5 else change
                if remaining <= IMPUTE_TOL * scale:
                    break
                last_change = change
                report(0.45 + 0.25 * iterations / IMPUTE_MAX_ITER, None)
        finally:
            if pool is not None:
                pool.shutdown()
        # g, shift, vals, vecs now belong to the final fill. The sparse updates are exact
        # algebra; their rounding (a few eps x |G| after a few iterations) is far below the gaps' effect.
    mu = c + shift
    report(0.7, None)

    all_sigma = np.sqrt(np.clip(vals[: min(m_fit, n)], 0.0, None))
    if all_sigma[0] <= 0 or not np.isfinite(all_sigma[0]):
        raise ValueError(
            "displacement_mm: no variation between points once each date's mean is removed "
            "(every point has the same series, e.g. all constant); nothing to decompose"
        )
    suggested, reason = suggest_k(all_sigma, m_fit, n)
    if k is None:
        k = suggested
    usable = int(np.sum(all_sigma > SIGMA_RELATIVE_TOL * all_sigma[0]))
    if k > usable:
        raise ValueError(
            f"k: {k} components asked but the centred data have only {usable} components with "
            f"sigma above {SIGMA_RELATIVE_TOL:g} x sigma_1 (rank-deficient: e.g. a date that is "
            f"constant over all points, like a reference date of zeros); use k <= {usable}"
        )
    sigma = all_sigma[:k].copy()
    temporal = vecs[:, :k].copy()

    # Pass 2: S = X' T / sigma, from the kept (filled) blocks where there are some.
    spatial = np.empty((m, k))
    projector = temporal / sigma[None, :]
    # x P - mu P needs no centred copy of the chunk; it loses ~eps * |mu| / spread relative,
    # negligible for displacements (the Gram matrix above is where the shift matters).
    mu_projected = mu @ projector
    whole = {start for start, block_rows, _ in kept if block_rows is None}
    for ci, start in enumerate(range(0, m, chunk_rows)):
        stop = min(m, start + chunk_rows)
        if start not in whole:
            np.subtract(X[start:stop] @ projector, mu_projected, out=spatial[start:stop])
        report(0.7 + 0.25 * (ci + 1) / n_chunks, None)
    shift_projected = shift @ projector
    for start, block_rows, filled in kept:
        values = filled @ projector
        values -= shift_projected
        if block_rows is None:
            spatial[start : start + filled.shape[0]] = values
        else:
            spatial[start + block_rows] = values
    spatial[empty] = np.nan
    _fix_signs(spatial, temporal, t_axis)

    dec = Decomposition(
        mean_mm=mu,
        spatial=spatial,
        sigma=sigma,
        temporal=temporal,
        all_sigma=all_sigma,
        dates=None if dates is None else np.asarray(dates, dtype="datetime64[D]"),
        ids=np.arange(1, m + 1, dtype=np.int64) if ids is None else np.asarray(ids),
        suggested_k=suggested,
        suggestion_reason=reason,
        n_points_fit=m_fit,
        n_points_with_gaps=int(gaps.size),
        impute_iterations=iterations,
    )
    if dec.ids.shape != (m,):
        raise ValueError(f"ids: expected {m} ids (one per point), got shape {dec.ids.shape}")
    if classify:
        from .pca_diagnostics import component_diagnostics, propose_labels

        dec.diagnostics = component_diagnostics(dec, x=x, y=y, z=z)
        dec.labels = propose_labels(dec.diagnostics, n_dates=dec.temporal.shape[0])
    else:
        dec.labels = ["noise"] * k
    report(1.0, None)
    return dec


def decompose_ps(ps, k=DEFAULT_K, z=None, progress=None, chunk_rows=CHUNK_ROWS) -> Decomposition:
    """:func:`decompose` of a PSDataset, with its dates, ids, x, y and z (or ``z`` given)."""
    return decompose(
        ps.displacement_mm,
        k=k,
        dates=ps.dates,
        ids=ps.ids,
        progress=progress,
        x=ps.x,
        y=ps.y,
        z=ps.z if z is None else z,
        chunk_rows=chunk_rows,
    )
