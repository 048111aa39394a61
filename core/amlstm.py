"""AM-LSTM: an LSTM with DA-RNN input attention over aquifer layers (METHODS.md section 5).

Cao et al. simulate monthly subsidence from the water levels of several aquifer layers with an
input-attention LSTM; the attention has the form of DA-RNN's input attention (Qin et al. 2017,
eq. 8-10). At every step t of a window of T months, for every driver (layer) k:

    a_t^k = v_e^T tanh(W_e [h_{t-1}; C_{t-1}] + U_e x^k + b_e)     x^k: layer k over the window
    b_t^k = softmax_k(a_t^k)
    x~_t  = (b_t^1 x_t^1, ..., b_t^n x_t^n)  -> LSTM cell

The tanh matters: with one linear score layer (as in several public ports) the ``W_e [h; C]``
term is the same for every k and cancels in the softmax, so the weights would ignore the
hidden state. The same network with ``attention=False`` (``x~_t = x_t``) is the plain LSTM
baseline.

Many small networks train as one tensor program: every parameter carries a leading "model"
dimension M (one network per well, or per PS point) and the cell runs with ``torch.bmm`` over
it. The loss is the sum of the models' own losses, and Adam is elementwise, so each network
trains exactly as it would alone (same initial weights, same mini-batch order); early stopping
keeps each model's best-validation weights, and a model whose patience ran out leaves the tensor
program (the active set is compacted), so the work follows the models still learning. Training
runs a hand-written forward and backward pass (:mod:`core.amlstm_bptt`, checked against autograd
on :func:`forward`), and one worker thread per core trains its share of the models. torch is
imported lazily, so ``core`` imports without it.
"""

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

INSTALL_HINT = (
    "PyTorch (CPU) is needed for the AM-LSTM. Debian 12 / QGIS 3.22: "
    "pip install torch==2.13.0 (the CPU wheel; never a CUDA build). "
    "Debian 13 / QGIS 3.40: apt install python3-torch."
)
SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST = 0, 1, 2
DRIVER_KINDS = ("change", "level")
MODELS_PER_WORKER = 64  # a training thread per this many networks at most (few: one thread)
# and per this many of the ``chunk_models`` active ones: with fewer active networks per thread the
# per-operation overhead dominates (measured here per network and mini-batch: 155-180 us with 128
# active, 410 us with 32, 700 us with 8), so more threads would each run slower
ACTIVE_PER_WORKER = 128


