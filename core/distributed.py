"""The PCA of METHODS.md section 2 on a dask array: the same numbers as :func:`core.pca.decompose`,
block by block, on the local threads or on a ``dask.distributed`` cluster.

:func:`core.pca.decompose` hands a dask array here (``hasattr(X, "dask")``). The in-memory
algorithm is already a sum over row chunks, so it maps onto blocks of rows x all dates:

* pass 1, one task per block: shift by c (the mean of the first ``pca.CHUNK_ROWS`` rows, as in
  memory), interpolate the gaps of its rows in time, return ``X_b'^T X_b'``, the column sums, the
  counts, and keep its gap rows (filled) on the worker for the imputation;
* the n x n sums are added on the client, which takes the eigen-decomposition (n <= a few
  hundred: milliseconds);
* the EM imputation (2.6): each iteration is one task per block with gaps, returning the sparse
  Gram update ``D^T H`` of that block (``pca._imputation_step``, the in-memory code) and the new
  fill, which stays on the worker (persisted) for the next iteration;
* pass 2: ``S_b = X_b T diag(sigma)^-1 - mu T diag(sigma)^-1`` (filled rows from the kept fill),
  a lazy dask array: it is only computed when asked (``np.asarray``, ``store`` into a stack).

Sums are taken in block order, so results differ from the in-memory path by rounding only
(tests: < 1e-10 relative, tests/test_distributed.py). The diagnostics (classes) need S in memory:
for more than ``CLASSIFY_MAX_ROWS`` points they are computed on an evenly spaced subsample.

The cluster is the default ``distributed.Client`` when one exists (the algorithms make one for a
"Dask scheduler" address and close it), else dask's local threads. :func:`run` reports progress
from the futures and, when the progress callback raises (the user cancelled), cancels them.
"""

from contextlib import suppress
from dataclasses import replace

import numpy as np

from . import pca

POLL_SECONDS = 0.1
CLASSIFY_MAX_ROWS = 2_000_000


