"""Groundwater records: wells with water-level series for several aquifer layers (METHODS.md 1)."""

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class GroundwaterRecords:
    """w wells x L aquifer layers x t dates of water level.

    Attributes:
        well_ids: shape (w,).
        x, y: well positions in ``crs``, shape (w,); NaN when unknown (a bare table).
        layers: L layer names, shallow to deep (e.g. unconfined, confined_1, ...).
        dates: ``datetime64[D]``, shape (t,), strictly increasing (typically monthly).
        levels_m: float array (w, L, t), metres, NaN for gaps.
        kind: ``"head"`` (level above datum, rises when water rises) or ``"depth"``
            (depth to water below surface, rises when water falls).
        crs: as in :class:`~core.psdata.PSDataset`.
        screen_depth_m: optional (w, L) depth of each screen below surface (metres).
    """

    well_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    layers: list
    dates: np.ndarray
    levels_m: np.ndarray
    kind: str = "head"
    crs: str = ""
    screen_depth_m: Optional[np.ndarray] = None

    def __post_init__(self):
        self.levels_m = np.asarray(self.levels_m, dtype=np.float64)
        if self.levels_m.ndim != 3:
            raise ValueError(f"levels_m: expected (wells x layers x dates), got shape {self.levels_m.shape}")
        w, n_layers, t = self.levels_m.shape
        self.well_ids = np.asarray(self.well_ids)
        if self.well_ids.shape != (w,):
            raise ValueError(f"well_ids: expected {w} ids, got shape {self.well_ids.shape}")
        if len(set(self.well_ids.tolist())) != w:
            raise ValueError("well_ids: duplicate well id")
        self.x = np.asarray(self.x, dtype=np.float64).reshape(w)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(w)
        self.layers = [str(name) for name in self.layers]
        if len(self.layers) != n_layers:
            raise ValueError(f"layers: expected {n_layers} layer names, got {len(self.layers)}")
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        if self.dates.shape != (t,):
            raise ValueError(f"dates: expected {t} dates, got shape {self.dates.shape}")
        if t > 1 and np.any(np.diff(self.dates).astype(np.int64) <= 0):
            raise ValueError("dates: must be strictly increasing (sorted, no duplicates)")
        if self.kind not in ("head", "depth"):
            raise ValueError(f"kind: expected 'head' or 'depth', got {self.kind!r}")
        if self.screen_depth_m is not None:
            self.screen_depth_m = np.asarray(self.screen_depth_m, dtype=np.float64)
            if self.screen_depth_m.shape != (w, n_layers):
                raise ValueError(
                    f"screen_depth_m: expected shape {(w, n_layers)}, got {self.screen_depth_m.shape}"
                )

    @property
    def n_wells(self) -> int:
        return self.levels_m.shape[0]