def import_torch():
    """torch, or ``ImportError`` saying how to install it (CPU only)."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return torch


def torch_available() -> bool:
    try:
        import_torch()
    except ImportError:
        return False
    return True


@contextmanager
def _threads_for(torch, n_models):
    """One torch thread per operation while training: the networks' ops are small, and a
    second thread mostly waits. Measured here (2 shared cores): one network 45 ms vs 1.4 s per
    step; 1024 networks 0.39 vs 2.3 ms per network and step. Yields the thread count torch had
    (its default: the cores), which :func:`train_models` uses for its workers instead."""
    before = torch.get_num_threads()
    if before > 1:
        torch.set_num_threads(1)
    try:
        yield before
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class TrainingCancelledError(Exception):
    """Raised when the cancel check says stop (between epochs, or between mini-batches)."""


@dataclass
class TrainingConfig:
    """Training parameters (Cao et al.: hidden 16, up to 100 epochs, Adam, early stopping).

    **[choice]** window 12 months, 70/15/15 chronological split, batch size 8 (the best of the
    paper's 8/16/32/64/128 on three of its six points), learning rate 0.005, patience 15.

    **[choice]** ``ensemble`` = 5: every network (AM-LSTM and LSTM alike) is trained from five
    initial draws (batched as extra models) and its predictions and attention are the members'
    mean. With ~45 training windows per well one draw decides the AM-LSTM / LSTM comparison
    and the attention ranking by chance (single-draw gains of -200 % to +68 % on the synthetic
    generators). ``layer_scaling`` = ``"well"``: one metre of head scales the same in every
    layer of a well (see :func:`core.amlstm_data.training_range`); with per-layer scaling
    (``"layer"``) the attention ranked the driving layer first on 1/6 and 1/6 urban wells,
    with ``"well"`` on 6/6 and 5/6 (five-member ensembles). ``weight_decay`` (L2 on the LSTM
    weight matrices only) stays 0: 0.01 did not help.
    """

    window: int = 12
    hidden_size: int = 16
    batch_size: int = 8
    learning_rate: float = 0.005
    epochs: int = 100
    patience: int = 15
    train_fraction: float = 0.7
    validation_fraction: float = 0.15
    seed: int = 0
    chunk_models: int = 512
    drivers: str = "change"
    ensemble: int = 5
    weight_decay: float = 0.0
    layer_scaling: str = "well"

    def validate(self):
        for name in ("window", "hidden_size", "batch_size", "epochs", "patience", "chunk_models", "ensemble"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate: must be in (0, 1), got {self.learning_rate}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"train_fraction: must be in (0, 1), got {self.train_fraction}")
        if not 0.0 <= self.validation_fraction < 1.0 - self.train_fraction:
            raise ValueError(
                f"validation_fraction: must be in [0, {1.0 - self.train_fraction:.2f}), "
                f"got {self.validation_fraction}"
            )
        if self.drivers not in DRIVER_KINDS:
            raise ValueError(f"drivers: expected one of {', '.join(DRIVER_KINDS)}, got {self.drivers!r}")
        if not 0.0 <= self.weight_decay < 1.0:
            raise ValueError(f"weight_decay: must be in [0, 1), got {self.weight_decay}")
        if self.layer_scaling not in ("layer", "well"):
            raise ValueError(f"layer_scaling: expected 'layer' or 'well', got {self.layer_scaling!r}")
        return self

    def to_dict(self):
        return asdict(self)


def init_params(n_models, n_layers, config: TrainingConfig, attention=True, members=None):
    """Parameters of M networks: one draw per ensemble member (member 0 from ``config.seed``),
    each model a copy of its member's draw, so a model's start does not depend on how many
    models train beside it. ``members`` (M,) gives each model's member (default: all 0)."""
    torch = import_torch()
    members = np.zeros(n_models, dtype=np.int64) if members is None else np.asarray(members, dtype=np.int64)
    unique, which = np.unique(members, return_inverse=True)
    draws = [_init_one(n_layers, config, attention, int(k)) for k in unique]
    index = torch.as_tensor(which.reshape(-1))
    return {name: torch.stack([d[name] for d in draws])[index].contiguous() for name in draws[0]}


def _init_one(n_layers, config, attention, member):
    """One network's initial parameters (float32), drawn from ``config.seed`` and ``member``."""
    torch = import_torch()
    gen = torch.Generator().manual_seed(int(config.seed) + 7919 * int(member))
    h, t, n = config.hidden_size, config.window, n_layers

    def uniform(shape, bound):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2.0 - 1.0) * bound

    k = 1.0 / math.sqrt(h)
    one = {
        "w_gates": uniform((4 * h, h + n), k),  # acts on [h_{t-1}; x~_t]: gates i, f, g, o
        "b_gates": uniform((4 * h,), k),
        "w_out": uniform((h,), k),
        "b_out": uniform((1,), k),
    }
    if attention:
        one["w_e"] = uniform((t, 2 * h), 1.0 / math.sqrt(2 * h))
        one["u_e"] = uniform((t, t), 1.0 / math.sqrt(t))
        one["b_e"] = torch.zeros(t, dtype=torch.float64)
        one["v_e"] = uniform((t,), 1.0 / math.sqrt(t))
    return {name: value.to(torch.float32) for name, value in one.items()}


def input_attention(params, driver_scores, h, c):
    """Attention weights b_t (M, B, L) over the L layers (DA-RNN eq. 8-9).

    ``driver_scores`` = ``U_e x^k + b_e`` for every layer, (M, B, L, T) (computed once per
    window); ``h``, ``c`` the previous hidden and cell states (M, B, H).
    """
    torch = import_torch()
    state = torch.bmm(torch.cat([h, c], dim=-1), params["w_e"].transpose(1, 2))  # (M, B, T)
    e = torch.tanh(driver_scores + state.unsqueeze(2))  # (M, B, L, T)
    scores = torch.einsum("mblt,mt->mbl", e, params["v_e"])
    return torch.softmax(scores, dim=-1)


def driver_scores(params, x):
    """``U_e x^k + b_e`` for each layer k over its whole window: (M, B, T, L) -> (M, B, L, T)."""
    torch = import_torch()
    return torch.einsum("mbtl,mst->mbls", x, params["u_e"]) + params["b_e"][:, None, None, :]


def forward(params, x, attention=True):
    """Simulated (scaled) target at each window's last month, and the attention weights.

    Args:
        params: from :func:`init_params` (with attention parameters when ``attention``).
        x: (M, B, T, L) scaled drivers, float32.

    Returns:
        ``(y, weights)``: (M, B) and (M, B, T, L) (None without attention).
    """
    torch = import_torch()
    m, b, t_len, _ = x.shape
    hidden = params["w_out"].shape[-1]
    h = x.new_zeros(m, b, hidden)
    c = x.new_zeros(m, b, hidden)
    w_gates = params["w_gates"].transpose(1, 2)  # (M, H + L, 4H)
    bias = params["b_gates"].unsqueeze(1)
    scores = driver_scores(params, x) if attention else None
    weights = []
    for step in range(t_len):
        x_t = x[:, :, step, :]
        if attention:
            beta = input_attention(params, scores, h, c)
            weights.append(beta)
            x_t = beta * x_t
        gates = torch.baddbmm(bias, torch.cat([h, x_t], dim=-1), w_gates)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    y = (h * params["w_out"].unsqueeze(1)).sum(-1) + params["b_out"]
    return y, (torch.stack(weights, dim=2) if attention else None)


