"""AM-LSTM inputs from a synthetic study area's truth (METHODS.md sections 4-6).

For tests and benches: per well, the mean TRUE vertical series of the PS points within
``radius_m`` (seed 000: 300 m), on month steps (linear interpolation), differenced to the
monthly deformation, with the well's heads as drivers. Scoring against the generator's truth
keeps the method from being judged by its own noisy input.
"""

import warnings

import numpy as np

from .amlstm_data import SimulationData, attach_groundwater, monthly_increments


def subsidence_wells(area):
    """Ids of the wells that drive a subsidence bowl (the others sit on stable ground or uplift)."""
    return [b["well_id"] for b in area.bowls if b.get("kind") == "subsidence" and b.get("well_id")]


def point_targets(area, well_ids, radius_m=300.0, truth=True):
    """Per PS point in the wells' buffers: ids, owning well, months and monthly increments."""
    gw = area.groundwater
    if truth:
        series = area.deformation_vertical_mm
    else:  # what buffer sampling sees: observed LOS (errors, gaps) turned vertical
        series = area.ps.displacement_mm / np.cos(np.deg2rad(area.ps.incidence_deg))[:, None]
    ids, owner, rows = [], [], []
    for wid in well_ids:
        w = int(np.flatnonzero(gw.well_ids == wid)[0])
        inside = np.flatnonzero(np.hypot(area.ps.x - gw.x[w], area.ps.y - gw.y[w]) <= radius_m)
        ids.extend(area.ps.ids[inside].tolist())
        owner.extend([wid] * inside.size)
        rows.append(inside)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    months, inc = monthly_increments(series[rows], area.ps.dates)
    return np.array(ids), np.array(owner), months, inc


def well_data(area, well_ids=None, radius_m=300.0, truth=True) -> SimulationData:
    """:class:`SimulationData` of ``well_ids`` (default: the subsidence wells) from the truth (or,
    with ``truth=False``, from the observed series, gaps skipped)."""
    well_ids = list(well_ids) if well_ids is not None else subsidence_wells(area)
    _ids, owner, months, inc = point_targets(area, well_ids, radius_m, truth)
    with warnings.catch_warnings():  # the first month has no increment: an all-NaN mean
        warnings.simplefilter("ignore", RuntimeWarning)
        target = np.stack([np.nanmean(inc[owner == wid], axis=0) for wid in well_ids])
    base = SimulationData(np.array(well_ids), [], months, np.zeros((len(well_ids), 0, months.size)), target)
    return attach_groundwater(base, area.groundwater)