def current_client():
    """The default ``distributed.Client`` of this process, or None (local threads)."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _noop(fraction, message=None):
    return True


def run(collections, progress=None, span=(0.0, 1.0), persist=False):
    """``dask.compute`` (or ``persist``) of ``collections`` with progress in ``span`` and cancel.

    On a cluster the futures are polled every ``POLL_SECONDS``; when ``progress`` raises (cancel)
    or a task fails, every future of the call is cancelled before the exception goes on, so the
    cluster stops the work. Locally, a dask callback reports each finished task (an exception
    from it stops the threaded scheduler)."""
    report = progress or _noop
    low, high = span
    items = list(collections)
    lazy = [i for i, item in enumerate(items) if hasattr(item, "__dask_graph__")]
    if len(lazy) < len(items):  # numpy and other plain values pass through
        done = _run([items[i] for i in lazy], report, low, high, persist) if lazy else []
        for i, value in zip(lazy, done):
            items[i] = value
        return items
    return _run(items, report, low, high, persist)


def _run(collections, report, low, high, persist):
    import dask

    client = current_client()
    if client is None:
        from dask.callbacks import Callback

        class Progress(Callback):
            def _start_state(self, dsk, state):
                self.total, self.done = max(len(dsk), 1), 0

            def _posttask(self, key, result, dsk, state, worker_id):
                self.done += 1
                report(low + (high - low) * self.done / self.total, None)

        with Progress():
            return list(dask.persist(*collections) if persist else dask.compute(*collections))
    from distributed import futures_of

    if persist:
        out = client.persist(collections)
        futures = futures_of(out)
    else:
        futures = client.compute(collections)
        out = futures
    from distributed import wait

    try:
        while True:
            done = sum(f.done() for f in futures)
            report(low + (high - low) * done / max(len(futures), 1), None)
            failed = [f for f in futures if f.status == "error"]
            if failed:
                failed[0].result()  # raises the task's exception here
            if done == len(futures):
                break
            with suppress(TimeoutError):
                wait(futures, timeout=POLL_SECONDS)  # returns at once when everything is done
        return out if persist else client.gather(futures)
    except BaseException:
        client.cancel(futures)
        raise


def row_blocks(X):
    """``(delayed blocks, first row of each)`` of a dask array chunked by rows only."""
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
    return list(X.to_delayed().ravel()), starts, X


# --- the block tasks (module-level functions: workers import them by name) ------------------


class Parts:
    """Results of a block task. Not a tuple: a tuple of arrays in a dask graph reads as a task."""

    __slots__ = ("items",)

    def __init__(self, *items):
        self.items = items

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)


def _shift_reference(block, rows):
    first = np.asarray(block[:rows], dtype=np.float64)
    usable = np.isfinite(first)
    return Parts(usable.sum(axis=0), np.where(usable, first, 0.0).sum(axis=0))


def _first_pass(block, c, t_axis, start):
    """Pass 1 of one block: (summary, kept gap rows) -- see the module docstring."""
    d = np.subtract(block, c, dtype=np.float64)
    rows, n = d.shape
    flat = np.flatnonzero(np.isnan(d))
    if np.isinf(d).any():
        i, j = np.argwhere(np.isinf(d))[0]
        raise ValueError(
            f"displacement_mm: infinite value at point {start + i} (row), date column {j}; use NaN for gaps"
        )
    rows_of = flat // n
    cols_of = flat - rows_of * n
    row_nan = np.bincount(rows_of, minlength=rows)
    empty = np.flatnonzero(row_nan == n)
    gap = np.flatnonzero((row_nan > 0) & (row_nan < n))
    kept = None
    d[empty] = 0.0
    if gap.size:
        in_gap = row_nan[rows_of] < n
        local = np.searchsorted(gap, rows_of[in_gap])
        cols = cols_of[in_gap]
        filled = pca._interpolate_gaps(d[gap], t_axis, offset=c, flat=local * n + cols)
        d[gap] = filled
        kept = Parts(gap, filled, local, cols)
    observed = rows - np.bincount(cols_of, minlength=n)
    summary = Parts(d.T @ d, d.sum(axis=0), observed, rows - empty.size, start + empty, gap.size)
    return summary, kept


def _em_block(kept, tk, shift):
    """One EM step on a block's kept rows (a copy: a retried task must find its input intact)."""
    gap, filled, local, cols = kept.items
    filled = filled.copy()
    blocks = pca._imputation_blocks([(0, None, filled)], [(local, cols)], pca.IMPUTE_BLOCK_ROWS)
    return Parts(gap, filled, local, cols), Parts(*pca._imputation_step(blocks, tk, shift))


def _project_block(block, kept, projector, mu_projected, shift_projected, empty):
    out = np.asarray(block) @ projector
    out -= mu_projected
    if kept is not None:
        gap, filled = kept[0], kept[1]
        values = filled @ projector
        values -= shift_projected
        out[gap] = values
    out[empty] = np.nan
    return out


def _peak_block(spatial):
    """Per column: the finite value of largest magnitude (first one on ties) and its magnitude."""
    finite = np.where(np.isfinite(spatial), spatial, 0.0)
    if finite.shape[0] == 0:
        return Parts(np.zeros(spatial.shape[1]), np.zeros(spatial.shape[1]))
    at = np.argmax(np.abs(finite), axis=0)
    values = finite[at, np.arange(finite.shape[1])]
    return Parts(np.abs(values), values)


# --- the decomposition --------------------------------------------------------------------------


def _em(kept, gram, col_sum, m_used, vecs, rank_k, scale, n_missing, progress):
    """EM imputation over the kept blocks (the in-memory loop of core.pca, one task per block)."""
    from dask import delayed

    step = delayed(_em_block, nout=2, pure=True)
    last_change = 0.0
    iterations = 0
    shift = col_sum / m_used
    for iterations in range(1, pca.IMPUTE_MAX_ITER + 1):
        tk = np.ascontiguousarray(vecs[:, :rank_k])
        pairs = [step(k, tk, shift) for k in kept]
        done = run(
            [p[0] for p in pairs] + [p[1] for p in pairs],
            progress,
            (
                0.45 + 0.25 * (iterations - 1) / pca.IMPUTE_MAX_ITER,
                0.45 + 0.25 * iterations / pca.IMPUTE_MAX_ITER,
            ),
            persist=True,
        )
        kept = done[: len(pairs)]
        parts = run(done[len(pairs) :])
        cross = sum(p[0] for p in parts)
        gram = gram + cross + cross.T
        col_sum = col_sum + sum(p[1] for p in parts)
        g, shift, vals, vecs = _spectrum(gram, col_sum, m_used)
        change = float(np.sqrt(sum(p[2] for p in parts) / n_missing))
        ratio = change / last_change if last_change > 0 else 1.0
        if (change * ratio / (1.0 - ratio) if ratio < 0.5 else change) <= pca.IMPUTE_TOL * scale:
            break
        last_change = change
    return kept, g, shift, vals, vecs, iterations


