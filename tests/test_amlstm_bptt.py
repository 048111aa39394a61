"""The hand-written training pass (core/amlstm_bptt.py) against autograd on the reference
network (core.amlstm.forward, METHODS.md 5): same predictions, same loss, same gradients, for
the AM-LSTM and the plain LSTM. Autograd runs in float64, so it is an independent reference."""

import numpy as np
import pytest
import torch

from subsidence_lab.core import amlstm as am
from subsidence_lab.core import amlstm_bptt as bptt


def _case(attention, n_models=5, batch=7, window=12, n_layers=3, seed=0):
    cfg = am.TrainingConfig(window=window, hidden_size=16)
    params = am.init_params(n_models, n_layers, cfg, attention, members=np.arange(n_models))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n_models, batch, window, n_layers, generator=gen) * 2 - 1
    target = torch.rand(n_models, batch, generator=gen) * 2 - 1
    mask = (torch.rand(n_models, batch, generator=gen) > 0.25).float()
    # weights a few training steps away from the initial draw, so no gate sits at its start
    params = {k: v + 0.3 * torch.randn(v.shape, generator=gen) for k, v in params.items()}
    return params, x, target, mask


@pytest.mark.parametrize("attention", [True, False])
def test_hand_written_gradients_equal_autograd_on_the_reference_network(attention):
    params, x, target, mask = _case(attention)
    ref = {k: v.double().requires_grad_() for k, v in params.items()}
    pred, _ = am.forward(ref, x.double(), attention)
    loss = am._masked_loss(pred, target.double(), mask.double())
    loss.sum().backward()

    layout = bptt.Layout(params)
    flat = layout.flatten(torch, params)
    grad = torch.full_like(flat, float("nan"))  # every entry must be written
    got = bptt.loss_and_grad(torch, layout.views(flat), x, target, mask, attention, layout.views(grad))
    fast, _ = bptt.run(torch, layout.views(flat), x, attention, keep=False)

    np.testing.assert_allclose(fast.numpy(), pred.detach().numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(got.numpy(), loss.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert set(layout.names) == set(ref)
    for name, value in layout.views(grad).items():
        expected = ref[name].grad.numpy()
        assert np.abs(expected).max() > 0, name
        np.testing.assert_allclose(
            value.numpy(), expected, rtol=0, atol=1e-5 * np.abs(expected).max(), err_msg=name
        )


def test_training_matches_autograd_with_torch_adam_on_the_reference_network():
    """One network trained by train_models (hand-written pass, own Adam, flat rows) against
    the textbook loop: core.amlstm.forward + autograd + torch.optim.Adam, the same mini-batch
    order (the e-th permutation drawn from the seed) and the best validation epoch kept."""
    from test_amlstm import driven_data

    from subsidence_lab.core.amlstm_data import make_windows

    data = driven_data(n_wells=1, noise_layers=1)
    cfg = am.TrainingConfig(epochs=4, patience=10, batch_size=8, learning_rate=0.01)
    win = make_windows(data, cfg)
    y = data.increments_mm[:, win.target_index]
    y = (y - np.nanmean(y)) / np.nanstd(y)
    got, history = am.train_models(win.x, [0], y, win.split, cfg)

    x = torch.as_tensor(win.x[:1], dtype=torch.float32)
    target = torch.as_tensor(np.nan_to_num(y), dtype=torch.float32)
    mask = torch.as_tensor(np.isfinite(y), dtype=torch.float32)
    train, val = np.flatnonzero(win.split == am.SPLIT_TRAIN), np.flatnonzero(win.split == am.SPLIT_VALIDATION)
    params = {k: v.clone().requires_grad_() for k, v in am.init_params(1, x.shape[-1], cfg).items()}
    adam = torch.optim.Adam(list(params.values()), lr=cfg.learning_rate)
    rng = np.random.default_rng(cfg.seed)
    best, best_loss, best_epoch = None, np.inf, 0
    with am._threads_for(torch, 1):  # one network: small ops, faster on one thread
        for epoch in range(1, cfg.epochs + 1):
            order = train[rng.permutation(train.size)]
            for begin in range(0, order.size, cfg.batch_size):
                batch = torch.as_tensor(order[begin : begin + cfg.batch_size])
                adam.zero_grad()
                pred, _ = am.forward(params, x[:, batch])
                am._masked_loss(pred, target[:, batch], mask[:, batch]).sum().backward()
                adam.step()
            with torch.no_grad():
                pred, _ = am.forward(params, x[:, val])
                loss = float(am._masked_loss(pred, target[:, val], mask[:, val])[0])
            if loss < best_loss:
                best, best_loss, best_epoch = (
                    {k: v.detach().numpy().copy() for k, v in params.items()},
                    loss,
                    epoch,
                )

    assert history["best_epoch"][0] == best_epoch
    ours, _ = am.predict_models(got, win.x[:1], [0])
    theirs, _ = am.predict_models(best, win.x[:1], [0])
    assert np.abs(theirs).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
