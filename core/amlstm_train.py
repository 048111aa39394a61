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

import threading

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


class _Shared:
    """What the workers share, behind one lock: the queue of waiting models, the results,
    the loss curves and the progress (reported from whichever worker ends an epoch)."""

    def __init__(self, n_models, config, progress, workers):
        self.lock = threading.Lock()
        self.n_models, self.config, self.progress = n_models, config, progress
        self.queued = self.done = 0
        self.running = [0.0] * workers  # each worker's active models' epochs / n_epochs
        self.stop = False
        self.errors = []
        self.layout = self.out = None
        self.epochs_run = np.zeros(n_models, np.int64)
        self.best_epoch = np.zeros(n_models, np.int64)
        self.sums = {"train_loss": np.zeros(config.epochs), "val_loss": np.zeros(config.epochs)}
        self.counts = np.zeros(config.epochs)

    def take(self, torch, count):
        """The next ``count`` (at most) waiting models, as a row index tensor."""
        with self.lock:
            first = self.queued
            self.queued = min(self.n_models, first + count)
            return torch.arange(first, self.queued)

    def epoch_end(self, worker, ended, losses, running, epoch):
        """Record one worker's epoch: ``ended`` (rows, best weights (flat), epochs run, best
        epochs) of the models that stopped, ``losses`` (epoch index, train, val) of all."""
        rows, best, epochs_run, best_epoch = ended
        with self.lock:
            if self.out is None:
                self.out = np.zeros((self.n_models, best.shape[1]), np.float32)
            self.out[rows], self.epochs_run[rows], self.best_epoch[rows] = best, epochs_run, best_epoch
            e, train_loss, val_loss = losses
            np.add.at(self.sums["train_loss"], e, train_loss)
            np.add.at(self.sums["val_loss"], e, val_loss)
            np.add.at(self.counts, e, 1)
            self.done += rows.size
            self.running[worker] = running
            if self.stop:
                raise TrainingCancelledError("cancelled")
            try:
                report(self.progress, (self.done + sum(self.running)) / self.n_models, epoch, self.config)
            except BaseException:
                self.stop = True
                raise

    def result(self, torch, start_of):
        if self.layout is None:  # no model at all
            self.layout = bptt.Layout(start_of(np.arange(0)))
        ran = self.counts > 0
        curves = {key: value[ran] / self.counts[ran] for key, value in self.sums.items()}
        out = self.out if self.out is not None else np.zeros((self.n_models, self.layout.size), np.float32)
        named = {
            k: np.ascontiguousarray(v.numpy()) for k, v in self.layout.views(torch.as_tensor(out)).items()
        }
        return named, {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, **curves}