def _spectrum(gram, col_sum, m_used):
    """Centred Gram matrix (module docstring of core.pca), its eigenpairs (descending) and the shift."""
    shift = col_sum / m_used
    g = gram - m_used * np.outer(shift, shift)
    vals, vecs = np.linalg.eigh(0.5 * (g + g.T))
    return 0.5 * (g + g.T), shift, vals[::-1], np.ascontiguousarray(vecs[:, ::-1])


def decompose_dask(
    X, k=pca.DEFAULT_K, dates=None, ids=None, progress=None, x=None, y=None, z=None, classify=True
):
    """:func:`core.pca.decompose` of a dask array (m, n); ``Decomposition.spatial`` is a lazy dask
    array (numpy when ``classify`` computed it whole). Same checks and errors as in memory."""
    import dask.array as da
    from dask import delayed

    if X.ndim != 2:
        raise ValueError(f"displacement_mm: expected an (points x dates) matrix, got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"displacement_mm: expected numbers, got dtype {X.dtype}")
    m, n = X.shape
    if m < 3 or n < 3:
        raise ValueError(f"displacement_mm: at least 3 points and 3 dates are needed, got shape {X.shape}")
    if k is not None and not isinstance(k, bool) and int(k) == k and int(k) > n:
        raise ValueError(f"k: {int(k)} components asked but there are only {n} dates (k <= number of dates)")
    years = pca._years(dates, n)
    t_axis = years if years is not None else np.arange(n, dtype=np.float64)
    report = progress or _noop
    blocks, starts, X = row_blocks(X)

    head = min(m, pca.CHUNK_ROWS)
    counts, sums = run([delayed(_shift_reference)(X[:head], head)])[0]
    c = sums / np.maximum(counts, 1)
    first = delayed(_first_pass, nout=2, pure=True)
    pairs = [first(b, c, t_axis, int(s)) for b, s in zip(blocks, starts)]
    persisted = run([p[1] for p in pairs] + [p[0] for p in pairs], report, (0.0, 0.45), persist=True)
    kept_all = persisted[: len(pairs)]
    summaries = run(persisted[len(pairs) :])
    gram = sum(s[0] for s in summaries)
    col_sum = sum(s[1] for s in summaries)
    observed = sum(s[2] for s in summaries)
    m_used = int(sum(s[3] for s in summaries))
    empty = np.concatenate([s[4] for s in summaries])
    n_gap_rows = int(sum(s[5] for s in summaries))
    missing = np.flatnonzero(observed == 0)[:5]
    no_data = [str(dates[j]) if dates is not None else f"column {j}" for j in missing]
    if no_data:
        raise ValueError(f"displacement_mm: no value at any point on date(s) {', '.join(no_data)}; drop them")
    if m - empty.size < 3:
        raise ValueError(f"displacement_mm: only {m - empty.size} points have any value; 3 are needed")
    m_fit = m - empty.size
    k = pca._validate_k(k, m_fit, n)
    g, shift, vals, vecs = _spectrum(gram, col_sum, m_used)
    iterations = 0
    with_gaps = [i for i, s in enumerate(summaries) if s[5]]
    if with_gaps:
        report(0.45, f"filling {n_gap_rows} points with gaps by iterative low-rank imputation")
        rank_k = k if k is not None else pca.suggest_k(np.sqrt(np.clip(vals, 0, None)), m_fit, n)[0]
        scale = np.sqrt(max(float(np.trace(g)), 0.0) / (m_fit * n)) or 1.0
        n_missing = max(int(n * m - observed.sum()) - n * empty.size, 1)
        filled, g, shift, vals, vecs, iterations = _em(
            [kept_all[i] for i in with_gaps], gram, col_sum, m_used, vecs, rank_k, scale, n_missing, report
        )
        for i, kept in zip(with_gaps, filled):
            kept_all[i] = kept
    mu = c + shift
    all_sigma = np.sqrt(np.clip(vals[: min(m_fit, n)], 0.0, None))
    if all_sigma[0] <= 0 or not np.isfinite(all_sigma[0]):
        raise ValueError("displacement_mm: no variation between points once each date's mean is removed")
    suggested, reason = pca.suggest_k(all_sigma, m_fit, n)
    k = suggested if k is None else k
    usable = int(np.sum(all_sigma > pca.SIGMA_RELATIVE_TOL * all_sigma[0]))
    if k > usable:
        raise ValueError(
            f"k: {k} components asked but the centred data have only {usable} usable components "
            f"(sigma above {pca.SIGMA_RELATIVE_TOL:g} x sigma_1); use k <= {usable}"
        )
    sigma = all_sigma[:k].copy()
    temporal = vecs[:, :k].copy()
    projector = temporal / sigma[None, :]
    project = delayed(_project_block, pure=True)
    parts = []
    for b, s, rows, kept in zip(blocks, starts, X.chunks[0], kept_all):
        local_empty = empty[(empty >= s) & (empty < s + rows)] - s
        task = project(
            b, kept if with_gaps else None, projector, mu @ projector, shift @ projector, local_empty
        )
        parts.append(da.from_delayed(task, shape=(rows, k), dtype=np.float64))
    spatial = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    signs = _signs(spatial, temporal, t_axis, report)
    spatial = spatial * signs
    temporal = temporal * signs
    dec = pca.Decomposition(
        mu, spatial, sigma, temporal, all_sigma,
        dates=None if dates is None else np.asarray(dates, dtype="datetime64[D]"),
        ids=np.arange(1, m + 1, dtype=np.int64) if ids is None else ids,
        suggested_k=suggested,
        suggestion_reason=reason,
        n_points_fit=m_fit,
        n_points_with_gaps=n_gap_rows,
        impute_iterations=iterations,
    )
    if classify:
        _classify(dec, x, y, z, report)
    else:
        dec.labels = ["noise"] * k
    report(1.0, None)
    return dec


def _signs(spatial, temporal, t, report):
    """The sign rule of METHODS 2.5 (``pca._fix_signs``) as a vector of +-1."""
    from dask import delayed

    signs = np.ones(temporal.shape[1])
    tc = t - t.mean()
    peaks = None
    for j in range(temporal.shape[1]):
        col = temporal[:, j] - temporal[:, j].mean()
        cn, tn = np.linalg.norm(col), np.linalg.norm(tc)
        r = float(np.dot(col, tc) / (cn * tn)) if cn > 0 and tn > 0 else 0.0
        if abs(r) >= pca.FLAT_TREND_CORRELATION:
            signs[j] = -1.0 if r < 0 else 1.0
            continue
        if peaks is None:  # a flat component: the sign of S's largest entry, over all blocks
            tasks = [delayed(_peak_block)(b) for b in spatial.to_delayed().ravel()]
            peaks = run(tasks, report, (0.7, 0.95))
        best_abs, best = -1.0, 0.0
        for magnitude, value in peaks:
            if magnitude[j] > best_abs:
                best_abs, best = magnitude[j], value[j]
        signs[j] = -1.0 if best < 0 else 1.0
    return signs


def _classify(dec, x, y, z, report):
    """Diagnostics and classes (core.pca_diagnostics), on S whole or on a strided subsample."""
    from .pca_diagnostics import component_diagnostics, propose_labels

    m = dec.spatial.shape[0]
    step = max(1, -(-m // CLASSIFY_MAX_ROWS))

    def rows(values):
        return None if values is None else np.asarray(values[::step], dtype=np.float64)

    spatial = run([dec.spatial[::step]], report, (0.7, 0.95))[0]
    if step == 1:
        dec.spatial = spatial
        dec.diagnostics = component_diagnostics(dec, x=rows(x), y=rows(y), z=rows(z))
    else:
        sample = replace(dec, spatial=spatial)
        dec.diagnostics = component_diagnostics(sample, x=rows(x), y=rows(y), z=rows(z))
        report(0.95, f"component diagnostics on every {step}th point ({spatial.shape[0]} points)")
    dec.labels = propose_labels(dec.diagnostics)
