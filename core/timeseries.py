"""One point's displacement series as the time-series dock shows it, Qt-free.

* :func:`fit_trend`: least-squares line, optionally with an annual sinusoid,
  ``d(t) = a + v t [+ s sin(2 pi t) + c cos(2 pi t)]`` (t in years), over the dates of a chosen
  range only -- the range restricts the fit, not just the axis -- with the velocity, its
  standard error, R^2 and the RMSE of the residuals.
* :func:`write_series_csv`: the curves on screen in long form (date, point id, curve, value, unit).
"""

import csv
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

from .psdata import DAYS_PER_YEAR


@dataclass
class TrendFit:
    """Result of :func:`fit_trend`; ``coefficients`` are (a, v[, s, c]) about ``origin``."""

    velocity_mm_per_year: float
    velocity_std_mm_per_year: float
    annual_amplitude_mm: float
    r2: float
    rmse_mm: float
    n_used: int
    annual: bool
    origin: np.datetime64
    coefficients: np.ndarray

    def evaluate(self, dates) -> np.ndarray:
        """The fitted curve at ``dates`` (any dates, inside or outside the fitted range)."""
        return _design(_years(dates, self.origin), self.annual) @ self.coefficients

    def label(self) -> str:
        """Legend text: velocity with its standard error, and the fit quality."""
        text = f"{self.velocity_mm_per_year:+.1f} ± {self.velocity_std_mm_per_year:.1f} mm/yr"
        if self.annual:
            text += f", annual {self.annual_amplitude_mm:.1f} mm"
        return f"{text} (R² {self.r2:.2f}, RMSE {self.rmse_mm:.1f} mm)"


def _years(dates, origin) -> np.ndarray:
    days = (np.asarray(dates, dtype="datetime64[D]") - np.datetime64(origin, "D")).astype(np.int64)
    return days / DAYS_PER_YEAR


def _design(t, annual):
    columns = [np.ones_like(t), t]
    if annual:
        columns += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    return np.column_stack(columns)


def fit_trend(dates, values, annual: bool = False, start=None, end=None) -> Optional[TrendFit]:
    """Fit the trend of one series over ``start <= date <= end`` (None = open end).

    Returns None when too few dates remain (2 for a line, 5 with the annual term: one more
    than the unknowns, so the standard error exists). NaN values are skipped.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    values = np.asarray(values, dtype=np.float64)
    if dates.shape != values.shape:
        raise ValueError(f"values: {values.size} values for {dates.size} dates")
    use = np.isfinite(values)
    if start is not None:
        use &= dates >= np.datetime64(start, "D")
    if end is not None:
        use &= dates <= np.datetime64(end, "D")
    n_params = 4 if annual else 2
    if use.sum() < n_params + 1:
        return None
    origin = dates[use][0]
    design = _design(_years(dates[use], origin), annual)
    observed = values[use]
    # normal equations: a 2x2 (4x4) system, well conditioned with t in years from the first date;
    # a tenth of lstsq + pinv's cost, which mattered with 50 kept series refitted per redraw
    normal_inverse = np.linalg.inv(design.T @ design)
    coefficients = normal_inverse @ (design.T @ observed)
    residual = observed - design @ coefficients
    rss = float(residual @ residual)
    dof = observed.size - n_params
    centred = observed - observed.mean()
    tss = float(centred @ centred)
    covariance = normal_inverse * (rss / dof)
    return TrendFit(
        velocity_mm_per_year=float(coefficients[1]),
        velocity_std_mm_per_year=float(np.sqrt(max(covariance[1, 1], 0.0))),
        annual_amplitude_mm=float(np.hypot(coefficients[2], coefficients[3])) if annual else 0.0,
        r2=1.0 - rss / tss if tss > 0 else 1.0,
        rmse_mm=float(np.sqrt(rss / observed.size)),
        n_used=int(observed.size),
        annual=annual,
        origin=origin,
        coefficients=coefficients,
    )


def write_series_csv(path: str, curves: Iterable[Tuple[str, str, Sequence, Sequence, str]]) -> int:
    """Write ``(point_id, curve, dates, values, unit)`` curves as rows ``date, point_id, curve, value, unit``.

    Missing values are written as empty cells. Returns the number of rows written.
    """
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["date", "point_id", "curve", "value", "unit"])
        for point_id, curve, dates, values, unit in curves:
            for date, value in zip(np.asarray(dates, dtype="datetime64[D]"), np.asarray(values, dtype=float)):
                text = repr(float(value)) if np.isfinite(value) else ""
                writer.writerow([str(date), point_id, curve, text, unit])
                rows += 1
    return rows
