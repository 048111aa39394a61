"""Monthly drivers and targets for the AM-LSTM, windowed, split and scaled (METHODS.md 5).

* One monthly grid (first day of each month) holds the groundwater heads (W features x L layers)
  and the targets (monthly deformation, mm). Heads may start before the targets (a well record
  longer than the InSAR period): a window then reaches back into that history.
* A window of T months ends at its target month and includes it (simulation, not forecast).
* Chronological split of the target months that have a full window: the first
  ``train_fraction`` train, the next ``validation_fraction`` validate (early stopping), the rest
  test. Nothing is shuffled across the split (mini-batches are shuffled inside training only).
* Scaling to [-1, 1] with min/max from the training part only: per feature and layer over the
  months the training windows read, per model over the training targets. Test months never
  touch a scaler.
"""

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from .amlstm import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION
from .ps_ops import resample_monthly


@dataclass
class SimulationData:
    """Drivers and targets of W features (wells) on one monthly grid.

    Attributes:
        feature_ids: (W,) ids.
        layers: L layer names (drivers), shallow to deep.
        months: (n,) ``datetime64[D]``, first day of consecutive months.
        heads_m: (W, L, n) water levels, NaN where not measured.
        increments_mm: (W, n) monthly deformation, NaN where not observed.
    """

    feature_ids: np.ndarray
    layers: List[str]
    months: np.ndarray
    heads_m: np.ndarray
    increments_mm: np.ndarray

    def __post_init__(self):
        self.feature_ids = np.asarray(self.feature_ids)
        self.layers = [str(v) for v in self.layers]
        self.months = np.asarray(self.months, dtype="datetime64[D]")
        self.heads_m = np.asarray(self.heads_m, dtype=np.float64)
        self.increments_mm = np.asarray(self.increments_mm, dtype=np.float64)
        w, n = self.feature_ids.size, self.months.size
        if self.heads_m.shape != (w, len(self.layers), n):
            raise ValueError(f"heads_m: expected shape {(w, len(self.layers), n)}, got {self.heads_m.shape}")
        if self.increments_mm.shape != (w, n):
            raise ValueError(f"increments_mm: expected shape {(w, n)}, got {self.increments_mm.shape}")


def month_index(dates, first_month) -> np.ndarray:
    """Whole months from ``first_month`` to each date's month."""
    months = np.asarray(dates, dtype="datetime64[D]").astype("datetime64[M]")
    return (months - np.datetime64(first_month, "M")).astype(np.int64)


def monthly_grid(dates) -> np.ndarray:
    """First days of every month from the earliest to the latest of ``dates``."""
    months = np.asarray(dates, dtype="datetime64[D]").astype("datetime64[M]")
    return np.arange(months.min(), months.max() + 1).astype("datetime64[D]")


def from_long_table(ids, dates, target_mm, heads_by_layer) -> SimulationData:
    """:class:`SimulationData` from a long table (one row per feature and month).

    Args:
        ids: (rows,) feature ids.
        dates: (rows,) dates (any day of the month; rows of one month are averaged).
        target_mm: (rows,) monthly deformation (NaN allowed).
        heads_by_layer: layer name -> (rows,) water level, or an empty dict (attach a separate
            groundwater table with :func:`attach_groundwater`).
    """
    ids = np.asarray(ids)
    grid = monthly_grid(dates)
    col = month_index(dates, grid[0])
    feature_ids, row = np.unique(ids, return_inverse=True)
    layers = list(heads_by_layer)

    def spread(values):
        values = np.asarray(values, dtype=np.float64)
        total = np.zeros((feature_ids.size, grid.size))
        count = np.zeros_like(total)
        ok = np.isfinite(values)
        np.add.at(total, (row[ok], col[ok]), values[ok])
        np.add.at(count, (row[ok], col[ok]), 1.0)
        return np.where(count > 0, total / np.maximum(count, 1.0), np.nan)

    heads = np.stack([spread(heads_by_layer[name]) for name in layers], axis=1) if layers else None
    if heads is None:
        heads = np.zeros((feature_ids.size, 0, grid.size))
    return SimulationData(feature_ids, layers, grid, heads, spread(target_mm))


