"""AM-LSTM timings (issue 11, acceptance 4; Cao et al.'s configuration).

1. The paper's configuration per well: ~70 months, 4 aquifer layers, hidden 16, 100 epochs
   (early stopping off so all 100 run), AM-LSTM and LSTM, one network at a time; and the
   default ensemble of one well (its members batched).
2. Per-PS networks: N PS points (default 10 000; each its own AM-LSTM on its own monthly
   deformation, its well's heads) as ONE batched tensor program, against, in the same run:
   - a Python loop over a few of the same points (same configuration, same epochs);
   - the batched cold start with every epoch run (early stopping off: the work per epoch is
     constant, so it is timed on ``--cold-points`` points for ``--cold-epochs`` epochs and
     extrapolated linearly, and printed as such);
   - the batched cold start with early stopping (the default of ``simulate_points``): models
     that stopped leave the batch (timed on ``--cold-points`` random points, scaled to N: the
     points are drawn from one population), with the default worker threads (one per core)
     and with one thread, so the threads' share of the gain shows;
   - the warm start (``simulate_points(warm_start=True)``): each point starts from its well's
     trained AM-LSTM, fewer epochs and early stopping; this one is run for real on all N points.
   Each row gives the wall time and the CPU time (all threads): on a shared machine the wall
   time of the threaded rows depends on what else runs.

    python bench/bench_amlstm.py [--points 10000] [--cold-points 1000] [--cold-epochs 2]
"""

import argparse
import time

from common import mount_package

mount_package()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from subsidence_lab.core.amlstm import TrainingConfig, train_models  # noqa: E402
from subsidence_lab.core.amlstm_data import make_windows, scale  # noqa: E402
from subsidence_lab.core.amlstm_simulation import simulate, simulate_points  # noqa: E402
from subsidence_lab.core.amlstm_synthetic import point_targets, subsidence_wells, well_data  # noqa: E402
from subsidence_lab.core.amlstm_warm import warm_config  # noqa: E402
from subsidence_lab.core.synthetic import make_study_area  # noqa: E402

CPU = {}  # CPU seconds (all threads) of the last timed call, by function


