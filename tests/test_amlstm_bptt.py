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
