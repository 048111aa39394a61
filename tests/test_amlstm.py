"""AM-LSTM core (METHODS.md 5; Cao et al., input attention of Qin et al. 2017): attention
form, scaling, save/load, batching, cancel, physical baseline. Small data, seconds each."""

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from subsidence_lab.core import amlstm as am
from subsidence_lab.core.amlstm_data import SimulationData, make_windows
from subsidence_lab.core.amlstm_simulation import SimulationModel, simulate
from subsidence_lab.core.physical_baseline import delayed_response, fit_physical, predict_physical

FAST = {"epochs": 30, "patience": 30, "batch_size": 16, "learning_rate": 0.01}


def driven_data(n_months=84, n_wells=2, seed=0, noise_layers=2):
    """Heads of one driving layer (declining, seasonal) plus pure-noise layers; the target is
    the driver's delayed response (exponential smoothing of its monthly change)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_months)
    n_layers = noise_layers + 1
    heads = np.empty((n_wells, n_layers, n_months))
    inc = np.empty((n_wells, n_months))
    for w in range(n_wells):
        driver = (
            -0.3 * t
            + 2.0 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6))
            + np.cumsum(rng.normal(0, 0.5, n_months))
        )
        heads[w, 0] = driver
        heads[w, 1:] = rng.normal(0, 1, (noise_layers, n_months))
        dh = np.diff(driver, prepend=driver[0])
        inc[w] = 3.0 * lfilter([1 - np.exp(-0.5)], [1, -np.exp(-0.5)], dh)
    inc[:, 0] = np.nan
    months = np.arange(np.datetime64("2010-01"), np.datetime64("2010-01") + n_months).astype("datetime64[D]")
    layers = ["driver"] + [f"noise_{k}" for k in range(noise_layers)]
    return SimulationData(np.array([f"W{w}" for w in range(n_wells)]), layers, months, heads, inc)


def test_attention_weights_sum_to_one_over_layers_with_the_right_shape():
    cfg = am.TrainingConfig(window=6, hidden_size=5)
    params = am.init_params(3, 4, cfg, attention=True)
    x = torch.randn(3, 7, 6, 4)
    _, weights = am.forward(params, x, attention=True)
    assert tuple(weights.shape) == (3, 7, 6, 4)  # models, windows, steps, layers
    assert torch.allclose(weights.sum(-1), torch.ones(3, 7, 6), atol=1e-6)
    assert bool((weights > 0).all())
    _, none = am.forward(am.init_params(3, 4, cfg, attention=False), x, attention=False)
    assert none is None


def test_perturbing_the_previous_hidden_state_changes_the_weights():
    """Catches the one-linear-layer port, where W_e [h; C] is the same for every layer and
    cancels in the softmax."""
    cfg = am.TrainingConfig(window=6, hidden_size=5)
    params = am.init_params(2, 3, cfg, attention=True)
    x = torch.randn(2, 4, 6, 3)
    scores = am.driver_scores(params, x)
    h, c = torch.randn(2, 4, 5), torch.randn(2, 4, 5)
    base = am.input_attention(params, scores, h, c)
    moved_h = am.input_attention(params, scores, h + 0.5 * torch.randn(2, 4, 5), c)
    moved_c = am.input_attention(params, scores, h, c + 0.5 * torch.randn(2, 4, 5))
    assert (moved_h - base).abs().max() > 1e-3
    assert (moved_c - base).abs().max() > 1e-3
    # The linear-score port for contrast: v^T (W [h; C] + U x^k) shifts every layer equally.
    state = torch.bmm(torch.cat([h, c], -1), params["w_e"].transpose(1, 2))
    lin = torch.softmax(torch.einsum("mblt,mt->mbl", scores + state.unsqueeze(2), params["v_e"]), -1)
    lin_moved = torch.softmax(
        torch.einsum("mblt,mt->mbl", scores + 3 * state.unsqueeze(2), params["v_e"]), -1
    )
    assert torch.allclose(lin, lin_moved, atol=1e-5)


def test_trained_attention_on_pure_noise_layers_is_below_half_the_driver():
    data = driven_data(n_months=120, n_wells=1)
    cfg = am.TrainingConfig(**FAST)
    win = make_windows(data, cfg)
    y = data.increments_mm[:, win.target_index]
    params, _ = am.train_models(win.x, [0], y / np.nanmax(np.abs(y)), win.split, cfg, attention=True)
    _, attention = am.predict_models(params, win.x, [0], attention=True)
    weights = attention[0].mean(axis=(0, 1))
    assert weights.shape == (3,)
    assert weights[1] < 0.5 * weights[0] and weights[2] < 0.5 * weights[0], weights


def test_scalers_are_the_training_part_statistics():
    data = driven_data(n_wells=2, noise_layers=1)
    cfg = am.TrainingConfig(window=12, drivers="level", layer_scaling="layer")
    win = make_windows(data, cfg)
    train_targets = win.target_index[win.split == am.SPLIT_TRAIN]
    first, last = train_targets.min() - 11, train_targets.max()
    expected_min = data.heads_m[:, :, first : last + 1].min(axis=-1)
    expected_max = data.heads_m[:, :, first : last + 1].max(axis=-1)
    np.testing.assert_allclose(win.x_min, expected_min)
    np.testing.assert_allclose(win.x_max, expected_max)
    # The whole-series range differs (heads keep falling in the test months): not that one.
    assert (data.heads_m[:, 0].min(axis=-1) < win.x_min[:, 0]).all()
    train_windows = win.x[:, win.split == am.SPLIT_TRAIN]
    assert train_windows.min() >= -1 - 1e-6 and train_windows.max() <= 1 + 1e-6
    # Drivers as head change since the window start: the range of those changes in training.
    change = make_windows(data, am.TrainingConfig(window=12, drivers="change", layer_scaling="layer"))
    steps = np.arange(12)
    deltas = [data.heads_m[:, :, j - 11 + steps] - data.heads_m[:, :, j - 11 : j - 10] for j in train_targets]
    np.testing.assert_allclose(change.x_min, np.min([d.min(axis=-1) for d in deltas], axis=0))
    np.testing.assert_allclose(change.x_max, np.max([d.max(axis=-1) for d in deltas], axis=0))
    # One span per well (the default): the widest training range of its layers, each layer
    # centred on the middle of its own training range.
    well = make_windows(data, am.TrainingConfig(window=12, drivers="change"))
    lo, hi = change.x_min, change.x_max
    span = (hi - lo).max(axis=1, keepdims=True)
    np.testing.assert_allclose(well.x_max - well.x_min, np.broadcast_to(span, lo.shape), rtol=1e-12)
    np.testing.assert_allclose((well.x_min + well.x_max) / 2, (lo + hi) / 2, rtol=1e-12)
    # Target scaler: training months only.
    result = simulate(data, am.TrainingConfig(epochs=2, patience=2))
    train_y = data.increments_mm[:, train_targets]
    np.testing.assert_allclose(result.model.y_min, np.nanmin(train_y, axis=1))
    np.testing.assert_allclose(result.model.y_max, np.nanmax(train_y, axis=1))
    assert (win.split[:-1] <= win.split[1:]).all()  # chronological: train, validation, test


def test_saved_and_reloaded_model_predicts_identically(tmp_path):
    data = driven_data(n_wells=2, noise_layers=1)
    result = simulate(data, am.TrainingConfig(epochs=3, patience=3), inelastic=True)
    path = tmp_path / "model.pt"
    result.model.save(path)
    loaded = SimulationModel.load(path)
    assert loaded.layers == data.layers and list(loaded.feature_ids) == ["W0", "W1"]
    assert loaded.config == result.model.config
    np.testing.assert_array_equal(loaded.split, result.split)
    for saved, trained in zip(loaded.metrics, result.metrics):
        assert saved.keys() == trained.keys()
        for key, value in trained.items():
            assert saved[key] == value or (value != value and saved[key] != saved[key]), key
    # New groundwater: the same wells, heads shifted and extended by a year.
    new = SimulationData(
        data.feature_ids,
        data.layers,
        data.months,
        data.heads_m - 1.5,
        np.full_like(data.increments_mm, np.nan),
    )
    before, after = result.model.predict(new), loaded.predict(new)
    for name in ("amlstm", "lstm", "physical", "linear", "attention"):
        np.testing.assert_array_equal(before[name], after[name])
    # And on the training heads, the reloaded model reproduces the training run's predictions.
    again = loaded.predict(data)
    np.testing.assert_allclose(again["amlstm"], result.predictions["amlstm"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(again["linear"], result.predictions["linear"], rtol=1e-9, atol=1e-9)


def test_not_a_model_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not an AM-LSTM model file"):
        SimulationModel.load(path)


def test_batched_networks_train_as_each_would_alone():
    """Many small networks in one tensor program give each network's own training result."""
    data = driven_data(n_wells=3, noise_layers=1)
    cfg = am.TrainingConfig(epochs=4, patience=4, batch_size=16)
    win = make_windows(data, cfg)
    y = data.increments_mm[:, win.target_index]
    y = (y - np.nanmean(y)) / np.nanstd(y)
    together, _ = am.train_models(win.x, np.arange(3), y, win.split, cfg)
    for m in range(3):
        alone, _ = am.train_models(win.x[m : m + 1], [0], y[m : m + 1], win.split, cfg)
        for name, value in alone.items():
            np.testing.assert_allclose(together[name][m], value[0], rtol=1e-4, atol=1e-5)


