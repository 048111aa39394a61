"""Which layer drives the synthetic subsidence, and who can tell (issue 11, the attention bar).

Three checks per subsidence well of both generators, on seeds given on the command line:

1. **Truth (study area only).** Each layer's share of the energy of the true monthly
   deformation (its delayed new-low compaction plus its elastic part), from the generator's own
   heads and compressibilities: the layer the attention should rank first.
2. **Window content.** A linear score of each layer's window content (the scaled windows the
   networks read: values, absolute values, squares, per month), softmax over the layers, fitted
   to name the driving layer on ``--fit-seeds`` and scored on ``--test-seeds``: the form of the
   input attention (a score of each layer's window, shared by the layers) can name the driver
   when this can.
3. **The trained networks' reliance.** The AM-LSTM and LSTM of :func:`simulate` (defaults): the
   mean squared change of their training and validation predictions when one layer's input is
   zeroed; the layer with the largest change is the one they rely on most. Beside it, the layer
   the attention ranks first.

    python scripts/amlstm_driver_diagnostics.py [--fit-seeds 0 1] [--test-seeds 2 3]

Minutes (it trains the default networks on every test seed).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headless import mount_package

mount_package()

import numpy as np  # noqa: E402
from amlstm_acceptance import cases  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from subsidence_lab.core import synthetic as syn  # noqa: E402
from subsidence_lab.core.amlstm import TrainingConfig  # noqa: E402
from subsidence_lab.core.amlstm_data import fill_heads, make_windows  # noqa: E402
from subsidence_lab.core.amlstm_simulation import _predict_ensemble, _scaled_windows, simulate  # noqa: E402
from subsidence_lab.core.amlstm_synthetic import well_data  # noqa: E402
from subsidence_lab.core.psdata import DAYS_PER_YEAR  # noqa: E402
from subsidence_lab.core.synthetic_base import LAYERS, SyntheticParams  # noqa: E402
from subsidence_lab.core.synthetic_groundwater import _layer_shares, _running_min_delay  # noqa: E402


def truth_shares(seed, area):
    """Per study-area subsidence bowl: each layer's share of the true increments' energy."""
    p = SyntheticParams(seed=seed, n_points=area.ps.ids.size).validate()
    dates = syn._sar_dates(p)
    bowls = syn._place_features(p, syn._dem_function(p))
    gw_dates, secular, seasonal = syn.daily_heads(p, dates, syn._place_wells(p, bowls)[3])
    sar = (dates - gw_dates[0]).astype(np.int64)
    monthly = (gw_dates - gw_dates[0]).astype(np.int64)
    rebuilt = (secular + seasonal)[:, :, monthly]
    off = np.abs(rebuilt - area.groundwater.levels_m)  # only the head noise (0.08 m) may differ
    if np.nanmax(off) > 8 * p.head_noise_m:
        raise RuntimeError(f"the rebuilt heads are not the generator's (off by up to {np.nanmax(off):.2f} m)")
    tau = np.asarray(p.delay_years) * DAYS_PER_YEAR
    elastic = p.elastic_mm_per_m * _layer_shares(p) / _layer_shares(p).max()
    out = {}
    for b, bowl in enumerate(area.bowls):
        if bowl["kind"] != "subsidence":
            continue
        coeff = np.array([area.layer_compressibility_mm_per_m[b][n] for n in LAYERS])
        drawdown = np.stack([_running_min_delay(secular[b, j], tau[j]) for j in range(len(LAYERS))])[:, sar]
        per_layer = coeff[:, None] * drawdown + elastic[:, None] * seasonal[b][:, sar]
        energy = (np.diff(per_layer, axis=1) ** 2).sum(axis=1)
        out[bowl["well_id"]] = energy / energy.sum()
    return out


def content_features(x):
    """(W, N, T, L) windows -> (W, N, L, 3T): each layer's values, absolute values and squares."""
    z = x.transpose(0, 1, 3, 2).astype(np.float64)
    return np.concatenate([z, np.abs(z), z**2], axis=-1)


def fit_scorer(features, labels):
    def loss(w):
        total = 0.0
        for f, lab in zip(features, labels):
            s = f @ w
            s = s - s.max(-1, keepdims=True)
            logp = s - np.log(np.exp(s).sum(-1, keepdims=True))
            total -= logp[np.arange(lab.size), :, lab].mean()
        return total / len(features) + 1e-3 * (w**2).sum()

    return minimize(loss, np.zeros(features[0].shape[-1]), method="L-BFGS-B").x


def first_by_score(features, w):
    """Per well, the layer with the highest mean softmax score over its windows."""
    s = features @ w
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).mean(axis=1).argmax(-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fit-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--test-seeds", type=int, nargs="*", default=[2, 3])
    args = parser.parse_args()
    config = TrainingConfig()
    sets = {"fit": args.fit_seeds, "test": args.test_seeds}
    windows = {}
    for part, seeds in sets.items():
        for generator, seed, area, wells, drivers in cases(urban_seeds=seeds, study_seeds=seeds):
            kind = generator.split("_")[0]
            data = well_data(area, wells)
            labels = np.array([LAYERS.index(d) for d in drivers])
            windows.setdefault((part, kind), []).append((generator, seed, area, wells, labels, data))
    print("1. Truth: each layer's share of the true monthly deformation's energy (study area)")
    for _generator, seed, area, *_ in windows[("fit", "study")] + windows[("test", "study")]:
        for well, share in truth_shares(seed, area).items():
            print(f"   seed {seed} {well}: " + ", ".join(f"{n} {v:.2f}" for n, v in zip(LAYERS, share)))
    print(f"\n2./3. Layer ranked first, per generator (content scorer fitted on seeds {args.fit_seeds})")
    for kind in ("study", "urban"):
        fit = windows[("fit", kind)]
        feats = [content_features(make_windows(d, config).x) for *_, d in fit]
        w = fit_scorer(feats, [lab for *_, lab, _ in fit])
        hits = {"content": 0, "attention": 0, "amlstm": 0, "lstm": 0, "wells": 0}
        for *_, labels, data in windows[("test", kind)]:
            hits["wells"] += labels.size
            scored = first_by_score(content_features(make_windows(data, config).x), w)
            hits["content"] += int((scored == labels).sum())
            result = simulate(data, config)
            model = result.model
            hits["attention"] += int((result.attention_mean.argmax(-1) == labels).sum())
            ti = np.searchsorted(data.months, model.target_months)
            x = _scaled_windows(fill_heads(data.heads_m), ti, config, model.x_min, model.x_max)
            seen = model.split < 2  # training and validation months only
            for net in ("amlstm", "lstm"):
                base, _ = _predict_ensemble(model.params[net], x, config, net == "amlstm")
                change = []
                for k in range(x.shape[-1]):
                    zeroed = x.copy()
                    zeroed[..., k] = 0.0
                    pred, _ = _predict_ensemble(model.params[net], zeroed, config, net == "amlstm")
                    change.append(np.mean((pred - base)[:, seen] ** 2, axis=1))
                hits[net] += int((np.argmax(np.stack(change, 1), axis=1) == labels).sum())
        n = hits.pop("wells")
        print(
            f"   {kind} (seeds {args.test_seeds}, {n} wells): driver first by the window-content score on "
            f"{hits['content']}/{n}, by the AM-LSTM attention on {hits['attention']}/{n}, by the AM-LSTM's "
            f"reliance on {hits['amlstm']}/{n}, by the LSTM's on {hits['lstm']}/{n}"
        )


if __name__ == "__main__":
    main()