def train_stream(
    torch, xg, groups, y_np, train_idx, val_idx, config, attention, start_of, warm, progress, workers=1
):
    """Train every model (see the module docstring); ``start_of(rows)`` gives the starting
    weights of models ``rows`` (tensors with that leading dimension).

    ``workers`` > 1: as many threads each stream their own share of the models (taken from
    one queue; together at most ``chunk_models`` active). torch releases the GIL inside its
    operations, so the threads run on separate cores; a model's training does not depend on
    which thread trains it, so the result is the same with any number of workers."""
    n_models = y_np.shape[0]
    rng = np.random.default_rng(int(config.seed))
    data = {
        "orders": torch.as_tensor(
            np.stack([train_idx[rng.permutation(train_idx.size)] for _ in range(config.epochs)])
        ),
        "target": torch.as_tensor(np.nan_to_num(y_np)),
        "mask": torch.as_tensor(np.isfinite(y_np).astype(np.float32)),
        "group": torch.as_tensor(groups),
        "val": torch.as_tensor(val_idx),
        "n_train": train_idx.size,
        "xg": xg,
    }
    workers = max(1, min(int(workers), n_models))
    shared = _Shared(n_models, config, progress, workers)
    chunk = max(1, config.chunk_models // workers)
    run = (data, config, attention, start_of, warm, shared, chunk)
    if workers == 1:
        _stream(torch, 0, *run)
        return shared.result(torch, start_of)

    def guarded(worker):
        try:
            _stream(torch, worker, *run)
        except BaseException as exc:  # re-raised in the calling thread
            with shared.lock:
                shared.stop = True
                shared.errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if shared.errors:  # a real error before the cancellation it caused in the other workers
        raise sorted(shared.errors, key=lambda exc: isinstance(exc, TrainingCancelledError))[0]
    return shared.result(torch, start_of)


def _stream(torch, *args):
    """One worker (see :func:`_train`), in inference mode: no autograd bookkeeping at all (the
    gradients are hand-written), about 8 % less time per operation here."""
    with torch.inference_mode():
        _train(torch, *args)


def _train(torch, worker, data, config, attention, start_of, warm, shared, chunk):
    """One worker: trains at most ``chunk`` models at a time, taking waiting models from
    ``shared`` as its models stop, until the queue is empty."""
    n_epochs, n_train, vb = config.epochs, data["n_train"], data["val"]
    target_all, mask_all, group_all, xg = data["target"], data["mask"], data["group"], data["xg"]
    layout = optimizer = None
    act = {}  # rows, epoch, params, best (flat (A, P)), best_loss, wait, best_epoch of the active models

    def val_loss_of(flat, rows, fallback):
        if not vb.numel():
            return fallback
        x = xg[group_all[rows][:, None], vb[None, :]]
        pred = bptt.run(torch, layout.views(flat), x, attention, False)[0]
        loss = _masked_loss(pred, target_all[rows][:, vb], mask_all[rows][:, vb])
        return torch.where(mask_all[rows][:, vb].sum(-1) > 0, loss, fallback)

    def admit(count):
        nonlocal layout, optimizer
        rows = shared.take(torch, count)
        if not rows.numel():
            return
        named = start_of(rows.numpy())
        if layout is None:
            layout = shared.layout = bptt.Layout(named)
            decayed = [layout.slices[k] for k in DECAYED if k in layout.slices]
            optimizer = _Adam(torch, config.learning_rate, config.weight_decay, decayed)
        start = layout.flatten(torch, named)
        new = {
            "rows": rows,
            "epoch": torch.ones(rows.numel(), dtype=torch.int64),
            "best_loss": torch.full((rows.numel(),), float("inf")),
            "wait": torch.zeros(rows.numel(), dtype=torch.int64),
            "best_epoch": torch.zeros(rows.numel(), dtype=torch.int64),
            "best": start.clone(),
            "params": start,
        }
        if warm:  # a warm start's own weights are a candidate too (epoch 0)
            new["best_loss"] = val_loss_of(start, rows, new["best_loss"])
        optimizer.join(start)
        for key, value in new.items():
            act[key] = value if key not in act else torch.cat([act[key], value])

    admit(chunk)
    while act and act["rows"].numel():
        rows, flat, epoch = act["rows"], act["params"], act["epoch"]
        params, grad = layout.views(flat), torch.empty_like(flat)
        order = data["orders"][epoch - 1]  # (A, n_train): each model's own epoch order
        train_sum = torch.zeros(rows.numel())
        for begin in range(0, n_train, config.batch_size):
            batch = order[:, begin : begin + config.batch_size]
            x = xg[group_all[rows][:, None], batch]  # (A, B, T, L)
            target, mask = target_all[rows[:, None], batch], mask_all[rows[:, None], batch]
            loss = bptt.loss_and_grad(torch, params, x, target, mask, attention, layout.views(grad))
            optimizer.step(flat, grad)
            train_sum += loss * batch.shape[1]
        train_loss = train_sum / n_train
        val_loss = val_loss_of(flat, rows, train_loss)
        improved = val_loss < act["best_loss"]
        act["best_loss"] = torch.where(improved, val_loss, act["best_loss"])
        act["wait"] = torch.where(improved, torch.zeros_like(act["wait"]), act["wait"] + 1)
        act["best_epoch"] = torch.where(improved, epoch, act["best_epoch"])
        act["best"][improved] = flat[improved]
        leaving = (act["wait"] >= config.patience) | (epoch >= n_epochs)
        ended = (
            rows[leaving].numpy(),
            act["best"][leaving].numpy(),
            epoch[leaving].numpy(),
            act["best_epoch"][leaving].numpy(),
        )
        losses = (epoch.numpy() - 1, train_loss.numpy(), val_loss.numpy())
        running = float((epoch[~leaving].double() / n_epochs).sum())
        shared.epoch_end(worker, ended, losses, running, int(epoch.max()))
        if bool(leaving.any()):  # compact: the stopped models leave the tensor program
            keep = torch.nonzero(~leaving).squeeze(1)
            for key in ("rows", "epoch", "best_loss", "wait", "best_epoch", "best", "params"):
                act[key] = act[key][keep]
            optimizer.keep(keep)
        act["epoch"] = act["epoch"] + 1
        if act["rows"].numel() < chunk:
            admit(chunk - act["rows"].numel())


__all__ = ["DECAYED", "report", "train_stream"]
