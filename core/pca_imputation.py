"""The gap handling of :func:`core.pca.decompose` (METHODS.md 2.6): the first fill of a point's
gaps by interpolation in time, and the blocked step of the iterative low-rank imputation (the
Gram update of the imputed rows). ``core.pca`` (and ``core.distributed``) use them."""

import numpy as np


def _interpolate_gaps(rows, t, offset=None, flat=None):
    """Fill the NaNs of each row in place by linear interpolation in ``t`` (nearest value beyond
    the ends) and return ``rows`` (C-ordered, every row with at least one value).

    ``offset`` (n,): the rows hold values minus ``offset`` (data shifted per date); the
    interpolation is then done on ``rows + offset`` and stored shifted back. ``flat``: the
    sorted flat indices of the NaN cells when the caller has them already.

    Works on the missing cells only: in the row-major flat order, a run of consecutive missing
    cells is bounded by the observed cells just before and after it, when those lie in the
    same row; so the cost is proportional to the number of gaps, not to the matrix size.
    """
    m, n = rows.shape
    flat_values = rows.reshape(-1)
    if flat is None:
        flat = np.flatnonzero(np.isnan(flat_values))
    if flat.size == 0:
        return rows
    breaks = np.flatnonzero(np.diff(flat) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [flat.size]]) - 1
    run = np.repeat(np.arange(starts.size), ends - starts + 1)
    row = flat // n
    before = flat[starts][run] - 1
    after = flat[ends][run] + 1
    has_before = (before >= 0) & (before // n == row)
    has_after = (after < m * n) & (after // n == row)
    before = np.where(has_before, before, 0)
    after = np.where(has_after, after, 0)
    v0, v1 = flat_values[before], flat_values[after]
    j0, j1, j = before % n, after % n, flat % n
    if offset is not None:
        v0 = v0 + offset[j0]
        v1 = v1 + offset[j1]
    t0, t1, tj = t[j0], t[j1], t[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = v0 + (tj - t0) / (t1 - t0) * (v1 - v0)
    filled = np.where(has_before & has_after, inside, np.where(has_before, v0, v1))
    flat_values[flat] = filled if offset is None else filled - offset[j]
    return rows


def _imputation_blocks(kept, kept_missing, block_rows):
    """Cache-sized row blocks of the kept (filled) rows with their filled cells, for
    :func:`_imputation_step`: (rows view, row in block, column, sparse D^T of the block).

    The sparse matrix is built once: each step only rewrites its values (``.data``)."""
    from scipy import sparse

    blocks = []
    for (_, _, filled), (rows_missing, cols_missing) in zip(kept, kept_missing):
        row_ptr = np.searchsorted(rows_missing, np.arange(filled.shape[0] + 1))
        for r0 in range(0, filled.shape[0], block_rows):
            r1 = min(filled.shape[0], r0 + block_rows)
            p0, p1 = row_ptr[r0], row_ptr[r1]
            if p0 == p1:
                continue
            local_rows, local_cols = rows_missing[p0:p1] - r0, cols_missing[p0:p1]
            change = sparse.csr_matrix(
                (np.zeros(p1 - p0), local_cols, row_ptr[r0 : r1 + 1] - p0), shape=(r1 - r0, filled.shape[1])
            )
            local_flat = local_rows * filled.shape[1] + local_cols
            blocks.append((filled[r0:r1], local_rows, local_cols, local_flat, change.T))
    return blocks


def _imputation_step(blocks, tk, shift):
    """One EM step over ``blocks`` (rows shifted by c; current mean c + shift): every filled
    cell set to its rank-k reconstruction. Returns (D^T H, column sums of D, sum of D^2) with
    D the change and H = F + D / 2 (F before the step), so that G_new = G + D^T H + H^T D."""
    n = tk.shape[0]
    shift_tk = shift @ tk
    tk_t = np.ascontiguousarray(tk.T)
    cross = np.zeros((n, n))
    step_sum = np.zeros(n)
    step_sq = 0.0
    for rows_block, local_rows, local_cols, local_flat, change_t in blocks:
        scores = tk_t @ rows_block.T  # (k, rows): one row per component, gathered below
        scores -= shift_tk[:, None]
        new = shift[local_cols]
        for q in range(tk_t.shape[0]):  # 1-D gathers: ~5x faster than gathering (cells, k) rows
            new += scores[q][local_rows] * tk_t[q][local_cols]
        cells = rows_block.reshape(-1)  # a view: the block is C-contiguous rows
        old = cells[local_flat]
        step = new - old
        cells[local_flat] = 0.5 * (old + new)  # H = F + D / 2
        change_t.data[:] = step  # D^T is the CSC view of D: same value order
        cross += change_t @ rows_block
        cells[local_flat] = new
        step_sum += np.bincount(local_cols, weights=step, minlength=n)
        step_sq += float(step @ step)
    return cross, step_sum, step_sq