def timed(fn, *args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    CPU[fn] = time.process_time() - cpu
    return out, time.perf_counter() - start


def per_well(data, wells, epochs):
    config = TrainingConfig(epochs=epochs, patience=epochs + 1)
    win = make_windows(data, config)
    n_train = int((win.split == 0).sum())
    print(
        f"\n1. Paper configuration per well: {data.months.size} months of heads, {win.target_index.size} "
        f"windows ({n_train} train), {len(data.layers)} layers, hidden {config.hidden_size}, batch "
        f"{config.batch_size}, {config.epochs} epochs (early stopping off)"
    )
    y = data.increments_mm[:, win.target_index]
    lo, hi = np.nanmin(y[:, win.split == 0], axis=1), np.nanmax(y[:, win.split == 0], axis=1)
    ys = scale(y, lo[:, None], hi[:, None])
    e = config.ensemble
    for w, well in enumerate(wells):
        line = []
        for attention in (True, False):
            _, one = timed(train_models, win.x[w : w + 1], [0], ys[w : w + 1], win.split, config, attention)
            _, ens = timed(
                train_models,
                win.x[w : w + 1],
                [0] * e,
                ys[[w] * e],
                win.split,
                config,
                attention,
                None,
                range(e),
            )
            line.append(f"{'AM-LSTM' if attention else 'LSTM'} {one:5.1f} s (ensemble of {e}: {ens:5.1f} s)")
        print(f"   well {well}: " + ";  ".join(line))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--cold-points", type=int, default=1000)
    parser.add_argument("--cold-epochs", type=int, default=2)
    parser.add_argument("--loop-points", type=int, default=4)
    parser.add_argument("--skip-wells", action="store_true", help="skip part 1")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (training: a worker thread per "
        "thread, one torch thread each); machine shared by several engineers (2 cores): timings "
        "indicative, ratios within one run"
    )
    area = make_study_area(seed=0, n_points=20000)
    wells = subsidence_wells(area)
    data = well_data(area, wells)
    if not args.skip_wells:
        per_well(data, wells, args.epochs)

    # Per-PS: the buffer points' true monthly deformation, tiled with independent noise to N points.
    ids, owner, months, inc = point_targets(area, wells, radius_m=300.0)
    rng = np.random.default_rng(0)
    pick = rng.integers(0, ids.size, args.points)
    group = np.array([wells.index(o) for o in owner[pick]])
    targets = np.full((args.points, data.months.size), np.nan)
    targets[:, np.searchsorted(data.months, months)] = inc[pick] + rng.normal(
        0, 0.5, (args.points, months.size)
    )
    config = TrainingConfig(epochs=args.epochs)
    win = make_windows(data, config)
    yp = targets[:, win.target_index]
    lo, hi = np.nanmin(yp[:, win.split == 0], axis=1), np.nanmax(yp[:, win.split == 0], axis=1)
    yps = scale(yp, lo[:, None], hi[:, None])
    warm = warm_config(config)
    n, nc = args.points, min(args.cold_points, args.points)
    print(
        f"\n2. Per-PS AM-LSTMs: {n} points of {ids.size} distinct buffer PS; batch {config.batch_size}, "
        f"chunks of {config.chunk_models} networks; cold: {config.epochs} epochs, "
        f"patience {config.patience}; "
        f"warm: {warm.epochs} epochs, patience {warm.patience}"
    )
    flat = TrainingConfig(epochs=args.cold_epochs, patience=args.cold_epochs + 1)

    def loop_over_points():
        for p in range(args.loop_points):
            train_models(win.x, group[p : p + 1], yps[p : p + 1], win.split, flat, True)

    _, loop = timed(loop_over_points)
    loop_cpu = CPU[loop_over_points]
    _, flat_t = timed(train_models, win.x, group[:nc], yps[:nc], win.split, flat, True)
    flat_cpu = CPU[train_models]
    per_loop = loop / args.loop_points / args.cold_epochs  # per point and epoch
    per_flat = flat_t / nc / args.cold_epochs
    every = per_flat * n * config.epochs
    (_, hist), stop_t = timed(train_models, win.x, group[:nc], yps[:nc], win.split, config, True)
    stop, stop_cpu = stop_t * n / nc, CPU[train_models] * n / nc
    _, one_t = timed(train_models, win.x, group[:nc], yps[:nc], win.split, config, True, workers=1)
    one, one_cpu = one_t * n / nc, CPU[train_models] * n / nc
    model, well_t = timed(simulate, data, config)
    pts, warm_t = timed(simulate_points, model.model, data, ids[pick], owner[pick], targets, warm_start=True)
    epochs = f"{hist['epochs_run'].mean():.1f} ep"
    rows = [
        (
            "Python loop, all epochs",
            per_loop * n * config.epochs,
            loop_cpu / loop * per_loop * n * config.epochs,
            f"{args.loop_points} pts x {args.cold_epochs} ep",
        ),
        ("batched cold, all epochs", every, flat_cpu / flat_t * every, f"{nc} pts x {args.cold_epochs} ep"),
        (f"batched cold, early stop ({epochs}) = DEFAULT", stop, stop_cpu, f"{nc} pts, all epochs"),
        (f"batched cold, early stop ({epochs}), one thread", one, one_cpu, f"{nc} pts, all epochs"),
        ("batched warm start (warm_start=True, opt-in)", warm_t, CPU[simulate_points], f"{n} pts, for real"),
    ]
    print(
        f"   {'':<52} {str(n) + '-PS time':>12} {'CPU time':>10}  {'vs loop':>8}  {'vs cold':>8}  measured on"
    )
    for name, seconds, cpu, how in rows:
        print(
            f"   {name:<52} {seconds / 60:8.1f} min {cpu / 60:6.1f} min  {rows[0][1] / seconds:7.1f}x  "
            f"{every / seconds:7.1f}x  {how}"
        )
    print(
        f"   batched is {per_loop / per_flat:.1f}x faster per point and epoch than the Python loop "
        f"(same epochs); the wells' own training for the warm start took {well_t:.0f} s "
        f"(ensemble of {config.ensemble}, AM-LSTM and LSTM)"
    )
    print(
        f"   target: {n} PS under 3 min with the default cold start: {'met' if stop < 180 else 'NOT met'} "
        f"({stop / 60:.1f} min; one thread {one / 60:.1f} min; warm start {warm_t / 60:.1f} min); "
        f"at least 10x the loop: {'met' if rows[0][1] / stop >= 10 else 'NOT met'} ({rows[0][1] / stop:.0f}x)"
    )
    assert np.isfinite(pts).all()


if __name__ == "__main__":
    main()