def test_cancel_stops_training_within_an_epoch():
    data = driven_data(n_wells=1, noise_layers=1)
    cfg = am.TrainingConfig(epochs=50, patience=50)
    win = make_windows(data, cfg)
    seen = []

    def progress(fraction, message=None):
        seen.append(message)
        return len(seen) < 3  # the user cancels during the third epoch

    with pytest.raises(am.TrainingCancelledError):
        am.train_models(win.x, [0], data.increments_mm[:, win.target_index], win.split, cfg, True, progress)
    assert seen == ["epoch 1/50", "epoch 2/50", "epoch 3/50"]


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="hidden_size"):
        am.TrainingConfig(hidden_size=0).validate()
    with pytest.raises(ValueError, match="window"):
        make_windows(driven_data(n_months=14), am.TrainingConfig(window=12))


def test_physical_baseline_recovers_planted_compressibility_and_delay():
    rng = np.random.default_rng(3)
    n = 96
    t = np.arange(n)
    heads = np.stack(
        [
            -0.3 * t + 1.5 * np.sin(2 * np.pi * t / 12) + np.cumsum(rng.normal(0, 0.4, n)),
            0.1 * t + np.cumsum(rng.normal(0, 0.5, n)),
        ]
    )
    planted_a, planted_delay = np.array([4.0, 1.5]), np.array([6.0, 2.5])
    s = sum(
        planted_a[i] * delayed_response(np.diff(heads[i], prepend=heads[i, :1]), planted_delay[i])
        for i in range(2)
    )
    months = np.arange(24, n)
    increments = np.diff(s, prepend=s[:1])[months] + rng.normal(0, 0.01, months.size)
    fit = fit_physical(heads, increments, months)
    np.testing.assert_allclose(fit.a_mm_per_m, planted_a, rtol=0.05)
    np.testing.assert_allclose(fit.delay_months, planted_delay, rtol=0.05)


