"""The StaMPS-Visualizer ("stusi") CSV export: recognised by its header, read into a PSDataset."""

import os
import re

import numpy as np

from .archives import read_head
from .dates import matlab_datenum_to_date
from .psdata import PSDataset
from .units import mm_per_unit


def _is_stamps_csv(path: str) -> bool:
    if not path.lower().endswith((".csv", ".txt")):
        return False
    header = read_head(path).split("\n", 1)[0]
    cells = [c.strip() for c in header.split(",") if c.strip()]
    return bool(cells) and all(re.fullmatch(r"export_res_\s*\d+", c) for c in cells)


def read_stamps_csv(path: str, unit: str = "mm") -> PSDataset:
    """Read a StaMPS-Visualizer ("stusi") CSV export.

    Layout: a dummy header, a reference row (reference lon, lat, NaN, then the dates as
    Matlab datenums), then one row per point: lon, lat, mean LOS velocity (mm/yr), LOS
    displacement (mm) per date. Coordinates are WGS84 (EPSG:4326).
    """
    table = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 4:
        raise ValueError(
            f"{os.path.basename(path)}: StaMPS CSV without points or dates (shape {table.shape})"
        )
    reference, body = table[0], table[1:]
    dates = matlab_datenum_to_date(reference[3:])
    return PSDataset(
        ids=np.arange(1, body.shape[0] + 1, dtype=np.int64),
        x=body[:, 0],
        y=body[:, 1],
        dates=dates,
        displacement_mm=body[:, 3:] * mm_per_unit(unit),
        crs="EPSG:4326",
        attributes={
            "velocity_mm_per_year": body[:, 2] * mm_per_unit(unit),
            "reference_lon": np.full(body.shape[0], reference[0]),
            "reference_lat": np.full(body.shape[0], reference[1]),
        },
        date_fields=None,
    )
