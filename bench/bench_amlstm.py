"""AM-LSTM timings (issue 11, acceptance 4; Cao et al.'s configuration).

1. The paper's configuration per well: ~70 months, 4 aquifer layers, hidden 16, 100 epochs
   (early stopping off so all 100 run), AM-LSTM and LSTM, one well at a time.
2. Per-PS networks: N PS points (default 10 000; each its own AM-LSTM on its own monthly
   deformation, its well's heads) as ONE batched tensor program, against a Python loop over a
   subset of the same points, same epochs, same run. The ratio is per point and epoch.

    python bench/bench_amlstm.py [--points 10000] [--epochs 100] [--ps-epochs 3] [--loop-points 4]

``--ps-epochs`` limits the per-PS epochs so the bench ends on a shared machine; the time of
``--epochs`` epochs is then extrapolated linearly (every epoch does the same work when early
stopping is off) and printed as such.
"""

import argparse
import time

from common import mount_package

mount_package()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from subsidence_lab.core.amlstm import TrainingConfig, train_models  # noqa: E402
from subsidence_lab.core.amlstm_data import make_windows, scale  # noqa: E402
from subsidence_lab.core.amlstm_synthetic import point_targets, subsidence_wells, well_data  # noqa: E402
from subsidence_lab.core.synthetic import make_study_area  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--ps-epochs", type=int, default=3)
    parser.add_argument("--loop-points", type=int, default=4)
    parser.add_argument("--ps-batch", type=int, default=8, help="batch size of the per-PS networks")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; machine shared by several "
        "engineers (2 cores): timings indicative, ratios within one run"
    )

    area = make_study_area(seed=0, n_points=20000)
    wells = subsidence_wells(area)
    data = well_data(area, wells)
    config = TrainingConfig(epochs=args.epochs, patience=args.epochs + 1)
    win = make_windows(data, config)
    n_train = int((win.split == 0).sum())
    print(
        f"\n1. Paper configuration per well: {data.months.size} months of heads, {win.target_index.size} "
        f"windows ({n_train} train), {len(data.layers)} layers, hidden {config.hidden_size}, batch "
        f"{config.batch_size}, {config.epochs} epochs"
    )
    y = data.increments_mm[:, win.target_index]
    lo, hi = np.nanmin(y[:, win.split == 0], axis=1), np.nanmax(y[:, win.split == 0], axis=1)
    ys = scale(y, lo[:, None], hi[:, None])
    for w, well in enumerate(wells):
        for attention in (True, False):
            start = time.perf_counter()
            train_models(win.x[w : w + 1], [0], ys[w : w + 1], win.split, config, attention)
            name = "AM-LSTM" if attention else "LSTM"
            print(f"   well {well}: {name:<8} {time.perf_counter() - start:6.1f} s")

    # Per-PS: the buffer points' true monthly deformation, tiled with independent noise to N points.
    ids, owner, months, inc = point_targets(area, wells, radius_m=300.0)
    rng = np.random.default_rng(0)
    pick = rng.integers(0, ids.size, args.points)
    group = np.array([wells.index(o) for o in owner[pick]])
    grid = np.searchsorted(data.months, months)
    targets = np.full((args.points, data.months.size), np.nan)
    targets[:, grid] = inc[pick] + rng.normal(0, 0.5, (args.points, months.size))
    yp = targets[:, win.target_index]
    lo, hi = np.nanmin(yp[:, win.split == 0], axis=1), np.nanmax(yp[:, win.split == 0], axis=1)
    yps = scale(yp, lo[:, None], hi[:, None])
    ps_config = TrainingConfig(epochs=args.ps_epochs, patience=args.ps_epochs + 1, batch_size=args.ps_batch)
    print(
        f"\n2. Per-PS AM-LSTMs: {args.points} points of {ids.size} distinct buffer PS, {ps_config.epochs} "
        f"epochs each (batch {ps_config.batch_size}, chunks of {ps_config.chunk_models} networks)"
    )
    start = time.perf_counter()
    train_models(win.x, group, yps, win.split, ps_config, True)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for p in range(args.loop_points):
        train_models(win.x, group[p : p + 1], yps[p : p + 1], win.split, ps_config, True)
    loop = time.perf_counter() - start
    per_batched = batched / args.points
    per_loop = loop / args.loop_points
    scale_epochs = args.epochs / args.ps_epochs
    print(f"   batched: {batched:8.1f} s for {args.points} points  ({1e3 * per_batched:.2f} ms per point)")
    print(f"   loop:    {loop:8.1f} s for {args.loop_points} points  ({1e3 * per_loop:.2f} ms per point)")
    print(f"   batched is {per_loop / per_batched:.1f}x faster per point than the Python loop")
    print(
        f"   {args.points} points x {args.epochs} epochs: batched ~{batched * scale_epochs / 60:.1f} min, "
        f"loop ~{per_loop * args.points * scale_epochs / 3600:.1f} h (extrapolated from {args.ps_epochs} "
        "epochs; early stopping usually ends sooner)"
    )


if __name__ == "__main__":
    main()