def test_physical_baseline_stays_bounded_when_test_heads_make_new_lows():
    """The inelastic part is barely excited in the fitted months (the head never falls below
    its first value, but for one 1 mm dip), then the test months make new lows: the prediction
    must stay of the order of the data, not take the unidentified compressibility to infinity
    (seen as a 1e8 mm prediction on a sample-area well)."""
    rng = np.random.default_rng(5)
    n = 90
    t = np.arange(n)
    head = 2.0 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.05, n)
    head[0] = -2.2  # the first head is the low, then only seasonal swings above it
    head[60] = -2.201  # a negligible new low (1 mm of head) inside the fitted months
    head[70:] = -2.0 - 0.6 * (t[70:] - 70)  # new lows in the test months
    heads = head[None, :]
    s = 3.0 * delayed_response(np.diff(head, prepend=head[:1]), 4.0)
    increments = np.diff(s, prepend=s[:1]) + rng.normal(0, 0.05, n)
    increments[60] -= 0.5  # a noise spike in that month: 500 mm/m would "explain" it
    months = np.arange(1, n)
    fit_mask = months < 70
    fit = fit_physical(heads, np.where(fit_mask, increments[months], np.nan), months, inelastic=True)
    predicted = predict_physical(fit, heads, months)
    assert np.all(np.isfinite(predicted))
    # the elastic response to the new lows is ~3 mm/m x 0.6 m/month; allow a wide margin
    assert np.max(np.abs(predicted[~fit_mask])) < 10 * np.max(np.abs(increments[months]))
    assert fit.a_inelastic_mm_per_m[0] < 100.0


