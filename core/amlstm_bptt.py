"""The AM-LSTM's training pass written out by hand: forward, loss and backpropagation through
time for many small networks at once (:func:`core.amlstm.train_models`, issue 11).

It computes what :func:`core.amlstm.forward` and autograd compute (same model, same loss, same
gradients: ``tests/test_amlstm_bptt.py`` checks it against autograd), only cheaper on a CPU:

- no autograd graph: the per-step tensors are kept in lists and each gradient is written once,
  the weight gradients accumulated step by step (``baddbmm_``);
- the attention's tensors are laid out (M, L, B, T), layers outermost, so the softmax over
  layers and the sums over them run on whole slices (a softmax over a last dimension of 4
  costs ten times more here);
- ``tanh(z) = 2 sigmoid(2z) - 1``: torch's float ``tanh`` costs about three ``sigmoid`` here.
  The factor 2 goes into the weights (exact in floating point); in the attention the ``-1``
  only shifts every layer's score by ``sum(v_e)``, which the softmax over layers cancels.

The results equal autograd's up to float32 rounding (relative ~1e-6 per step).
All parameters of a model are one row of a flat (M, P) tensor (:class:`Layout`), so Adam, the
best-weights copy and the compaction of the active set are a few whole-tensor operations.
"""

import math


class Layout:
    """Where each named parameter lives in a model's flat row of P numbers."""

    def __init__(self, params):
        self.names = list(params)
        self.shapes = {k: tuple(v.shape[1:]) for k, v in params.items()}
        self.slices, start = {}, 0
        for name in self.names:
            size = math.prod(self.shapes[name])
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start

    def flatten(self, torch, params):
        """(M, P) float32 from a dict of (M, ...) tensors."""
        n = params[self.names[0]].shape[0]
        return torch.cat([params[k].reshape(n, -1).float() for k in self.names], dim=1).contiguous()

    def views(self, flat):
        """The named (M, ...) views of a flat (M, P) tensor (sharing its memory)."""
        n = flat.shape[0]
        return {k: flat[:, self.slices[k]].view(n, *self.shapes[k]) for k in self.names}


def _prepared(p, attention):
    """The weights as the pass uses them: gate rows of ``g`` and the attention scaled by 2
    (``tanh(z) = 2 sigmoid(2z) - 1``), transposed for ``bmm``."""
    hidden = p["w_out"].shape[-1]
    scale = p["b_gates"].new_ones(4 * hidden)
    scale[2 * hidden : 3 * hidden] = 2.0
    w_gates2 = p["w_gates"] * scale[:, None]  # (M, 4H, H + L)
    w = {
        "scale": scale,
        "w_gates2": w_gates2,
        "w_gates2_t": w_gates2.transpose(1, 2).contiguous(),
        "b_gates2": (p["b_gates"] * scale).unsqueeze(1),
    }
    if attention:
        w["w_e2_t"] = (p["w_e"] * 2.0).transpose(1, 2).contiguous()  # (M, 2H, T)
        w["u_e2_t"] = (p["u_e"] * 2.0).transpose(1, 2).contiguous()
        w["b_e2"] = (p["b_e"] * 2.0).unsqueeze(1)
        w["v_e2"] = (p["v_e"] * 2.0).unsqueeze(-1)  # (M, T, 1)
    return w


def run(torch, p, x, attention, keep):
    """Forward pass of M networks on windows ``x`` (M, B, T, L); parameters ``p`` (views of
    :meth:`Layout.views`). Returns ``(y, tape)``: (M, B) scaled predictions and what
    :func:`backward` needs (None unless ``keep``). The attention's tensors are laid out
    (M, L, B, T), layers outermost, so the softmax and the sums over layers run on slices."""
    m, b, t_len, n_layers = x.shape
    hidden = p["w_out"].shape[-1]
    w = _prepared(p, attention)
    h = x.new_zeros(m, b, hidden)
    c = x.new_zeros(m, b, hidden)
    tape = {"inputs": [], "hc": [], "act": [], "tanh_c": [], "c_prev": [], "s": [], "beta": []}
    if attention:
        xp = x.permute(0, 3, 1, 2).contiguous()  # (M, L, B, T)
        d2 = torch.baddbmm(w["b_e2"], xp.view(m, n_layers * b, t_len), w["u_e2_t"])
        d2 = d2.view(m, n_layers, b, t_len)
        tape["xp"] = xp
    for step in range(t_len):
        x_t = x[:, :, step, :]
        if attention:
            if step:
                hc = torch.cat([h, c], dim=-1)
                s = torch.add(d2, torch.bmm(hc, w["w_e2_t"]).unsqueeze(1)).sigmoid_()
            else:  # h = c = 0: the state term is exactly 0
                hc, s = None, torch.sigmoid(d2)
            scores = torch.bmm(s.view(m, n_layers * b, t_len), w["v_e2"]).view(m, n_layers, b)
            beta = torch.softmax(scores, dim=1)  # (M, L, B)
            x_t = beta.transpose(1, 2) * x_t
            if keep:
                tape["hc"].append(hc)
                tape["s"].append(s)
                tape["beta"].append(beta)
        inputs = torch.cat([h, x_t], dim=-1)
        act = torch.baddbmm(w["b_gates2"], inputs, w["w_gates2_t"]).sigmoid_()
        i, f, g2, o = act.chunk(4, dim=-1)  # g = 2 g2 - 1
        c_prev = c
        c = (f * c).addcmul_(i, g2, value=2.0).sub_(i)
        tanh_c = (c * 2.0).sigmoid_().mul_(2.0).sub_(1.0)  # tanh(c) = 2 sigmoid(2c) - 1
        h = o * tanh_c
        if keep:
            tape["inputs"].append(inputs)
            tape["act"].append(act)
            tape["tanh_c"].append(tanh_c)
            tape["c_prev"].append(c_prev)
    y = torch.baddbmm(p["b_out"].unsqueeze(1), h, p["w_out"].unsqueeze(-1)).squeeze(-1)
    if not keep:
        return y, None
    tape.update(x=x, h=h, w=w, attention=attention)
    return y, tape


