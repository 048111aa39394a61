"""Groundwater of the :mod:`core.synthetic` study area: per-layer shares and pumping profiles,
daily heads, delayed inelastic drawdown (METHODS.md sections 5 and 6), and the well and head
tables written by the algorithms.
"""

import numpy as np
from scipy.signal import lfilter

from .psdata import DAYS_PER_YEAR
from .synthetic_base import LAYERS, _rng


def _layer_shares(p):
    """Each layer's share of the compaction at a bowl: ``dominant_share`` to the dominant
    layer, the rest split over the others (confined layers weigh 4x the unconfined one)."""
    base = np.array([1.0 if name == "unconfined" else 4.0 for name in LAYERS])
    dom = LAYERS.index(p.dominant_layer)
    base[dom] = 0.0
    shares = (1.0 - p.dominant_share) * base / base.sum()
    shares[dom] = p.dominant_share
    return shares


def _layer_profile(p):
    """Nominal decline (m/yr) and seasonal amplitude (m) per layer.

    The tuples in :class:`SyntheticParams` describe the default case, confined_2 the most
    exploited layer; another ``dominant_layer`` takes over confined_2's pumping profile (and
    gives it its own), since the layer that drives subsidence is the one pumped hardest.
    """
    decline = np.array(p.decline_m_per_year, dtype=float)
    amplitude = np.array(p.seasonal_head_amplitude_m, dtype=float)
    dom, default = LAYERS.index(p.dominant_layer), LAYERS.index("confined_2")
    decline[[dom, default]] = decline[[default, dom]]
    amplitude[[dom, default]] = amplitude[[default, dom]]
    return decline, amplitude


def _heads(p, intensity, day0, n_days):
    """Daily heads, split into secular (trend + wander) and seasonal parts, (w, L, days) each.

    Every layer of every well has its own decline-rate changes and wander, so the layers
    are distinguishable and the dominant one can be identified from the data (METHODS 5).
    """
    rng = _rng(p.seed, "heads")
    w, n_layers = intensity.size, len(LAYERS)
    t = np.arange(n_days) / DAYS_PER_YEAR  # years since the start of the well record
    years_total = t[-1]
    secular = np.empty((w, n_layers, n_days))
    seasonal = np.empty((w, n_layers, n_days))
    decline, amplitude = _layer_profile(p)
    epoch_days = (day0 + np.arange(n_days)).astype("datetime64[D]").astype(np.int64)
    doy_phase = 2 * np.pi * epoch_days / DAYS_PER_YEAR
    # Epoch day 0 is 1970-01-01. Shallow heads are lowest in late spring (irrigation
    # pumping), deeper layers lag by about 40 days per layer (slow leakage).
    low_day = np.array([140.0, 180.0, 220.0, 260.0])
    for i in range(w):
        for j in range(n_layers):
            rate = decline[j] * intensity[i]
            n_breaks = rng.integers(2, 4)
            breaks = np.sort(rng.uniform(0.1, 0.9, n_breaks)) * years_total
            # The most exploited (dominant) layer keeps declining at changing rates; the
            # others mix fast decline, stagnation and partial recovery (pumping bans,
            # imported water). Both average about the nominal rate.
            if LAYERS[j] == p.dominant_layer:
                rates = rate * rng.uniform(0.4, 1.6, n_breaks + 1)
            else:
                rates = rate * rng.uniform(-0.8, 2.8, n_breaks + 1)
            piece = np.searchsorted(breaks, t)
            slope = rates[piece]
            trend = np.concatenate([[0.0], np.cumsum(0.5 * (slope[1:] + slope[:-1]) * np.diff(t))])
            # Slow wander (low-pass random walk, ~0.4 yr), amplitude grows with pumping.
            steps = rng.normal(size=n_days)
            wander = lfilter([1.0 - np.exp(-1 / 150.0)], [1.0, -np.exp(-1 / 150.0)], steps)
            wander = lfilter([1.0 - np.exp(-1 / 150.0)], [1.0, -np.exp(-1 / 150.0)], wander)
            wander = wander / (np.std(wander) + 1e-12) * (0.25 + 0.6 * intensity[i] * (j > 0))
            base = p.base_head_m[j] + rng.normal(0, 2.0)
            secular[i, j] = base - trend + wander
            amp = amplitude[j] * (0.5 + 0.7 * intensity[i])
            wobble = np.sin(2 * np.pi * t / rng.uniform(2.5, 4.5) + rng.uniform(0, 2 * np.pi))
            amp_year = amp * (1.0 + 0.15 * wobble)
            phase = 2 * np.pi * (low_day[j] + rng.normal(0, 8)) / DAYS_PER_YEAR
            seasonal[i, j] = -amp_year * np.cos(doy_phase - phase)
    return secular, seasonal


def _running_min_delay(head, tau_days):
    """Inelastic drawdown: new head lows (running minimum, relative to the start), passed
    through an exponential delay kernel of time constant ``tau_days`` (METHODS 6)."""
    low = np.minimum.accumulate(head, axis=-1) - head[..., :1]
    a = np.exp(-1.0 / tau_days)
    # Start in equilibrium so the delay adds no artificial ramp at the first day.
    return lfilter([1.0 - a], [1.0, -a], low, axis=-1)

def _records(area_or_groundwater):
    return getattr(area_or_groundwater, "groundwater", area_or_groundwater)


def groundwater_long_table(area):
    """Long table of the heads: columns well_id, date, layer, level_m (one row per
    well x date x layer, wells then dates then layers), as a dict of (rows,) arrays.

    Accepts a :class:`StudyArea` or a :class:`GroundwaterRecords`.
    """
    gw = _records(area)
    w, n_layers, t = gw.levels_m.shape
    return {
        "well_id": np.repeat(gw.well_ids, t * n_layers),
        "date": np.tile(np.repeat(gw.dates, n_layers), w),
        "layer": np.tile(np.asarray(gw.layers), w * t),
        "level_m": gw.levels_m.transpose(0, 2, 1).reshape(-1),
    }


def groundwater_wide_table(area):
    """Wide table of the heads: columns well_id, date and one per layer (metres), one row
    per well x date (wells then dates), as a dict of (rows,) arrays.

    Accepts a :class:`StudyArea` or a :class:`GroundwaterRecords`.
    """
    gw = _records(area)
    w, _, t = gw.levels_m.shape
    table = {"well_id": np.repeat(gw.well_ids, t), "date": np.tile(gw.dates, w)}
    for j, name in enumerate(gw.layers):
        table[name] = gw.levels_m[:, j, :].reshape(-1)
    return table


def wells_table(area):
    """Per-well attributes: well_id, x, y and ``screen_depth_<layer>_m`` for every layer."""
    gw = _records(area)
    table = {"well_id": gw.well_ids, "x": gw.x, "y": gw.y}
    for j, name in enumerate(gw.layers):
        table[f"screen_depth_{name}_m"] = (
            gw.screen_depth_m[:, j] if gw.screen_depth_m is not None else np.full(gw.n_wells, np.nan)
        )
    return table