def _masked_loss(pred, target, mask):
    """Per-model mean squared error over the observed targets, (M,)."""
    diff = (pred - target) * mask
    return (diff * diff).sum(-1) / mask.sum(-1).clamp(min=1.0)


def train_models(
    x_groups,
    group_of_model,
    y,
    split,
    config: TrainingConfig,
    attention=True,
    progress=None,
    ensemble_member=None,
    init=None,
    workers=None,
):
    """Train one network per model, batched (see the module docstring).

    Args:
        x_groups: (G, N, T, L) scaled driver windows of G groups (wells), float.
        group_of_model: (M,) group of each model (several PS points share their well's drivers).
        y: (M, N) scaled targets at each window's last month, NaN where not observed.
        split: (N,) ``SPLIT_TRAIN`` / ``SPLIT_VALIDATION`` / ``SPLIT_TEST`` per window.
        config: :class:`TrainingConfig`.
        attention: AM-LSTM (True) or the plain LSTM (False).
        progress: optional ``progress(fraction, message)``; it may raise (or return False) to
            cancel, checked after every epoch.
        ensemble_member: optional (M,) ensemble member of each model (its initial draw, see
            :func:`init_params`); default all 0.
        init: optional starting weights, numpy arrays with the leading model dimension (M, ...)
            as returned here (a warm start); default: :func:`init_params` from ``config.seed``.
        workers: threads that train shares of the models side by side (the result does not
            depend on it); default: torch's thread count (the cores), at most one per
            :data:`MODELS_PER_WORKER` models and one per :data:`ACTIVE_PER_WORKER` of
            ``config.chunk_models`` (raise ``chunk_models`` to use more cores).

    At most ``config.chunk_models`` models train at a time; each stops on its own patience and
    then leaves the tensor program, a waiting model taking its place (:mod:`core.amlstm_train`),
    so a model's result does not depend on the models trained beside it.

    Returns:
        ``(params, history)``: numpy arrays with the leading model dimension (the weights of each
        model's best validation epoch) and a dict ``epochs_run`` (M,), ``best_epoch`` (M,),
        ``train_loss``/``val_loss`` (per epoch, mean over the models still training).
    """
    torch = import_torch()
    config.validate()
    if ensemble_member is not None:
        ensemble_member = np.asarray(ensemble_member, dtype=np.int64)  # (M,)
    xg = torch.as_tensor(np.asarray(x_groups, dtype=np.float32))
    groups = np.asarray(group_of_model, dtype=np.int64)
    y_np = np.asarray(y, dtype=np.float32)
    split = np.asarray(split)
    train_idx = np.flatnonzero(split == SPLIT_TRAIN)
    val_idx = np.flatnonzero(split == SPLIT_VALIDATION)
    if train_idx.size == 0:
        raise ValueError("split: no training window")
    n_layers = xg.shape[-1]

    def start_of(rows):
        if init is not None:
            return {k: torch.as_tensor(np.asarray(v[rows], dtype=np.float32)) for k, v in init.items()}
        member = None if ensemble_member is None else ensemble_member[rows]
        return init_params(rows.size, n_layers, config, attention, member)

    from .amlstm_train import train_stream

    with _threads_for(torch, y_np.shape[0]) as cores:
        if workers is None:
            limits = (cores, y_np.shape[0] // MODELS_PER_WORKER, config.chunk_models // ACTIVE_PER_WORKER)
            workers = max(1, min(limits))
        return train_stream(
            torch,
            xg,
            groups,
            y_np,
            train_idx,
            val_idx,
            config,
            attention,
            start_of,
            init is not None,
            progress,
            workers,
        )


def predict_models(params, x_groups, group_of_model, attention=True, chunk_models=512):
    """Scaled predictions (M, N) and attention weights (M, N, T, L) (None without attention)."""
    torch = import_torch()
    xg = torch.as_tensor(np.asarray(x_groups, dtype=np.float32))
    groups = np.asarray(group_of_model, dtype=np.int64)
    preds, weights = [], []
    with torch.no_grad(), _threads_for(torch, groups.size):
        for start in range(0, groups.size, chunk_models):
            sel = slice(start, start + chunk_models)
            chunk = {k: torch.as_tensor(np.asarray(v[sel], dtype=np.float32)) for k, v in params.items()}
            pred, beta = forward(chunk, xg[torch.as_tensor(groups[sel])], attention)
            preds.append(pred.numpy())
            if beta is not None:
                weights.append(beta.numpy())
    return np.concatenate(preds), (np.concatenate(weights) if weights else None)
