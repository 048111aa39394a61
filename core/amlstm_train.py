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

from .amlstm import TrainingCancelledError, _masked_loss, forward

# Weight decay (L2, as torch.optim.Adam's) on the LSTM's weight matrices only, not on biases nor
# on the attention, whose scores it would flatten toward uniform.
DECAYED = ("w_gates", "w_out")


class _Adam:
    """Adam (Kingma & Ba 2014) with torch.optim.Adam's update (and its L2 ``weight_decay`` on
    :data:`DECAYED`) on per-model rows, each with its own step count; rows can be dropped
    (:meth:`keep`) and added (:meth:`join`)."""

    def __init__(self, torch, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8):
        self.torch, self.lr, self.weight_decay, self.betas, self.eps = torch, lr, weight_decay, betas, eps
        self.moments, self.steps = {}, torch.zeros(0, dtype=torch.float64)

    def join(self, params):
        torch = self.torch
        for name, value in params.items():
            fresh = (torch.zeros_like(value), torch.zeros_like(value))
            old = self.moments.get(name)
            self.moments[name] = (
                fresh if old is None else tuple(torch.cat([o, f]) for o, f in zip(old, fresh))
            )
        n = next(iter(params.values())).shape[0]
        self.steps = torch.cat([self.steps, torch.zeros(n, dtype=torch.float64)])

    def keep(self, rows):
        self.moments = {k: (m[rows], v[rows]) for k, (m, v) in self.moments.items()}
        self.steps = self.steps[rows]

    def step(self, params):
        self.steps += 1.0
        b1, b2 = self.betas
        step_size = (self.lr / (1.0 - b1**self.steps)).float()
        root2 = (1.0 - b2**self.steps).sqrt().float()
        for name, p in params.items():
            grad = p.grad
            if name in DECAYED and self.weight_decay:
                grad = grad.add(p.data, alpha=self.weight_decay)
            m, v = self.moments[name]
            m.lerp_(grad, 1.0 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
            shape = (-1,) + (1,) * (p.dim() - 1)
            denom = (v.sqrt() / root2.view(shape)).add_(self.eps)
            p.data.sub_(m / denom * step_size.view(shape))
            p.grad = None


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
    out, epochs_run, best_epoch = {}, np.zeros(n_models, np.int64), np.zeros(n_models, np.int64)
    sums = {"train_loss": np.zeros(n_epochs), "val_loss": np.zeros(n_epochs)}
    counts = np.zeros(n_epochs)
    optimizer = _Adam(torch, config.learning_rate, config.weight_decay)
    act = {}  # rows, epoch, params, best, best_loss, wait, best_epoch of the active models
    queued = 0

    def val_loss_of(params, rows, fallback):
        if not val_idx.size:
            return fallback
        with torch.no_grad():
            pred = forward(params, xg[group_all[rows][:, None], vb[None, :]], attention)[0]
        loss = _masked_loss(pred, target_all[rows][:, vb], mask_all[rows][:, vb])
        return torch.where(mask_all[rows][:, vb].sum(-1) > 0, loss, fallback)

    def admit(count):
        nonlocal queued
        rows = torch.arange(queued, queued + count)
        queued += count
        start = {k: v.detach().clone() for k, v in start_of(rows.numpy()).items()}
        new = {
            "rows": rows,
            "epoch": torch.ones(count, dtype=torch.int64),
            "best_loss": torch.full((count,), float("inf")),
            "wait": torch.zeros(count, dtype=torch.int64),
            "best_epoch": torch.zeros(count, dtype=torch.int64),
        }
        if warm:  # a warm start's own weights are a candidate too (epoch 0)
            new["best_loss"] = val_loss_of(start, rows, new["best_loss"])
        optimizer.join(start)
        for key, value in new.items():
            act[key] = value if key not in act else torch.cat([act[key], value])
        act["best"] = {
            k: torch.cat([act["best"][k], v]) if "best" in act else v.clone() for k, v in start.items()
        }
        old = act.get("params")
        act["params"] = {
            k: (v if old is None else torch.cat([old[k].detach(), v])).requires_grad_()
            for k, v in start.items()
        }

    admit(min(config.chunk_models, n_models))
    done = 0
    while act["rows"].numel():
        rows, params, epoch = act["rows"], act["params"], act["epoch"]
        order = orders[epoch - 1]  # (A, n_train): each model's own epoch order
        train_sum = torch.zeros(rows.numel())
        for begin in range(0, train_idx.size, config.batch_size):
            batch = order[:, begin : begin + config.batch_size]
            x = xg[group_all[rows][:, None], batch]  # (A, B, T, L)
            pred, _ = forward(params, x, attention)
            loss = _masked_loss(pred, target_all[rows[:, None], batch], mask_all[rows[:, None], batch])
            loss.sum().backward()
            with torch.no_grad():
                optimizer.step(params)
            train_sum += loss.detach() * batch.shape[1]
        with torch.no_grad():
            train_loss = train_sum / train_idx.size
            val_loss = val_loss_of(params, rows, train_loss)
            improved = val_loss < act["best_loss"]
            act["best_loss"] = torch.where(improved, val_loss, act["best_loss"])
            act["wait"] = torch.where(improved, torch.zeros_like(act["wait"]), act["wait"] + 1)
            act["best_epoch"] = torch.where(improved, epoch, act["best_epoch"])
            for name, value in params.items():
                act["best"][name][improved] = value.detach()[improved]
        e = epoch.numpy() - 1
        np.add.at(sums["train_loss"], e, train_loss.numpy())
        np.add.at(sums["val_loss"], e, val_loss.numpy())
        np.add.at(counts, e, 1)
        leaving = (act["wait"] >= config.patience) | (epoch >= n_epochs)
        gone = rows[leaving].numpy()
        for name, value in act["best"].items():
            out.setdefault(name, np.zeros((n_models, *value.shape[1:]), np.float32))[gone] = value[
                leaving
            ].numpy()
        epochs_run[gone], best_epoch[gone] = epoch[leaving].numpy(), act["best_epoch"][leaving].numpy()
        done += gone.size
        running = float((epoch[~leaving].double() / n_epochs).sum())
        report(progress, (done + running) / n_models, int(epoch.max()), config)
        if bool(leaving.any()):  # compact: the stopped models leave the tensor program
            keep = torch.nonzero(~leaving).squeeze(1)
            for key in ("rows", "epoch", "best_loss", "wait", "best_epoch"):
                act[key] = act[key][keep]
            act["best"] = {k: v[keep] for k, v in act["best"].items()}
            act["params"] = {k: v.detach()[keep].requires_grad_() for k, v in params.items()}
            optimizer.keep(keep)
        act["epoch"] = act["epoch"] + 1
        if queued < n_models and act["rows"].numel() < config.chunk_models:
            admit(min(config.chunk_models - act["rows"].numel(), n_models - queued))
    ran = counts > 0
    curves = {key: value[ran] / counts[ran] for key, value in sums.items()}
    return out, {"epochs_run": epochs_run, "best_epoch": best_epoch, **curves}


__all__ = ["DECAYED", "report", "train_stream"]
