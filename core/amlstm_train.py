"""The batched training loop of :func:`core.amlstm.train_models`: many small networks stream
through one tensor program.

At most ``chunk_models`` networks are active at a time. Each trains on its own epochs: the
mini-batch order of its epoch e is the e-th permutation drawn from ``config.seed`` (the order a
network trained alone gets), with its own Adam step count, so its result does not depend on the
networks beside it. A network whose early stopping fired leaves at the end of the epoch (the
active set is compacted) and waiting networks join in its place, so the batch stays full and
the work follows the networks still learning. All active networks meet at epoch ends (every
epoch has the same mini-batch sizes), where validation, stopping and joining happen.
"""

import numpy as np

from . import amlstm_bptt as bptt
from .amlstm import TrainingCancelledError, _masked_loss

# Weight decay (L2, as torch.optim.Adam's) on the LSTM's weight matrices only, not on biases nor
# on the attention, whose scores it would flatten toward uniform.
DECAYED = ("w_gates", "w_out")


class _Adam:
    """Adam (Kingma & Ba 2014) with torch.optim.Adam's update (and its L2 ``weight_decay`` on
    the columns ``decayed``) on the rows of a flat (A, P) parameter tensor, each row (model)
    with its own step count; rows can be dropped (:meth:`keep`) and added (:meth:`join`)."""

    def __init__(self, torch, lr, weight_decay=0.0, decayed=(), betas=(0.9, 0.999), eps=1e-8):
        self.torch, self.lr, self.weight_decay, self.betas, self.eps = torch, lr, weight_decay, betas, eps
        self.decayed = list(decayed)
        self.m = self.v = None
        self.steps = torch.zeros(0, dtype=torch.float64)

    def join(self, flat):
        torch = self.torch
        zeros = torch.zeros_like(flat)
        self.m = zeros.clone() if self.m is None else torch.cat([self.m, zeros])
        self.v = zeros if self.v is None else torch.cat([self.v, zeros])
        self.steps = torch.cat([self.steps, torch.zeros(flat.shape[0], dtype=torch.float64)])

    def keep(self, rows):
        self.m, self.v, self.steps = self.m[rows], self.v[rows], self.steps[rows]

    def step(self, p, grad):
        self.steps += 1.0
        b1, b2 = self.betas
        step_size = (self.lr / (1.0 - b1**self.steps)).float().unsqueeze(1)
        root2 = (1.0 - b2**self.steps).sqrt().float().unsqueeze(1)
        if self.weight_decay:
            for cols in self.decayed:
                grad[:, cols].add_(p[:, cols], alpha=self.weight_decay)
        self.m.lerp_(grad, 1.0 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        denom = (self.v.sqrt() / root2).add_(self.eps)
        p.sub_(self.m / denom * step_size)


def report(progress, fraction, epoch, config):
    if progress is None:
        return
    if progress(min(fraction, 1.0), f"epoch {epoch}/{config.epochs}") is False:
        raise TrainingCancelledError("cancelled")


def train_stream(torch, xg, groups, y_np, train_idx, val_idx, config, attention, start_of, warm, progress):
    """Train every model (see the module docstring); ``start_of(rows)`` gives the starting
    weights of models ``rows`` (tensors with that leading dimension)."""
    n_models, n_epochs = y_np.shape[0], config.epochs
    rng = np.random.default_rng(int(config.seed))
    orders = torch.as_tensor(np.stack([train_idx[rng.permutation(train_idx.size)] for _ in range(n_epochs)]))
    target_all = torch.as_tensor(np.nan_to_num(y_np))
    mask_all = torch.as_tensor(np.isfinite(y_np).astype(np.float32))
    group_all = torch.as_tensor(groups)
    vb = torch.as_tensor(val_idx)
    epochs_run, best_epoch = np.zeros(n_models, np.int64), np.zeros(n_models, np.int64)
    sums = {"train_loss": np.zeros(n_epochs), "val_loss": np.zeros(n_epochs)}
    counts = np.zeros(n_epochs)
    layout = optimizer = out = None
    act = {}  # rows, epoch, params, best (flat (A, P)), best_loss, wait, best_epoch of the active models
    queued = 0

    def val_loss_of(flat, rows, fallback):
        if not val_idx.size:
            return fallback
        pred = bptt.run(
            torch, layout.views(flat), xg[group_all[rows][:, None], vb[None, :]], attention, False
        )[0]
        loss = _masked_loss(pred, target_all[rows][:, vb], mask_all[rows][:, vb])
        return torch.where(mask_all[rows][:, vb].sum(-1) > 0, loss, fallback)

    def admit(count):
        nonlocal queued, layout, optimizer, out
        rows = torch.arange(queued, queued + count)
        queued += count
        named = start_of(rows.numpy())
        if layout is None:
            layout = bptt.Layout(named)
            decayed = [layout.slices[k] for k in DECAYED if k in layout.slices]
            optimizer = _Adam(torch, config.learning_rate, config.weight_decay, decayed)
            out = np.zeros((n_models, layout.size), np.float32)
        start = layout.flatten(torch, named)
        new = {
            "rows": rows,
            "epoch": torch.ones(count, dtype=torch.int64),
            "best_loss": torch.full((count,), float("inf")),
            "wait": torch.zeros(count, dtype=torch.int64),
            "best_epoch": torch.zeros(count, dtype=torch.int64),
            "best": start.clone(),
            "params": start,
        }
        if warm:  # a warm start's own weights are a candidate too (epoch 0)
            new["best_loss"] = val_loss_of(start, rows, new["best_loss"])
        optimizer.join(start)
        for key, value in new.items():
            act[key] = value if key not in act else torch.cat([act[key], value])

    admit(min(config.chunk_models, n_models))
    done = 0
    while act["rows"].numel():
        rows, flat, epoch = act["rows"], act["params"], act["epoch"]
        params, grad = layout.views(flat), torch.empty_like(flat)
        order = orders[epoch - 1]  # (A, n_train): each model's own epoch order
        train_sum = torch.zeros(rows.numel())
        for begin in range(0, train_idx.size, config.batch_size):
            batch = order[:, begin : begin + config.batch_size]
            x = xg[group_all[rows][:, None], batch]  # (A, B, T, L)
            target, mask = target_all[rows[:, None], batch], mask_all[rows[:, None], batch]
            loss = bptt.loss_and_grad(torch, params, x, target, mask, attention, layout.views(grad))
            optimizer.step(flat, grad)
            train_sum += loss * batch.shape[1]
        train_loss = train_sum / train_idx.size
        val_loss = val_loss_of(flat, rows, train_loss)
        improved = val_loss < act["best_loss"]
        act["best_loss"] = torch.where(improved, val_loss, act["best_loss"])
        act["wait"] = torch.where(improved, torch.zeros_like(act["wait"]), act["wait"] + 1)
        act["best_epoch"] = torch.where(improved, epoch, act["best_epoch"])
        act["best"][improved] = flat[improved]
        e = epoch.numpy() - 1
        np.add.at(sums["train_loss"], e, train_loss.numpy())
        np.add.at(sums["val_loss"], e, val_loss.numpy())
        np.add.at(counts, e, 1)
        leaving = (act["wait"] >= config.patience) | (epoch >= n_epochs)
        gone = rows[leaving].numpy()
        out[gone] = act["best"][leaving].numpy()
        epochs_run[gone], best_epoch[gone] = epoch[leaving].numpy(), act["best_epoch"][leaving].numpy()
        done += gone.size
        running = float((epoch[~leaving].double() / n_epochs).sum())
        report(progress, (done + running) / n_models, int(epoch.max()), config)
        if bool(leaving.any()):  # compact: the stopped models leave the tensor program
            keep = torch.nonzero(~leaving).squeeze(1)
            for key in ("rows", "epoch", "best_loss", "wait", "best_epoch", "best", "params"):
                act[key] = act[key][keep]
            optimizer.keep(keep)
        act["epoch"] = act["epoch"] + 1
        if queued < n_models and act["rows"].numel() < config.chunk_models:
            admit(min(config.chunk_models - act["rows"].numel(), n_models - queued))
    ran = counts > 0
    curves = {key: value[ran] / counts[ran] for key, value in sums.items()}
    named = {k: np.ascontiguousarray(v.numpy()) for k, v in layout.views(torch.as_tensor(out)).items()}
    return named, {"epochs_run": epochs_run, "best_epoch": best_epoch, **curves}


__all__ = ["DECAYED", "report", "train_stream"]
