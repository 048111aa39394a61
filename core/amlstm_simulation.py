"""AM-LSTM subsidence simulation against honest baselines, per well and per PS point.

METHODS.md section 5 (Cao et al.; input attention of Qin et al. 2017). :func:`simulate` trains,
on the same chronological split and seeds, the AM-LSTM and the plain LSTM (one batched tensor
program over the wells), fits the physical delayed-compaction baseline, and scores them with
persistence and a linear trend on the test months. :func:`simulate_points` trains one AM-LSTM per
PS point (batched; each point's own monthly deformation, its well's heads). The trained
:class:`SimulationModel` is saved to one file and predicts from new groundwater levels.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from . import forecast_metrics as fm
from .amlstm import (
    SPLIT_TEST,
    SPLIT_TRAIN,
    TrainingConfig,
    import_torch,
    predict_models,
    train_models,
)
from .amlstm_data import (
    SimulationData,
    fill_heads,
    fit_range,
    make_windows,
    scale,
    unscale,
    window_stack,
)
from .linear_baseline import LinearFit, fit_linear, predict_linear
from .physical_baseline import PhysicalFit, fit_physical, predict_physical

FILE_FORMAT = "subsidencelab-amlstm"
FILE_VERSION = 1
NETWORKS = ("amlstm", "lstm")
# Files written before these settings existed were trained as one draw with per-layer scalers.
LEGACY_CONFIG = {"ensemble": 1, "layer_scaling": "layer", "weight_decay": 0.0}


@dataclass
class SimulationModel:
    """Everything a saved model holds: configuration, layer names, scalers, weights, the split,
    the physical and linear fits and the training metrics (one file, :meth:`save` / :meth:`load`;
    files written before the linear baseline existed load with ``linear`` empty)."""

    config: TrainingConfig
    layers: List[str]
    feature_ids: np.ndarray
    x_min: np.ndarray
    x_max: np.ndarray
    y_min: np.ndarray
    y_max: np.ndarray
    params: Dict[str, Dict[str, np.ndarray]]
    physical: List[PhysicalFit]
    target_months: np.ndarray
    split: np.ndarray
    metrics: List[dict] = field(default_factory=list)
    points: Optional[dict] = None
    linear: List[LinearFit] = field(default_factory=list)

    def save(self, path):
        torch = import_torch()
        blob = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "config": self.config.to_dict(),
            "layers": list(self.layers),
            "feature_ids": [str(v) for v in self.feature_ids],
            "scalers": {k: torch.as_tensor(getattr(self, k)) for k in ("x_min", "x_max", "y_min", "y_max")},
            "params": {net: _tensors(torch, p) for net, p in self.params.items()},
            "physical": [fit.to_dict() for fit in self.physical],
            "linear": [fit.to_dict() for fit in self.linear],
            "target_months": [str(v) for v in self.target_months],
            "split": [int(v) for v in self.split],
            "metrics": [
                {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()} for row in self.metrics
            ],
        }
        if self.points is not None:
            blob["points"] = {
                "ids": [str(v) for v in self.points["ids"]],
                "group": torch.as_tensor(self.points["group"]),
                "y_min": torch.as_tensor(self.points["y_min"]),
                "y_max": torch.as_tensor(self.points["y_max"]),
                "params": _tensors(torch, self.points["params"]),
            }
        torch.save(blob, path)

    @classmethod
    def load(cls, path):
        torch = import_torch()
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"model file {path!r}: not readable as an AM-LSTM model ({exc})") from None
        if not isinstance(blob, dict) or blob.get("format") != FILE_FORMAT:
            raise ValueError(f"model file {path!r}: not an AM-LSTM model file of Subsidence Lab")
        points = blob.get("points")
        if points is not None:
            points = {
                "ids": np.array(points["ids"]),
                "group": points["group"].numpy(),
                "y_min": points["y_min"].numpy(),
                "y_max": points["y_max"].numpy(),
                "params": {k: v.numpy() for k, v in points["params"].items()},
            }
        return cls(
            config=TrainingConfig(**{**LEGACY_CONFIG, **blob["config"]}),
            layers=list(blob["layers"]),
            feature_ids=np.array(blob["feature_ids"]),
            **{k: v.numpy() for k, v in blob["scalers"].items()},
            params={net: {k: v.numpy() for k, v in p.items()} for net, p in blob["params"].items()},
            physical=[PhysicalFit.from_dict(d) for d in blob["physical"]],
            target_months=np.array(blob["target_months"], dtype="datetime64[D]"),
            split=np.array(blob["split"], dtype=np.int64),
            metrics=list(blob["metrics"]),
            points=points,
            linear=[LinearFit.from_dict(d) for d in blob.get("linear", [])],
        )

    def predict(self, data: SimulationData, include_points=False) -> dict:
        """Simulated monthly deformation from the heads in ``data`` (targets not needed).

        Features are matched by id; the layers must be the model's. Returns ``months`` (N,),
        ``amlstm``/``lstm``/``physical`` (and ``linear``, when the file has it) (W, N) mm,
        ``attention`` (W, N, T, L) and, with ``include_points``, ``points`` (P, N) for the
        per-PS networks.
        """
        if list(data.layers) != list(self.layers):
            raise ValueError(f"layers: the model was trained on {self.layers}, the data has {data.layers}")
        rows = _rows_of(self.feature_ids, data.feature_ids)
        heads = fill_heads(data.heads_m[rows])
        window = self.config.window
        candidates = np.arange(window - 1, data.months.size)
        complete = np.isfinite(window_stack(heads, candidates, window)).all(axis=(2, 3))
        target_index = candidates[complete.any(axis=0)]
        if target_index.size == 0:
            raise ValueError(f"groundwater: no month has {window} months of levels for the model's wells")
        x = _scaled_windows(heads, target_index, self.config, self.x_min, self.x_max)
        out = {"months": data.months[target_index], "target_index": target_index}
        for net in NETWORKS:
            pred, weights = _predict_ensemble(self.params[net], x, self.config, net == "amlstm")
            out[net] = unscale(pred, self.y_min[:, None], self.y_max[:, None])
            if weights is not None:
                out["attention"] = weights
        out["physical"] = np.stack(
            [predict_physical(fit, heads[w], target_index) for w, fit in enumerate(self.physical)]
        )
        if self.linear:
            out["linear"] = np.stack([predict_linear(fit, x[w]) for w, fit in enumerate(self.linear)])
        if include_points and self.points is not None:
            pts = self.points
            pred, _ = predict_models(pts["params"], x, pts["group"], True, self.config.chunk_models)
            out["points"] = unscale(pred, pts["y_min"][:, None], pts["y_max"][:, None])
        return out


def _tensors(torch, params):
    return {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in params.items()}


def _rows_of(model_ids, data_ids):
    where = {str(v): i for i, v in enumerate(data_ids)}
    missing = [str(v) for v in model_ids if str(v) not in where]
    if missing:
        raise ValueError(f"feature_id: the data has no groundwater for {', '.join(missing[:5])}")
    return np.array([where[str(v)] for v in model_ids], dtype=np.int64)


def _ensemble_layout(n_features, config):
    """Group (feature) and ensemble member of each of the ``n_features * ensemble`` networks,
    feature-major: the members of feature w are rows ``w * ensemble ... w * ensemble + E - 1``."""
    e = int(getattr(config, "ensemble", 1))
    return np.repeat(np.arange(n_features), e), np.tile(np.arange(e), n_features)


def _predict_ensemble(params, x, config, attention):
    """Scaled predictions (W, N) and attention (W, N, T, L), each the mean over the ensemble
    members of a feature (**[choice]** the members differ only by their initial weights)."""
    groups, _ = _ensemble_layout(x.shape[0], config)
    pred, weights = predict_models(params, x, groups, attention, config.chunk_models)
    e = int(getattr(config, "ensemble", 1))
    pred = pred.reshape(x.shape[0], e, -1).mean(axis=1)
    if weights is not None:
        weights = weights.reshape(x.shape[0], e, *weights.shape[1:]).mean(axis=1)
    return pred, weights


def _scaled_windows(heads, target_index, config, x_min, x_max):
    raw = window_stack(heads, target_index, config.window, config.drivers)
    x = np.nan_to_num(scale(raw, x_min[:, None, None, :], x_max[:, None, None, :]))
    return x.astype(np.float32)


@dataclass
class SimulationResult:
    """Per well: ``observed`` and ``predictions[name]`` (W, N) mm on ``months`` (N,), ``split``
    (N,), ``metrics`` rows (one per well and model, test months), ``attention`` (W, N, T, L),
    ``attention_mean`` (W, L), ``history`` per network, and the trained ``model``."""

    model: SimulationModel
    months: np.ndarray
    split: np.ndarray
    observed: np.ndarray
    predictions: Dict[str, np.ndarray]
    metrics: List[dict]
    attention: np.ndarray
    attention_mean: np.ndarray
    history: Dict[str, dict]


def _stage(progress, start, end):
    if progress is None:
        return None
    return lambda fraction, message=None: progress(start + (end - start) * fraction, message)


def simulate(data: SimulationData, config: Optional[TrainingConfig] = None, inelastic=False, progress=None):
    """Train and score every model per well (see the module docstring)."""
    config = (config or TrainingConfig()).validate()
    win = make_windows(data, config)
    y = np.where(win.complete, data.increments_mm[:, win.target_index], np.nan)
    train = win.split == SPLIT_TRAIN
    if not np.isfinite(y[:, train]).any(axis=1).all():
        bad = data.feature_ids[~np.isfinite(y[:, train]).any(axis=1)][0]
        raise ValueError(f"feature_id: {str(bad)!r} has no observed target in the training months")
    y_min, y_max = fit_range(y, train)
    y_scaled = scale(y, y_min[:, None], y_max[:, None])
    groups = np.arange(data.feature_ids.size)
    model_group, members = _ensemble_layout(groups.size, config)
    params, history, predictions, attention = {}, {}, {}, None
    for k, net in enumerate(NETWORKS):
        stage = _stage(progress, 0.45 * k, 0.45 * (k + 1))
        if stage is not None:
            stage(0.0, f"Training the {'AM-LSTM' if net == 'amlstm' else 'LSTM'}")
        params[net], history[net] = train_models(
            win.x,
            model_group,
            y_scaled[model_group],
            win.split,
            config,
            net == "amlstm",
            stage,
            ensemble_member=members,
        )
        pred, weights = _predict_ensemble(params[net], win.x, config, net == "amlstm")
        predictions[net] = unscale(pred, y_min[:, None], y_max[:, None])
        if weights is not None:
            attention = weights
    if progress is not None:
        progress(0.9, "Fitting the physical baseline")
    heads = fill_heads(data.heads_m)
    fits = [
        fit_physical(heads[w], np.where(train, y[w], np.nan), win.target_index, inelastic) for w in groups
    ]
    predictions["physical"] = np.stack(
        [predict_physical(f, heads[w], win.target_index) for w, f in enumerate(fits)]
    )
    linear = [fit_linear(win.x[w], y[w], win.split) for w in groups]
    predictions["linear"] = np.stack([predict_linear(f, win.x[w]) for w, f in enumerate(linear)])
    predictions["trend"] = fm.linear_trend(y, train)
    test_months = np.zeros(data.months.size, dtype=bool)
    test_months[win.target_index[win.split == SPLIT_TEST]] = True
    predictions["persistence"] = fm.persistence_from_origin(data.increments_mm, test_months)[
        :, win.target_index
    ]
    predictions["persistence_1step"] = fm.persistence(data.increments_mm)[:, win.target_index]
    metrics = score_table(data.feature_ids, y, predictions, win.split == SPLIT_TEST)
    model = SimulationModel(
        config=config,
        layers=list(data.layers),
        feature_ids=data.feature_ids,
        x_min=win.x_min,
        x_max=win.x_max,
        y_min=y_min,
        y_max=y_max,
        params=params,
        physical=fits,
        linear=linear,
        target_months=data.months[win.target_index],
        split=win.split,
        metrics=metrics,
    )
    if progress is not None:
        progress(1.0, "Done")
    return SimulationResult(
        model=model,
        months=data.months[win.target_index],
        split=win.split,
        observed=y,
        predictions=predictions,
        metrics=metrics,
        attention=attention,
        attention_mean=attention.mean(axis=(1, 2)),
        history=history,
    )


def score_table(feature_ids, observed, predictions, test_mask) -> List[dict]:
    """One row per feature and model on the test months: rmse_mm, mae_mm, nse, skill (against
    persistence) and, on the AM-LSTM row, ``gain_pct`` = RMSE gain over the LSTM (Cao et al.)."""
    rows = []
    for w, fid in enumerate(feature_ids):
        obs = observed[w, test_mask]
        pers = predictions["persistence"][w, test_mask]
        by_model = {}
        for name in fm.MODEL_NAMES:
            if name in predictions:
                by_model[name] = fm.scores(obs, predictions[name][w, test_mask], pers)
        for name, row in by_model.items():
            gain = float("nan")
            if name == "amlstm" and "lstm" in by_model and by_model["lstm"]["rmse_mm"] > 0:
                gain = 100.0 * (1.0 - row["rmse_mm"] / by_model["lstm"]["rmse_mm"])
            rows.append({"feature_id": str(fid), "model": name, **row, "gain_pct": gain})
    return rows


def simulate_points(
    model: SimulationModel,
    data: SimulationData,
    point_ids,
    point_feature,
    point_increments_mm,
    progress=None,
    warm_start=False,
    config: Optional[TrainingConfig] = None,
):
    """One AM-LSTM per PS point, batched; stored in ``model.points``.

    Args:
        model: from :func:`simulate` on ``data`` (its split, window and head scalers are reused).
        data: the wells' drivers (same grid as ``point_increments_mm``).
        point_ids: (P,) PS ids.
        point_feature: (P,) feature id (well) whose buffer holds each point.
        point_increments_mm: (P, n) each point's monthly deformation on ``data.months``.
        warm_start: False (default): every point cold, from ``model.config``'s seed, as the
            wells were. True: every point starts from its well's trained AM-LSTM (the output
            layer mapped to the point's own target scaling, :func:`~.amlstm_warm.transfer_params`)
            and trains fewer epochs (:func:`~.amlstm_warm.warm_config`): about 4x faster, but it
            can inherit a poor well network. ``"auto"``: warm only the points of wells whose
            network beats the linear trend and persistence on the validation months
            (:func:`~.amlstm_warm.warm_start_wells`), the others cold. Neither warm mode is the
            default: scored against the generators' truth, the warm start was worse than the
            cold one on some wells of both generators, and the validation rule did not pick
            those wells out (README, AM-LSTM section).
        config: the per-point training configuration of every point; default ``model.config``
            for the cold points, shortened by :func:`~.amlstm_warm.warm_config` for the warm ones.

    Returns:
        (P, N) simulated monthly deformation (mm) on ``model.target_months``.
    """
    from . import amlstm_warm

    rows = _rows_of(model.feature_ids, data.feature_ids)
    where = {str(v): i for i, v in enumerate(model.feature_ids)}
    group = np.array([where.get(str(f), -1) for f in point_feature], dtype=np.int64)
    if (group < 0).any():
        raise ValueError(
            f"point_feature: {str(point_feature[int(np.argmax(group < 0))])!r} is not a trained feature"
        )
    heads = fill_heads(data.heads_m[rows])
    target_index = np.searchsorted(data.months, model.target_months)
    x = _scaled_windows(heads, target_index, model.config, model.x_min, model.x_max)
    y = np.asarray(point_increments_mm, dtype=np.float64)[:, target_index]
    train = model.split == SPLIT_TRAIN
    y_min, y_max = fit_range(y, train)
    y_scaled = scale(y, y_min[:, None], y_max[:, None])
    if isinstance(warm_start, str):
        if warm_start != "auto":
            raise ValueError(f"warm_start: expected 'auto', True or False, got {warm_start!r}")
        warm = amlstm_warm.warm_start_wells(model, data)["warm"][group]
    else:
        warm = np.full(group.size, bool(warm_start))
    params = amlstm_warm.train_points(model, x, group, y_scaled, warm, (y_min, y_max), config, progress)
    model.points = {
        "ids": np.asarray(point_ids),
        "group": group,
        "y_min": y_min,
        "y_max": y_max,
        "params": params,
    }
    pred, _ = predict_models(params, x, group, True, model.config.chunk_models)
    return unscale(pred, y_min[:, None], y_max[:, None])


__all__ = ["SimulationData", "SimulationModel", "SimulationResult", "simulate", "simulate_points"]
