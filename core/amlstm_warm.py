"""Per-PS warm start of :func:`~.amlstm_simulation.simulate_points` (issue 11).

A PS point's AM-LSTM may start from its well's trained network (:func:`transfer_params`) and
train for fewer epochs (:func:`warm_config`), about 4x faster than a cold start; by default only
the points of wells whose network earns it on the validation months (:func:`warm_start_wells`).
"""

import math
from dataclasses import replace

import numpy as np

from . import forecast_metrics as fm
from .amlstm import SPLIT_TRAIN, SPLIT_VALIDATION, TrainingConfig, predict_models, train_models
from .amlstm_data import SimulationData, fill_heads, scale, unscale
from .amlstm_simulation import SimulationModel, _rows_of, _scaled_windows, _stage

WARM_EPOCHS, WARM_PATIENCE = 0.2, 1.0 / 3.0  # per-point warm start: fractions of the wells' config


def train_points(model, x, group, y_scaled, warm, y_range, config, progress):
    """Train the cold points, then the warm ones (each set batched); params in point order."""
    params = {}
    done = 0
    for is_warm in (False, True):
        rows = np.flatnonzero(warm == is_warm)
        if rows.size == 0:
            continue
        cfg = config or (warm_config(model.config) if is_warm else model.config)
        init = transfer_params(model, group[rows], y_range[0][rows], y_range[1][rows]) if is_warm else None
        stage = _stage(progress, done / group.size, (done + rows.size) / group.size)
        part, _ = train_models(x, group[rows], y_scaled[rows], model.split, cfg, True, stage, init=init)
        for name, value in part.items():
            if name not in params:
                params[name] = np.zeros((group.size,) + value.shape[1:], dtype=value.dtype)
            params[name][rows] = value
        done += rows.size
    return params


def warm_start_wells(model: SimulationModel, data: SimulationData) -> dict:
    """Per well of ``model``: may its PS points warm start from its network?

    **[choice]** Judged on the validation months only (the test months stay unseen): the well's
    AM-LSTM that :func:`transfer_params` hands over (its first ensemble member) must have a lower
    validation RMSE than the linear trend (fitted on the training months) and than persistence
    from the validation origin. A network that does not beat these baselines on its own well
    would hand its points a poor start; they train cold instead.

    Returns:
        dict of (W,) arrays: ``warm`` (bool), ``rmse_network``, ``rmse_trend``,
        ``rmse_persistence`` (mm, validation months).
    """
    rows = _rows_of(model.feature_ids, data.feature_ids)
    heads = fill_heads(data.heads_m[rows])
    target_index = np.searchsorted(data.months, model.target_months)
    x = _scaled_windows(heads, target_index, model.config, model.x_min, model.x_max)
    increments = np.asarray(data.increments_mm[rows], dtype=np.float64)
    y = increments[:, target_index]
    first = np.arange(model.feature_ids.size) * int(getattr(model.config, "ensemble", 1))
    first_params = {k: v[first] for k, v in model.params["amlstm"].items()}
    pred, _ = predict_models(first_params, x, np.arange(first.size), True, model.config.chunk_models)
    network = unscale(pred, model.y_min[:, None], model.y_max[:, None])
    val = model.split == SPLIT_VALIDATION
    val_months = np.zeros(data.months.size, dtype=bool)
    val_months[target_index[val]] = True
    trend = fm.linear_trend(y, model.split == SPLIT_TRAIN)
    persistence = fm.persistence_from_origin(increments, val_months)[:, target_index]
    out = {
        f"rmse_{k}": _rmse(y[:, val], p[:, val])
        for k, p in (("network", network), ("trend", trend), ("persistence", persistence))
    }
    # a baseline that cannot be computed (NaN) does not block; a network without a score does
    beats = [
        ~(out["rmse_network"] >= np.nan_to_num(out[k], nan=np.inf))
        for k in ("rmse_trend", "rmse_persistence")
    ]
    out["warm"] = np.isfinite(out["rmse_network"]) & beats[0] & beats[1]
    return out


def _rmse(observed, predicted):
    err = (predicted - observed) ** 2
    ok = np.isfinite(err)
    count = ok.sum(axis=1)
    return np.where(count > 0, np.sqrt(np.where(ok, err, 0.0).sum(axis=1) / np.maximum(count, 1)), np.nan)


def warm_config(config: TrainingConfig) -> TrainingConfig:
    """The per-point training of a warm start: a fifth of the epochs and a third of the
    patience of the wells' configuration (the network starts from its well's solution)."""
    return replace(
        config,
        epochs=max(1, math.ceil(config.epochs * WARM_EPOCHS)),
        patience=max(1, math.ceil(config.patience * WARM_PATIENCE)),
    )


def transfer_params(model: SimulationModel, group, y_min, y_max):
    """Per-point starting weights: the AM-LSTM of each point's well (``group``; the first of its
    ensemble members), its linear
    output mapped from the well's target scaling to the point's (``y_min``/``y_max``), so the
    point's network starts by predicting its well's series in mm."""
    rows = group * int(getattr(model.config, "ensemble", 1))  # the well's first ensemble member
    init = {k: np.array(v[rows], dtype=np.float32) for k, v in model.params["amlstm"].items()}
    lo_w, hi_w = model.y_min[group], model.y_max[group]
    offset = scale(unscale(0.0, lo_w, hi_w), y_min, y_max)  # f(s) = slope * s + offset
    slope = scale(unscale(1.0, lo_w, hi_w), y_min, y_max) - offset
    init["w_out"] = (init["w_out"] * slope[:, None]).astype(np.float32)
    init["b_out"] = (init["b_out"] * slope[:, None] + offset[:, None]).astype(np.float32)
    return init
