"""AM-LSTM speed levers (issue 11, acceptance 4) that must not change what a network learns:
early-stopped models leave the batch (compaction), per-PS warm start from the well's network
(scored against the generators' truth). Small data, seconds each."""

from dataclasses import replace

import numpy as np
import pytest
from test_amlstm import driven_data

from subsidence_lab.core import amlstm as am
from subsidence_lab.core.amlstm_data import make_windows, unscale
from subsidence_lab.core.amlstm_simulation import simulate, simulate_points
from subsidence_lab.core.amlstm_synthetic import well_data
from subsidence_lab.core.amlstm_warm import transfer_params, warm_start_wells
from subsidence_lab.core.synthetic import make_study_area


def _wells_and_targets(n_wells=3):
    data = driven_data(n_wells=n_wells, noise_layers=1)
    cfg = am.TrainingConfig(epochs=15, patience=2, batch_size=8)
    win = make_windows(data, cfg)
    y = data.increments_mm[:, win.target_index]
    y = (y - np.nanmean(y, axis=1, keepdims=True)) / np.nanstd(y, axis=1, keepdims=True)
    return win, y, cfg


def test_early_stopped_models_leave_the_batch_and_each_trains_as_alone():
    """With a short patience the models stop at different epochs; once stopped a model leaves
    the tensor program, so its weights (and stop epoch) are the ones it gets trained alone."""
    win, y, cfg = _wells_and_targets()
    n = y.shape[0]
    together, history = am.train_models(win.x, np.arange(n), y, win.split, cfg)
    assert np.unique(history["epochs_run"]).size > 1, history["epochs_run"]  # compaction happened
    assert (history["epochs_run"] < cfg.epochs).any()
    for m in range(n):
        alone, own = am.train_models(win.x[m : m + 1], [0], y[m : m + 1], win.split, cfg)
        assert own["epochs_run"][0] == history["epochs_run"][m]
        assert own["best_epoch"][0] == history["best_epoch"][m]
        for name, value in alone.items():
            np.testing.assert_allclose(together[name][m], value[0], rtol=1e-4, atol=1e-5)


def test_warm_start_first_predicts_the_wells_series_in_each_points_scaling():
    """The transfer maps the well network's output layer to the point's target range: before any
    training the point's network predicts, in mm, what its well's network predicts."""
    area = make_study_area(seed=0, n_points=3000, n_dates=40)
    data = well_data(area, truth=True)
    result = simulate(data, am.TrainingConfig(epochs=3, patience=3))
    model = result.model
    rng = np.random.default_rng(0)
    group = rng.integers(0, data.feature_ids.size, 7)
    y_min, y_max = rng.uniform(-9, -1, 7), rng.uniform(0.5, 6, 7)
    init = transfer_params(model, group, y_min, y_max)
    win = make_windows(data, model.config)
    pred, _ = am.predict_models(init, win.x, group)
    first_member = group * model.config.ensemble
    well, _ = am.predict_models(
        model.params["amlstm"], win.x, np.arange(data.feature_ids.size).repeat(model.config.ensemble)
    )
    expected = unscale(well[first_member], model.y_min[group, None], model.y_max[group, None])
    np.testing.assert_allclose(unscale(pred, y_min[:, None], y_max[:, None]), expected, rtol=1e-4, atol=1e-4)


def test_auto_warm_start_only_for_wells_whose_network_beats_the_baselines_on_validation():
    """A well whose network is worse than the linear trend on the validation months hands its PS
    a cold start; a well whose network fits its validation months warm starts its PS."""
    area = make_study_area(seed=0, n_points=3000, n_dates=40)
    data = well_data(area, truth=True)
    model = simulate(data, am.TrainingConfig(epochs=3, patience=3)).model
    target_index = np.searchsorted(data.months, model.target_months)
    val = target_index[model.split == am.SPLIT_VALIDATION]
    inc = data.increments_mm.copy()
    inc[1] = -2.0  # a constant rate: the trend is exact, no network can beat it
    good = 0
    # the good well's validation months are exactly what its (transferred) network predicts
    first = {k: v[[good * model.config.ensemble]] for k, v in model.params["amlstm"].items()}
    x = make_windows(data, model.config).x
    pred, _ = am.predict_models(first, x[[good]], [0])
    inc[good, val] = unscale(pred[0], model.y_min[good], model.y_max[good])[
        model.split == am.SPLIT_VALIDATION
    ]
    built = replace(data, increments_mm=inc)
    decided = warm_start_wells(model, built)
    assert not decided["warm"][1] and decided["rmse_trend"][1] < 1e-9 < decided["rmse_network"][1]
    assert decided["warm"][good] and decided["rmse_network"][good] < 1e-3
    # simulate_points follows the decision: the cold well's points train exactly as cold ones
    rng = np.random.default_rng(1)
    owner = data.feature_ids[[1, 1, good, good]]
    targets = inc[[1, 1, good, good]] + rng.normal(0, 0.3, (4, data.months.size))
    ids = np.array(["a", "b", "c", "d"])
    auto = simulate_points(model, built, ids, owner, targets, warm_start="auto")
    cold = simulate_points(model, built, ids, owner, targets)
    np.testing.assert_allclose(auto[:2], cold[:2], rtol=1e-5, atol=1e-5)
    assert np.abs(auto[2:] - cold[2:]).max() > 1e-3


def test_worker_threads_give_the_single_thread_result_and_cancel_together():
    """Shares of the models trained by two threads (one queue, compaction in each) give every
    network the result one thread gives it; a cancel seen by one worker stops them all."""
    win, y, cfg = _wells_and_targets()
    cfg = replace(cfg, chunk_models=2)
    groups = np.arange(y.shape[0]).repeat(3)
    ys = np.repeat(y, 3, axis=0) + np.random.default_rng(0).normal(0, 0.1, (groups.size, y.shape[1]))
    one, hist1 = am.train_models(win.x, groups, ys, win.split, cfg, workers=1)
    two, hist2 = am.train_models(win.x, groups, ys, win.split, cfg, workers=2)
    assert np.unique(hist1["epochs_run"]).size > 1
    np.testing.assert_array_equal(hist2["epochs_run"], hist1["epochs_run"])
    np.testing.assert_array_equal(hist2["best_epoch"], hist1["best_epoch"])
    for name, value in one.items():
        np.testing.assert_allclose(two[name], value, rtol=1e-4, atol=1e-5)  # as alone vs together
    seen = []

    def progress(fraction, message=None):
        seen.append(fraction)
        return len(seen) < 4

    with pytest.raises(am.TrainingCancelledError):
        am.train_models(win.x, groups, ys, win.split, cfg, True, progress, workers=2)
    assert len(seen) == 4 and max(seen) < 0.9