def attach_groundwater(data: SimulationData, records, well_of_feature=None) -> SimulationData:
    """``data`` with the heads of a :class:`~core.groundwater.GroundwaterRecords` (monthly means).

    ``well_of_feature`` maps a feature id to a well id (default: the same id). Heads of kind
    ``depth`` are turned into heads (negated) so that a falling level is always a decline.
    """
    gw_months = np.asarray(records.dates, dtype="datetime64[D]")
    grid = monthly_grid(np.concatenate([data.months, gw_months]))
    shift = month_index(data.months[:1], grid[0])[0]
    n = grid.size
    targets = np.full((data.feature_ids.size, n), np.nan)
    targets[:, shift : shift + data.months.size] = data.increments_mm
    col = month_index(gw_months, grid[0])
    sign = -1.0 if records.kind == "depth" else 1.0
    wells = {str(w): i for i, w in enumerate(records.well_ids)}
    heads = np.full((data.feature_ids.size, len(records.layers), n), np.nan)
    for f, fid in enumerate(data.feature_ids):
        name = str(well_of_feature.get(fid, fid) if well_of_feature else fid)
        if name not in wells:
            raise ValueError(f"groundwater: no well {name!r} for feature {fid!r} (wells: {', '.join(wells)})")
        levels = records.levels_m[wells[name]]
        for j in range(len(records.layers)):
            total = np.bincount(col, weights=np.nan_to_num(levels[j]), minlength=n)
            count = np.bincount(col, weights=np.isfinite(levels[j]).astype(float), minlength=n)
            heads[f, j] = np.where(count > 0, sign * total / np.maximum(count, 1.0), np.nan)
    return SimulationData(data.feature_ids, list(records.layers), grid, heads, targets)


def monthly_increments(series_mm, dates):
    """(m, n_dates) cumulative series -> (months, (m, k) monthly increments; first month NaN).

    Linear interpolation to the first day of each month (METHODS.md 4), then differences."""
    months, monthly = resample_monthly(series_mm, dates)
    return months, np.diff(monthly, axis=1, prepend=np.nan)


