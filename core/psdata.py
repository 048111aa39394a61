"""The PS dataset: the data model every algorithm shares (METHODS.md section 1).

A PS dataset is m points (PS or SBAS pixels) with positions in a projected CRS (metres),
optional elevation and incidence angle, and a cumulative displacement series at n sorted,
unique acquisition dates: the m x n matrix ``displacement_mm`` with NaN for gaps (never 0).
"""

from dataclasses import dataclass, field, replace
from typing import Dict, Optional

import numpy as np

DAYS_PER_YEAR = 365.25


def years_since_first(dates) -> np.ndarray:
    """Time of each date in years (of 365.25 days) since the first date: the one definition every
    method uses (velocities, PCA signs and diagnostics, error removal, filters)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    return (dates - dates[0]).astype(np.int64) / DAYS_PER_YEAR


def _as_1d(name, values, m, dtype=np.float64):
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise ValueError(f"{name}: expected {m} values (one per point), got shape {arr.shape}")
    return arr


def first_duplicate(ids):
    """None when ``ids`` are unique, else ``(value, [1-based rows])`` of the first repeated id."""
    ids = np.asarray(ids)
    if ids.size < 2:
        return None
    keys = ids.astype(str) if ids.dtype.kind == "O" else ids
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    if not same.any():
        return None
    value = keys[order][1:][same][0]
    rows = np.flatnonzero(keys == value) + 1
    return ids[rows[0] - 1].item() if hasattr(ids[rows[0] - 1], "item") else ids[rows[0] - 1], rows.tolist()


@dataclass
class PSDataset:
    """m PS points x n dates of cumulative displacement.

    Attributes:
        ids: point identifiers, shape (m,) (ints or strings, as the source had them).
        x, y: coordinates in ``crs`` (metres when the CRS is projected), shape (m,).
        dates: acquisition dates, ``datetime64[D]``, shape (n,), strictly increasing.
        displacement_mm: float array (m, n), NaN for gaps.
        z: elevation in metres, shape (m,), or None.
        incidence_deg: incidence angle in degrees per point, shape (m,), or None.
        crs: the CRS as an authority id (``EPSG:32650``) or WKT; "" if unknown.
        direction: ``"LOS"`` or ``"vertical"``.
        attributes: other per-point fields carried through unchanged (name -> array (m,)).
        date_fields: the source field name of each date, when read from a layer.
        id_field: the source field name of ``ids`` (None: row numbers); outputs keep it.
        z_field, incidence_field: the source field names of ``z`` and ``incidence_deg``, if any.
    """

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    dates: np.ndarray
    displacement_mm: np.ndarray
    z: Optional[np.ndarray] = None
    incidence_deg: Optional[np.ndarray] = None
    crs: str = ""
    direction: str = "LOS"
    attributes: Dict[str, np.ndarray] = field(default_factory=dict)
    date_fields: Optional[list] = None
    id_field: Optional[str] = None
    z_field: Optional[str] = None
    incidence_field: Optional[str] = None

    def __post_init__(self):
        self.displacement_mm = np.asarray(self.displacement_mm)
        if self.displacement_mm.dtype.kind != "f":
            self.displacement_mm = self.displacement_mm.astype(np.float64)
        if self.displacement_mm.ndim != 2:
            raise ValueError(
                "displacement_mm: expected a (points x dates) matrix, "
                f"got shape {self.displacement_mm.shape}"
            )
        m, n = self.displacement_mm.shape
        self.ids = np.asarray(self.ids)
        if self.ids.shape != (m,):
            raise ValueError(f"ids: expected {m} ids, got shape {self.ids.shape}")
        self.x = _as_1d("x", self.x, m)
        self.y = _as_1d("y", self.y, m)
        if self.z is not None:
            self.z = _as_1d("z", self.z, m)
        if self.incidence_deg is not None:
            self.incidence_deg = _as_1d("incidence_deg", self.incidence_deg, m)
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        if self.dates.shape != (n,):
            raise ValueError(f"dates: expected {n} dates (one per column), got shape {self.dates.shape}")
        if n > 1:
            steps = np.diff(self.dates).astype(np.int64)
            if np.any(steps == 0):
                dup = self.dates[1:][steps == 0][0]
                raise ValueError(f"dates: duplicate acquisition date {dup}")
            if np.any(steps < 0):
                raise ValueError("dates: acquisition dates must be sorted in increasing order")
        if self.direction not in ("LOS", "vertical"):
            raise ValueError(f"direction: expected 'LOS' or 'vertical', got {self.direction!r}")
        if self.date_fields is not None and len(self.date_fields) != n:
            raise ValueError(f"date_fields: expected {n} names, got {len(self.date_fields)}")
        for name, values in self.attributes.items():
            if np.shape(values)[:1] != (m,):
                raise ValueError(f"attributes[{name!r}]: expected {m} values, got shape {np.shape(values)}")

    @property
    def n_points(self) -> int:
        return self.displacement_mm.shape[0]

    @property
    def n_dates(self) -> int:
        return self.displacement_mm.shape[1]

    def years(self) -> np.ndarray:
        """Time of each date in years since the first date (float64, shape (n,))."""
        return years_since_first(self.dates)

    def subset(self, index) -> "PSDataset":
        """A new dataset with the points selected by ``index`` (boolean mask or indices)."""

        def pick(a):
            return None if a is None else a[index]

        return replace(
            self,
            ids=self.ids[index],
            x=self.x[index],
            y=self.y[index],
            displacement_mm=self.displacement_mm[index],
            z=pick(self.z),
            incidence_deg=pick(self.incidence_deg),
            attributes={k: np.asarray(v)[index] for k, v in self.attributes.items()},
        )

    def with_displacement(self, displacement_mm, direction=None) -> "PSDataset":
        """A copy with a new displacement matrix of the same shape (inputs are never modified)."""
        displacement_mm = np.asarray(displacement_mm)
        if displacement_mm.shape != self.displacement_mm.shape:
            raise ValueError(
                f"displacement_mm: expected shape {self.displacement_mm.shape}, got {displacement_mm.shape}"
            )
        return replace(self, displacement_mm=displacement_mm, direction=direction or self.direction)