def test_real_dino_heads_drive_a_planted_response_that_the_baselines_recover(realdata_dir):
    """Five real DINOloket filters (fortnightly, gaps) as drivers; the deformation is a planted
    delayed response to one filter, so the truth is known on real groundwater."""
    from subsidence_lab.core.amlstm_data import attach_groundwater, fill_heads
    from subsidence_lab.core.groundwater_io import read_groundwater

    records = read_groundwater(realdata_dir / "dino-B21B0214-multifilter")
    months = np.arange(np.datetime64("1995-01"), np.datetime64("2005-11")).astype("datetime64[D]")
    base = SimulationData(
        np.array(["B21B0214"]), [], months, np.zeros((1, 0, months.size)), np.zeros((1, months.size))
    )
    data = attach_groundwater(base, records)
    assert data.layers == [f"filter_{k:03d}" for k in range(1, 6)]
    heads = fill_heads(data.heads_m[0])
    driver = data.layers.index("filter_003")
    response = 5.0 * delayed_response(np.diff(heads[driver], prepend=heads[driver, :1]), 4.0)
    inside = np.isin(data.months, months)
    rng = np.random.default_rng(0)
    data.increments_mm[0] = np.where(
        inside, np.diff(response, prepend=np.nan) + rng.normal(0, 0.05, inside.size), np.nan
    )
    result = simulate(data, am.TrainingConfig(**FAST, window=6))
    fit = result.model.physical[0]
    # The filters of one well move together (monthly changes correlate 0.95-0.995), so which filter
    # gets the response is not identifiable; the response itself is: total A and the series.
    assert fit.a_mm_per_m.sum() == pytest.approx(5.0, rel=0.1)
    rows = {r["model"]: r for r in result.metrics}
    assert rows["physical"]["rmse_mm"] < 0.1  # the noise is 0.05 mm
    assert np.isfinite(result.predictions["amlstm"]).all() and np.isfinite(result.predictions["lstm"]).all()
    assert rows["physical"]["rmse_mm"] < rows["persistence"]["rmse_mm"]
    # The linear baseline reads the same 6-month windows as the networks (the response's tail
    # beyond them, exp(-6/4) of it, is lost): within four times the noise, on real heads with gaps.
    assert np.isfinite(result.predictions["linear"]).all()
    assert rows["linear"]["rmse_mm"] < 0.2 < rows["persistence"]["rmse_mm"]