def loss_and_grad(torch, p, x, target, mask, attention, grad):
    """Per-model masked mean squared error (M,) of the networks on windows ``x``, and its
    gradient (the sum over models) written into ``grad`` (views like ``p``)."""
    y, tape = run(torch, p, x, attention, keep=True)
    diff = (y - target) * mask
    count = mask.sum(-1).clamp(min=1.0)
    loss = (diff * diff).sum(-1) / count
    backward(torch, p, tape, diff * (2.0 / count).unsqueeze(-1), grad)
    return loss


def backward(torch, p, tape, dy, grad):
    """Backpropagation through time of :func:`run`; ``dy`` (M, B) the loss gradient of each
    prediction; the parameter gradients are written into ``grad``. The weight gradients are
    accumulated step by step (``baddbmm_``), so no per-step tensor is copied twice."""
    x, h_last, w, attention = tape["x"], tape["h"], tape["w"], tape["attention"]
    m, b, t_len, n_layers = x.shape
    hidden = h_last.shape[-1]
    grad["w_out"].copy_(torch.bmm(dy.unsqueeze(1), h_last).squeeze(1))
    grad["b_out"].copy_(dy.sum(-1, keepdim=True))
    dh = dy.unsqueeze(-1) * p["w_out"].unsqueeze(1)
    dc = torch.zeros_like(dh)
    one = dh.new_ones(())
    d_w = x.new_zeros(m, 4 * hidden, hidden + n_layers)
    d_b = x.new_zeros(m, b, 4 * hidden)
    if attention:
        d_d = x.new_zeros(m, n_layers, b, t_len)
        d_we = x.new_zeros(m, t_len, 2 * hidden)
        s_score = x.new_zeros(m, n_layers, b, t_len)  # sum over steps of d_score * s
        score_sum = x.new_zeros(m, n_layers, b)
        v4 = (p["v_e"] * 4.0)[:, None, None, :]
        w_e = p["w_e"]
    for step in reversed(range(t_len)):
        act, tanh_c = tape["act"][step], tape["tanh_c"][step]
        i, f, g2, o = act.chunk(4, dim=-1)
        dc = dc.addcmul_(dh * o, torch.addcmul(one, tanh_c, tanh_c, value=-1.0))
        post = torch.cat(
            [dc * (g2 * 2.0 - 1.0), dc * tape["c_prev"][step], dc * i * 2.0, dh * tanh_c], dim=-1
        )
        dg = post.mul_(torch.addcmul(act, act, act, value=-1.0))  # wrt the (scaled) pre-activations
        d_w.baddbmm_(dg.transpose(1, 2), tape["inputs"][step])
        d_b.add_(dg)
        d_in = torch.bmm(dg, w["w_gates2"])  # (M, B, H + L): [dh, dx~]
        dh, dc = d_in[..., :hidden], dc * f
        if not attention:
            continue
        beta = tape["beta"][step]  # (M, L, B)
        d_beta = (d_in[..., hidden:] * x[:, :, step, :]).transpose(1, 2)
        d_score = beta * (d_beta - (d_beta * beta).sum(1, keepdim=True))  # softmax backward
        s = tape["s"][step]
        sd = s * d_score.unsqueeze(-1)  # (M, L, B, T)
        s_score.add_(sd)
        score_sum.add_(d_score)
        dz = torch.addcmul(sd, s, sd, value=-1.0).mul_(v4)  # 4 v s (1 - s) d_score
        d_d.add_(dz)
        if step:
            d_state = dz.sum(1)  # (M, B, T)
            d_we.baddbmm_(d_state.transpose(1, 2), tape["hc"][step])
            d_hc = torch.bmm(d_state, w_e)  # (M, B, 2H)
            dh = dh + d_hc[..., :hidden]
            dc = dc + d_hc[..., hidden:]
    scale = w["scale"]
    torch.mul(d_w, scale[:, None], out=grad["w_gates"])
    torch.mul(d_b.sum(1), scale, out=grad["b_gates"])
    if not attention:
        return
    grad["w_e"].copy_(d_we)
    xp = tape["xp"]
    grad["u_e"].copy_(
        torch.bmm(d_d.view(m, n_layers * b, t_len).transpose(1, 2), xp.view(m, n_layers * b, t_len))
    )
    torch.sum(d_d, (1, 2), out=grad["b_e"])
    # d v_e = sum d_score (2 s - 1); the softmax gradient sums to ~0 over layers
    torch.sub(s_score.sum((1, 2)).mul_(2.0), score_sum.sum((1, 2)).unsqueeze(-1), out=grad["v_e"])


__all__ = ["Layout", "backward", "loss_and_grad", "run"]
