"""PCA and error removal of a whole stack, frame by frame, as one job (METHODS.md sections 2-3).

A stack (``core/stack.py``) holds one or more frames (EGMS bursts, one per converted source). With
``by_frame`` each frame is decomposed and corrected on its own, as when it is processed alone: a
burst's errors (orbit, atmosphere of its acquisition) are its own. The frames run concurrently
(one client thread each), so their tasks interleave on the cluster as one job; the last step
computes every per-point output and writes the corrected stack in a single ``run``.

The per-point outputs (velocity, its standard deviation, residual RMS, stable flag, the component
maps S_k sigma_k) come back as numpy arrays, (k + 4) x 8 bytes per point on the client (0.8 GB
for 1e7 points, k = 6); the corrected (m, n) series never leave the workers: they are written
into a new stack (the ids, coordinates, dates and frames of the input) block by block.
"""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List

import numpy as np

from .distributed import run
from .error_removal import remove_errors
from .pca import DEFAULT_K, decompose
from .stable_ground import SIGNIFICANCE
from .stack import MATRIX, STACK_FORMAT, STACK_VERSION, open_stack

MAX_FRAME_THREADS = 8


@dataclass
class StackResult:
    """Per-point results of :func:`process_stack` (rows of the stack) and per-frame summaries."""

    velocity_mm_per_year: np.ndarray
    velocity_std_mm_per_year: np.ndarray
    residual_rms_mm: np.ndarray
    stable: np.ndarray
    component_maps_mm: np.ndarray  # (m, max k), NaN past a frame's k
    frame_index: np.ndarray  # (m,) 0-based frame of each point
    decompositions: List[object] = field(default_factory=list)
    removals: List[object] = field(default_factory=list)


def _frame_progress(progress, shares, index, lock):
    def callback(fraction, message=None):
        with lock:
            shares[index] = float(fraction)
            total = sum(shares) / len(shares)
        if progress is not None:
            progress(0.85 * total, message)

    return callback


def process_stack(
    stack,
    k=DEFAULT_K,
    polynomial="plane",
    stable_area="auto",
    deformation_components=None,
    error_components=None,
    significance=SIGNIFICANCE,
    by_frame=True,
    corrected_path=None,
    progress=None,
) -> StackResult:
    """Decompose and correct ``stack`` (a :class:`~core.stack.Stack` or its path).

    Args:
        k: components per frame (None = the suggestion of each frame).
        polynomial: surface kind (``core.polynomial``); stable_area: ``"auto"`` (stable ground by
            significance, ``core.stable_ground``) or None (all points, Chen et al. 2023 literally).
        by_frame: each frame on its own (True) or the whole stack as one decomposition.
        corrected_path: a new folder for the corrected stack (None: not written).
        progress: ``progress(fraction, message=None)``; raising in it cancels the cluster work.
    """
    import threading

    stack = open_stack(stack) if isinstance(stack, (str, os.PathLike)) else stack
    if corrected_path is not None and os.path.exists(corrected_path):
        raise ValueError(f"corrected_path: {corrected_path} exists already; choose a new folder")
    frames = stack.frames if by_frame and stack.frames else [("all", 0, stack.n_points)]
    matrix = stack.displacement()
    coords = {n: stack.per_point(n, matrix) for n in ("x", "y", "z")}
    if polynomial == "quadratic_elevation" and coords["z"] is None:
        raise ValueError(
            "z: the quadratic_elevation polynomial needs an elevation per point; the stack has none"
        )
    shares = [0.0] * len(frames)
    lock = threading.Lock()

    def one(index):
        _, r0, r1 = frames[index]
        report = _frame_progress(progress, shares, index, lock)
        X = matrix[r0:r1]
        x, y, z = (None if c is None else c[r0:r1] for c in (coords["x"], coords["y"], coords["z"]))
        dec = decompose(X, k=k, dates=stack.dates, x=x, y=y, z=z, progress=report)
        removal = remove_errors(
            X, dec, dates=stack.dates, x=x, y=y, z=z, polynomial=polynomial, fit_mask=stable_area,
            deformation_components=deformation_components, error_components=error_components,
            significance=significance,
        )
        return dec, removal

    with ThreadPoolExecutor(min(MAX_FRAME_THREADS, len(frames))) as pool:
        done = [f.result() for f in [pool.submit(one, i) for i in range(len(frames))]]
    decs = [d for d, _ in done]
    removals = [r for _, r in done]
    k_max = max(d.k for d in decs)
    lazy = []
    for dec, removal in zip(decs, removals):
        lazy += [
            removal.velocity_mm_per_year,
            removal.velocity_std_mm_per_year,
            removal.residual_rms_mm,
            dec.spatial,
        ]
    store = None
    if corrected_path is not None:
        store = _corrected_store(stack, corrected_path, [r.corrected_mm for r in removals])
        lazy.append(store)
    try:
        values = run(lazy, progress, (0.85, 1.0))
    except BaseException:
        if corrected_path is not None:
            shutil.rmtree(corrected_path, ignore_errors=True)
        raise
    if corrected_path is not None:
        _finish_corrected(stack, corrected_path)
    maps = np.full((stack.n_points, k_max), np.nan)
    frame_index = np.zeros(stack.n_points, dtype=np.int32)
    parts = [values[4 * i : 4 * i + 4] for i in range(len(decs))]
    for i, ((_, r0, r1), dec, part) in enumerate(zip(frames, decs, parts)):
        maps[r0:r1, : dec.k] = np.asarray(part[3]) * dec.sigma[None, :]
        frame_index[r0:r1] = i
        dec.spatial = np.asarray(part[3])
    stable = np.concatenate([np.asarray(r.fit_mask, dtype=bool) for r in removals])
    return StackResult(
        velocity_mm_per_year=np.concatenate([p[0] for p in parts]),
        velocity_std_mm_per_year=np.concatenate([p[1] for p in parts]),
        residual_rms_mm=np.concatenate([p[2] for p in parts]),
        stable=stable if stable_area is not None else np.zeros(stack.n_points, dtype=bool),
        component_maps_mm=maps,
        frame_index=frame_index,
        decompositions=decs,
        removals=removals,
    )


def _corrected_store(stack, path, corrected):
    """A delayed write of the corrected frames into a new stack at ``path`` (no marker yet)."""
    import dask.array as da
    import zarr

    group = zarr.open_group(path, mode="w")
    for name in ("ids", "x", "y", "z"):
        if stack.has(name):
            # not zarr.copy: zarr 3 (Debian 13) raises NotImplementedError for it
            source = stack.group[name]
            data = source[:]
            group.create_dataset(name, shape=data.shape, chunks=source.chunks, dtype=data.dtype, data=data)
    m, n = stack.shape
    target = group.create_dataset(
        MATRIX, shape=(m, n), chunks=(stack.chunk_rows, n), dtype="f4", compressor=None
    )
    whole = da.concatenate(corrected, axis=0) if len(corrected) > 1 else corrected[0]
    return whole.astype(np.float32).rechunk((stack.chunk_rows, n)).store(target, lock=False, compute=False)


def _finish_corrected(stack, path):
    import zarr

    attrs = dict(stack.group.attrs)
    attrs.update(format=STACK_FORMAT, version=STACK_VERSION, corrected_from=os.path.abspath(stack.path))
    zarr.open_group(path, mode="r+").attrs.update(attrs)
