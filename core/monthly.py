"""Monthly alignment of sampled PS series with groundwater records (METHODS.md section 4).

Groundwater is monthly, the PS series are on SAR dates: each feature's series is put on the
first day of every month by linear interpolation in time (:func:`core.ps_ops.resample_monthly`,
**[choice]** of METHODS 4), except that a month is left empty when the two observations around
it are more than ``max_gap_days`` apart (an interpolation across a long gap would invent a
straight line where nothing was seen). The monthly deformation, the model target of the
AM-LSTM (METHODS 5), is the increment from the previous month (mm/month).
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np

from .groundwater import GroundwaterRecords
from .groundwater_io import monthly_mean
from .ps_ops import resample_monthly

# [choice] A 24-day RADARSAT-2 repeat with three scenes missed in a row is 96 days (it happens
# in 54 scenes over 5.7 years); a whole season without scenes (snow) is beyond the limit.
DEFAULT_MAX_GAP_DAYS = 120.0


def long_gap_mask(series, dates, months, max_gap_days: float) -> np.ndarray:
    """(f, k) True where month k of row f lies inside a gap longer than ``max_gap_days``.

    A month falling exactly on an observed date is never masked.
    """
    series = np.asarray(series, dtype=np.float64)
    t = (np.asarray(dates, dtype="datetime64[D]") - np.asarray(dates, dtype="datetime64[D]")[0]).astype(
        np.float64
    )
    tm = (np.asarray(months, dtype="datetime64[D]") - np.asarray(dates, dtype="datetime64[D]")[0]).astype(
        np.float64
    )
    mask = np.zeros((series.shape[0], tm.size), dtype=bool)
    for i in range(series.shape[0]):
        ti = t[~np.isnan(series[i])]
        if ti.size < 2:
            continue
        hi = np.clip(np.searchsorted(ti, tm, side="left"), 1, ti.size - 1)
        lo = hi - 1
        exact = (ti[lo] == tm) | (ti[hi] == tm)
        mask[i] = ((ti[hi] - ti[lo]) > max_gap_days) & ~exact
    return mask


def resample_monthly_limited(series, dates, max_gap_days: float = DEFAULT_MAX_GAP_DAYS):
    """``(months, monthly)``: ``series`` (f, n) on month starts, NaN across gaps > ``max_gap_days``.

    Raises:
        ValueError: ``max_gap_days`` not positive, or no month start within the dates.
    """
    if not np.isfinite(max_gap_days) or max_gap_days <= 0:
        raise ValueError(f"max_gap_days: must be a positive number of days, got {max_gap_days}")
    series = np.atleast_2d(np.asarray(series, dtype=np.float64))
    dates = np.asarray(dates, dtype="datetime64[D]")
    months, monthly = resample_monthly(series, dates)
    if months.size == 0:
        raise ValueError(f"dates: {dates[0]} .. {dates[-1]} contains no first day of a month")
    monthly[long_gap_mask(series, dates, months, max_gap_days)] = np.nan
    return months, monthly


def monthly_count(count, dates, months) -> np.ndarray:
    """Members behind each monthly value: the smaller count of the two bracketing dates."""
    count = np.atleast_2d(np.asarray(count))
    t = (np.asarray(dates, dtype="datetime64[D]") - np.asarray(dates, dtype="datetime64[D]")[0]).astype(
        np.int64
    )
    tm = (np.asarray(months, dtype="datetime64[D]") - np.asarray(dates, dtype="datetime64[D]")[0]).astype(
        np.int64
    )
    hi = np.clip(np.searchsorted(t, tm, side="left"), 0, t.size - 1)
    lo = np.where(t[hi] == tm, hi, np.maximum(hi - 1, 0))
    return np.minimum(count[:, lo], count[:, hi])


def monthly_increment(monthly) -> np.ndarray:
    """Increment from the previous month (mm/month); NaN for the first month and next to gaps."""
    monthly = np.atleast_2d(np.asarray(monthly, dtype=np.float64))
    out = np.full(monthly.shape, np.nan)
    out[:, 1:] = np.diff(monthly, axis=1)
    return out


@dataclass
class Alignment:
    """Groundwater levels on the PS months, per feature (well) and layer.

    Attributes:
        layers: the groundwater layer names (shallow to deep).
        levels_m: (f, L, k) level of each layer at each PS month (NaN when not recorded).
        matched: (f,) True when the feature id is a well of the table.
        notes: log lines: months that overlap and months that do not, per well.
    """

    layers: List[str]
    levels_m: np.ndarray
    matched: np.ndarray
    notes: List[str] = field(default_factory=list)


def _month_ranges(months) -> str:
    """``2011-01..2011-03, 2011-07`` for a sorted list of month starts."""
    if len(months) == 0:
        return "none"
    index = np.asarray(months, dtype="datetime64[M]").astype(np.int64)
    breaks = np.flatnonzero(np.diff(index) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [index.size - 1]])
    parts = []
    for s, e in zip(starts, ends):
        a = str(np.datetime64(int(index[s]), "M"))
        b = str(np.datetime64(int(index[e]), "M"))
        parts.append(a if s == e else f"{a}..{b}")
    return ", ".join(parts)


def align_groundwater(feature_ids, months, ps_monthly, records: GroundwaterRecords) -> Alignment:
    """Levels of every layer of ``records`` on ``months`` for each feature id that is a well.

    Records on other days are first averaged to calendar months (dated the 1st, as
    :func:`core.groundwater_io.monthly_mean`). Feature ids and well ids are compared as text.
    The notes list, per well, the PS months with a level in at least one layer (overlap), the
    PS months without any, and the groundwater months outside the PS months.
    """
    months = np.asarray(months, dtype="datetime64[D]")
    ps_monthly = np.atleast_2d(np.asarray(ps_monthly, dtype=np.float64))
    by_month = monthly_mean(records)
    well_index = {str(w).strip(): i for i, w in enumerate(by_month.well_ids.tolist())}
    gw_months = by_month.dates
    position = np.searchsorted(gw_months, months)
    present = (position < gw_months.size) & (gw_months[np.minimum(position, gw_months.size - 1)] == months)
    f, n_layers = len(feature_ids), len(by_month.layers)
    levels = np.full((f, n_layers, months.size), np.nan)
    matched = np.zeros(f, dtype=bool)
    notes: List[str] = []
    for i, fid in enumerate(feature_ids):
        w = well_index.get(str(fid).strip())
        if w is None:
            continue
        matched[i] = True
        levels[i][:, present] = by_month.levels_m[w][:, position[present]]
        has_gw = ~np.all(np.isnan(levels[i]), axis=0)
        has_ps = ~np.isnan(ps_monthly[i])
        gw_recorded = gw_months[~np.all(np.isnan(by_month.levels_m[w]), axis=0)]
        outside = np.setdiff1d(gw_recorded, months[has_ps])
        notes.append(
            f"well {fid}: {int(np.sum(has_ps & has_gw))} month(s) overlap "
            f"({_month_ranges(months[has_ps & has_gw])}); PS months without groundwater: "
            f"{_month_ranges(months[has_ps & ~has_gw])}; groundwater months without PS: "
            f"{_month_ranges(outside)}"
        )
    unmatched = [str(fid) for fid, ok in zip(feature_ids, matched) if not ok]
    if unmatched:
        shown = ", ".join(unmatched[:20]) + (
            f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
        )
        notes.append(f"{len(unmatched)} feature(s) not in the groundwater table (levels NULL): {shown}")
    if not matched.any():
        wells = ", ".join(str(w) for w in by_month.well_ids[:10].tolist())
        raise ValueError(
            f"groundwater: no feature id matches a well id of the table (wells: {wells}); "
            "choose the id field that holds the well ids"
        )
    return Alignment(layers=list(by_month.layers), levels_m=levels, matched=matched, notes=notes)


@dataclass
class FeatureSeries:
    """The series table of the sampled features, on SAR dates or month starts (all (f, k))."""

    dates: np.ndarray
    value_mm: np.ndarray
    median_mm: np.ndarray
    std_mm: np.ndarray
    count: np.ndarray
    increment_mm: np.ndarray
    monthly: bool


def feature_series(
    sampling, monthly: bool = True, max_gap_days: float = DEFAULT_MAX_GAP_DAYS
) -> FeatureSeries:
    """The per-feature series of a :class:`~core.buffer_sampling.BufferSampling`.

    ``monthly``: value, median and spread resampled to month starts (module doc) and the
    increment is the monthly deformation (mm/month); ``count`` is the smaller member count of
    the two SAR dates around the month (0 where the month is empty). Otherwise the series stay
    on the SAR dates and the increment is the change since the previous date.
    """
    if not monthly:
        return FeatureSeries(
            dates=sampling.dates,
            value_mm=sampling.value_mm,
            median_mm=sampling.median_mm,
            std_mm=sampling.std_mm,
            count=sampling.count,
            increment_mm=monthly_increment(sampling.value_mm),
            monthly=False,
        )
    months, value = resample_monthly_limited(sampling.value_mm, sampling.dates, max_gap_days)
    _, median = resample_monthly_limited(sampling.median_mm, sampling.dates, max_gap_days)
    _, std = resample_monthly_limited(sampling.std_mm, sampling.dates, max_gap_days)
    count = np.where(np.isnan(value), 0, monthly_count(sampling.count, sampling.dates, months))
    return FeatureSeries(
        dates=months,
        value_mm=value,
        median_mm=median,
        std_mm=std,
        count=count,
        increment_mm=monthly_increment(value),
        monthly=True,
    )