def on_grid(values, months, grid):
    """(rows, k) values on ``months`` placed on the monthly ``grid`` (NaN elsewhere)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full((values.shape[0], np.asarray(grid).size), np.nan)
    col = month_index(months, np.asarray(grid)[0])
    keep = (col >= 0) & (col < out.shape[1])
    out[:, col[keep]] = values[:, keep]
    return out


def fill_heads(heads_m) -> np.ndarray:
    """Interior gaps filled by linear interpolation in time; months outside each series stay NaN."""
    out = np.array(heads_m, dtype=np.float64, copy=True)
    t = np.arange(out.shape[-1])
    flat = out.reshape(-1, out.shape[-1])
    for row in flat:
        ok = np.flatnonzero(np.isfinite(row))
        if ok.size >= 2:
            inside = slice(ok[0], ok[-1] + 1)
            row[inside] = np.interp(t[inside], ok, row[ok])
    return out


@dataclass
class Windows:
    """Windowed, split and scaled drivers.

    Attributes:
        target_index: (N,) index in the monthly grid of each window's last (target) month.
        split: (N,) SPLIT_TRAIN / SPLIT_VALIDATION / SPLIT_TEST.
        x: (W, N, T, L) drivers scaled to [-1, 1] (0 where a feature's window is incomplete).
        complete: (W, N) the feature has heads over the whole window.
        x_min, x_max: (W, L) training-part head range per feature and layer.
    """

    target_index: np.ndarray
    split: np.ndarray
    x: np.ndarray
    complete: np.ndarray
    x_min: np.ndarray
    x_max: np.ndarray


def chronological_split(n_windows, train_fraction, validation_fraction) -> np.ndarray:
    """SPLIT codes for N windows in time order: train first, then validation, then test."""
    n_train = max(1, int(round(train_fraction * n_windows)))
    n_val = max(1, int(round(validation_fraction * n_windows))) if validation_fraction > 0 else 0
    if n_train + n_val >= n_windows:
        raise ValueError(
            f"window: only {n_windows} windows with a target; too few for a train / validation / test split"
        )
    split = np.full(n_windows, SPLIT_TEST, dtype=np.int64)
    split[:n_train] = SPLIT_TRAIN
    split[n_train : n_train + n_val] = SPLIT_VALIDATION
    return split


def window_stack(heads_m, target_index, window, drivers="level") -> np.ndarray:
    """(W, L, n) heads -> (W, N, T, L) windows ending at each ``target_index``.

    ``drivers="level"``: the heads as they are (Cao et al.); ``"change"``: each window's heads
    minus its first month's, i.e. the head change since the window began.
    """
    offsets = np.arange(-window + 1, 1)
    cols = np.asarray(target_index)[:, None] + offsets[None, :]  # (N, T)
    raw = np.asarray(heads_m)[:, :, cols].transpose(0, 2, 3, 1)
    if drivers == "change":
        return raw - raw[:, :, :1, :]
    if drivers != "level":
        raise ValueError(f"drivers: expected 'level' or 'change', got {drivers!r}")
    return raw


def make_windows(data: SimulationData, config) -> Windows:
    """Windows over the months that have a full driver window and an observed target."""
    window = config.window
    if not data.layers:
        raise ValueError("layers: at least one groundwater layer is needed")
    heads = fill_heads(data.heads_m)
    candidates = np.arange(window - 1, data.months.size)
    observed = np.isfinite(data.increments_mm[:, candidates]).any(axis=0)
    raw_all = window_stack(heads, candidates, window)
    any_complete = np.isfinite(raw_all).all(axis=(2, 3)).any(axis=0)
    target_index = candidates[observed & any_complete]
    if target_index.size == 0:
        raise ValueError(
            f"window: no month has {window} months of groundwater levels before an observed target"
        )
    split = chronological_split(target_index.size, config.train_fraction, config.validation_fraction)
    raw = window_stack(heads, target_index, window, config.drivers)  # (W, N, T, L)
    complete = np.isfinite(raw).all(axis=(2, 3))
    x_min, x_max = training_range(raw[:, split == SPLIT_TRAIN], getattr(config, "layer_scaling", "layer"))
    x = np.nan_to_num(scale(raw, x_min[:, None, None, :], x_max[:, None, None, :]))
    x[~complete] = 0.0
    return Windows(target_index, split, x.astype(np.float32), complete, x_min, x_max)


def training_range(train_windows, layer_scaling="layer"):
    """(W, L) min and max over the training windows (W, N_train, T, L) of the drivers: with
    ``level`` drivers, the heads' range over the months the training windows read.

    ``layer_scaling="well"``: one span per well, the widest of its layers' ranges, each layer
    centred on the middle of its own range. A metre of head then scales the same in every
    layer, so a layer that barely moves stays small after scaling instead of being stretched to
    [-1, 1] like the pumped one (per-layer scaling makes the layers alike in amplitude, and the
    attention, whose score ``U_e x^k`` is shared by the layers, can tell them apart only by the
    shape of their series)."""
    with np.errstate(all="ignore"):
        lo, hi = np.nanmin(train_windows, axis=(1, 2)), np.nanmax(train_windows, axis=(1, 2))
    if layer_scaling == "layer":
        return lo, hi
    if layer_scaling != "well":
        raise ValueError(f"layer_scaling: expected 'layer' or 'well', got {layer_scaling!r}")
    with np.errstate(all="ignore"):
        half = np.nanmax(hi - lo, axis=-1, keepdims=True) / 2.0
    mid = (lo + hi) / 2.0
    return mid - half, mid + half


def fit_range(values, mask) -> tuple:
    """(rows,) min and max of ``values`` (rows, N) where ``mask`` (N,) and finite."""
    part = np.where(np.asarray(mask)[None, :], values, np.nan)
    with np.errstate(all="ignore"):
        return np.nanmin(part, axis=-1), np.nanmax(part, axis=-1)


def scale(values, lo, hi):
    """Min/max scaling to [-1, 1]; a constant (or empty) range maps to 0."""
    lo = np.nan_to_num(np.asarray(lo, dtype=np.float64))
    span = np.asarray(hi, dtype=np.float64) - lo
    span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    return 2.0 * (np.asarray(values, dtype=np.float64) - lo) / span - 1.0


def unscale(values, lo, hi):
    lo = np.nan_to_num(np.asarray(lo, dtype=np.float64))
    span = np.asarray(hi, dtype=np.float64) - lo
    span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    return (np.asarray(values, dtype=np.float64) + 1.0) * span / 2.0 + lo


def split_names(split: Sequence[int]) -> np.ndarray:
    names = np.array(["train", "validation", "test"])
    return names[np.asarray(split, dtype=np.int64)]


__all__ = ["SPLIT_TEST", "SPLIT_TRAIN", "SPLIT_VALIDATION"]
