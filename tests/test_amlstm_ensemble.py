"""AM-LSTM comparison settings of issue 11 acceptance 2: ensembles of initial draws, persistence
from the forecast origin, model files written before the ensemble existed. Small data, seconds."""

import numpy as np
import pytest
import torch
from test_amlstm import driven_data

from subsidence_lab.core import amlstm as am
from subsidence_lab.core import forecast_metrics as fm
from subsidence_lab.core.amlstm_data import make_windows
from subsidence_lab.core.amlstm_simulation import SimulationModel, simulate


def test_persistence_carries_the_last_increment_before_the_test_part_through_it():
    inc = np.array([[np.nan, 1.0, 2.0, 4.0, np.nan, 8.0, 16.0, 32.0]])
    test = np.array([False, False, False, False, False, True, True, True])
    origin = fm.persistence_from_origin(inc, test)
    # Before the test part: last month's value (a gap carries the one before it forward).
    np.testing.assert_array_equal(origin[0, :5], [np.nan, np.nan, 1.0, 2.0, 4.0])
    # In the test part: 4.0, the last increment known at the origin (month 4 is a gap), never 8 or 16.
    np.testing.assert_array_equal(origin[0, 5:], [4.0, 4.0, 4.0])
    one_step = fm.persistence(inc)
    np.testing.assert_array_equal(one_step[0, 5:], [4.0, 8.0, 16.0])  # reads the test targets


def test_ensemble_members_start_from_different_draws_and_member_0_is_the_single_draw():
    cfg = am.TrainingConfig(window=6, hidden_size=5)
    single = am.init_params(1, 3, cfg)
    params = am.init_params(4, 3, cfg, members=[0, 1, 0, 2])
    for name, value in params.items():
        assert torch.equal(value[0], single[name][0]) and torch.equal(value[2], single[name][0])
    assert not torch.equal(params["w_gates"][1], params["w_gates"][0])
    assert not torch.equal(params["w_gates"][3], params["w_gates"][1])


def test_simulation_averages_its_members_and_a_saved_ensemble_predicts_identically(tmp_path):
    data = driven_data(n_wells=2, noise_layers=1)
    cfg = am.TrainingConfig(epochs=3, patience=3, ensemble=3)
    result = simulate(data, cfg)
    amlstm = result.model.params["amlstm"]
    assert amlstm["w_gates"].shape[0] == 2 * 3  # wells x members
    # Each member alone, feature-major (well 0's members first); their mean is the prediction.
    x = make_windows(data, cfg).x
    members, _ = am.predict_models(amlstm, x, np.repeat([0, 1], 3), attention=True)
    lo, hi = result.model.y_min[:, None], result.model.y_max[:, None]
    mean = members.reshape(2, 3, -1).mean(axis=1)
    np.testing.assert_allclose(result.predictions["amlstm"], (mean + 1) * (hi - lo) / 2 + lo, atol=1e-4)
    assert np.ptp(members.reshape(2, 3, -1), axis=1).max() > 1e-3  # the members do differ
    path = tmp_path / "ensemble.pt"
    result.model.save(path)
    again = SimulationModel.load(path).predict(data)
    for net in ("amlstm", "lstm"):
        np.testing.assert_allclose(again[net], result.predictions[net], atol=1e-5)


def test_a_model_file_without_the_ensemble_settings_loads_as_one_draw_per_layer_scaled(tmp_path):
    data = driven_data(n_wells=1, noise_layers=1)
    result = simulate(data, am.TrainingConfig(epochs=2, patience=2, ensemble=1, layer_scaling="layer"))
    path = tmp_path / "old.pt"
    result.model.save(path)
    blob = torch.load(path, weights_only=True)
    for key in ("ensemble", "layer_scaling", "weight_decay"):
        del blob["config"][key]  # as written before these settings existed
    del blob["linear"]  # and before the linear baseline
    torch.save(blob, path)
    loaded = SimulationModel.load(path)
    assert loaded.config.ensemble == 1 and loaded.config.layer_scaling == "layer"
    assert loaded.linear == [] and "linear" not in loaded.predict(data)
    assert loaded.predict(data)["amlstm"] == pytest.approx(result.predictions["amlstm"], abs=1e-5)
