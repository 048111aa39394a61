"""Benchmark of the PCA on a Dask cluster (issue 14, acceptance 2). Not a test: run it by hand.

    /opt/subsidence-lab-venv/bin/python bench/bench_dask.py                 # 1e7 x 300, 12 GB
    /opt/subsidence-lab-venv/bin/python bench/bench_dask.py --rows 200000   # small

1. Builds a stack of ``--rows`` x ``--dates`` (float32, blocks of ``--chunk-rows``) on disk under
   ``--dir`` (default /var/tmp), streaming: one block of synthetic rows at a time (3 smooth
   components over random maps + white noise, 0.1 % of the rows with a gap).
2. Decomposes the first ``--small-rows`` rows and the whole stack (k = 6, no classification) two
   ways from the same stack: one process streaming (core.pca.decompose reading the Zarr array
   block by block, the baseline) and a LocalCluster of ``--workers`` processes x 1 thread on
   127.0.0.1 (the dask path of the same function). Prints times, ratio, the scaling from the
   small to the full size, the agreement of the two results, the peak RSS of this process and of
   each worker, and the per-block cost with the projected time of 1e8 x 300 on N workers.
The stack is deleted at the end (``--keep`` keeps it).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import mount_package, timed

mount_package()

from subsidence_lab.core import distributed as dist  # noqa: E402
from subsidence_lab.core.pca import decompose  # noqa: E402
from subsidence_lab.core.stack import StackWriter  # noqa: E402


def peak_rss_gb():
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited from a parent)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def build_stack(path, rows, dates, chunk_rows, seed=0):
    rng = np.random.default_rng(seed)
    day = np.datetime64("2019-01-01") + np.arange(dates) * 6
    t = np.arange(dates) / 61.0
    curves = np.stack([-20 * t, 3 * np.sin(2 * np.pi * t), rng.normal(0, 2, dates).cumsum() / 5]).astype(
        np.float32
    )
    writer = StackWriter(path, day, crs="EPSG:3035", chunk_rows=chunk_rows)
    for start in range(0, rows, chunk_rows):
        stop = min(rows, start + chunk_rows)
        block = rng.standard_normal((stop - start, 3), dtype=np.float32) @ curves
        block += rng.standard_normal(block.shape, dtype=np.float32)
        gaps = rng.random(stop - start) < 0.001
        block[gaps, rng.integers(1, dates, int(gaps.sum()))] = np.nan
        ids = np.arange(start + 1, stop + 1)
        writer.add(ids, 4.0e6 + rng.random(stop - start) * 5e4, 3.0e6 + rng.random(stop - start) * 5e4, block)
    return writer.close()


def worker_peaks(client):
    return client.run(peak_rss_gb)


def one_block_cost(stack, k=6):
    """Seconds of the two per-block tasks (pass 1 and projection) on one stored block, in process."""
    block = stack.rows(0, stack.chunk_rows)
    c = np.nanmean(block[:8192].astype(np.float64), axis=0)
    t_axis = np.arange(stack.n_dates, dtype=np.float64)
    start = time.perf_counter()
    block = stack.rows(0, stack.chunk_rows)
    summary, kept = dist._first_pass(block, c, t_axis, 0)
    read_pass = time.perf_counter() - start
    projector = np.linalg.qr(np.random.default_rng(0).standard_normal((stack.n_dates, k)))[0]
    start = time.perf_counter()
    dist._project_block(stack.rows(0, stack.chunk_rows), kept, projector, c @ projector, c @ projector, [])
    return read_pass, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small-rows", type=int, default=None, help="default rows / 10")
    parser.add_argument("--dates", type=int, default=300)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    small = args.small_rows or max(args.rows // 10, args.chunk_rows)
    folder = tempfile.mkdtemp(prefix="subsidence_bench_dask_", dir=args.dir)
    path = os.path.join(folder, "stack.zarr")
    print(
        f"bench_dask: {args.rows} x {args.dates} stack under {folder} (the machine is shared: 2 cores, "
        "other engineers' jobs running; timings are indicative)"
    )
    try:
        stack, seconds = timed(build_stack, path, args.rows, args.dates, args.chunk_rows)
        size_gb = args.rows * args.dates * 4 / 1e9
        print(
            f"stack built streaming: {seconds:.1f} s ({size_gb:.2f} GB float32), "
            f"peak RSS {peak_rss_gb():.2f} GB"
        )
        from distributed import Client, LocalCluster

        results = {}
        for rows in (small, args.rows):
            X_zarr = stack.group["displacement_mm"]
            view = X_zarr if rows == args.rows else _RowView(X_zarr, rows)
            base, t_base = timed(decompose, view, k=6, classify=False, chunk_rows=args.chunk_rows)
            results[(rows, "one process")] = t_base
            print(
                f"{rows:>10} rows  one process streaming: {t_base:8.1f} s   peak RSS {peak_rss_gb():.2f} GB"
            )
            with (
                LocalCluster(
                    n_workers=args.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                worker_dashboard_address="127.0.0.1:0",
                    memory_limit="3GB",
                ) as cluster,
                Client(cluster) as client,
            ):
                lazy = stack.displacement()[:rows]
                dec, t_dask = timed(decompose, lazy, k=6, classify=False)
                spatial, t_gather = timed(dist.run, [dec.spatial])
                t_dask += t_gather
                peaks = worker_peaks(client)
            results[(rows, "dask")] = t_dask
            # Components 1-3 carry the planted signal; 4-6 are white noise with nearly equal sigma,
            # whose directions any rounding rotates, so they are compared through sigma only.
            agree = np.max(np.abs(np.asarray(spatial[0])[:, :3] - base.spatial[:, :3])) / np.max(
                np.abs(base.spatial[:, :3])
            )
            agree_sigma = np.max(np.abs(dec.sigma - base.sigma) / base.sigma)
            print(
                f"{rows:>10} rows  dask {args.workers} workers:    {t_dask:8.1f} s   "
                "ratio one process / dask "
                f"{t_base / t_dask:.2f}   S1-3 rel. diff {agree:.1e}, sigma {agree_sigma:.1e}   "
                "peak RSS client "
                f"{peak_rss_gb():.2f} GB, workers {', '.join(f'{v:.2f}' for v in peaks.values())} GB"
            )
            del base, spatial, dec
        for how in ("one process", "dask"):
            ratio = results[(args.rows, how)] / results[(small, how)]
            print(
                f"scaling {how}: {small} -> {args.rows} rows: "
                f"x{ratio:.2f} time for x{args.rows / small:.0f} rows"
            )
        read_pass, project = one_block_cost(stack)
        per_block = read_pass + project
        blocks_1e8 = int(np.ceil(1e8 / args.chunk_rows))
        print(
            f"per block of {args.chunk_rows} x {args.dates} (one core): pass 1 {read_pass:.2f} s, projection "
            f"{project:.2f} s; 1e8 x {args.dates} = {blocks_1e8} blocks"
        )
        for workers in (1, 8, 32, 128):
            print(
                f"  projected 1e8 x {args.dates} on {workers:>3} single-core workers: "
                f"{blocks_1e8 * per_block / workers / 60:.1f} min (+ EM iterations over the gap rows)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"deleted {folder}")


class _RowView:
    """The first ``rows`` rows of a Zarr array, sliceable like it (the baseline on a subset)."""

    def __init__(self, array, rows):
        self.array, self.shape, self.dtype, self.ndim = array, (rows, array.shape[1]), array.dtype, 2

    def __getitem__(self, index):
        start, stop, _ = index.indices(self.shape[0])
        return self.array[start:stop]


if __name__ == "__main__":
    main()
