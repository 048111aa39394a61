"""Reading and writing PS datasets with OGR, Qt-free (METHODS.md section 1): one import for the
jobs that live in their own modules.

* :mod:`core.ps_columns`: a table in memory -> PSDataset (:func:`ps_from_columns`);
* :mod:`core.crs`: geographic or projected, UTM zone, reprojection (:func:`ensure_projected`);
* :mod:`core.ogr_batches` and :mod:`core.wkb_points`: every column and point of an OGR layer;
* :mod:`core.stamps_csv`: the StaMPS-Visualizer CSV export;
* :mod:`core.ps_read`: :func:`read_ps_file`, any OGR source into a PSDataset;
* :mod:`core.ps_write`: :func:`write_ps_file`.
"""

from .crs import ensure_projected, is_geographic, reproject, utm_crs_for
from .ogr_batches import _layer_of, _open_ogr
from .ps_columns import (
    COORDINATE_COLUMNS,
    ID_FIELD_CANDIDATES,
    column_as_float,
    coordinates_from_columns,
    ps_from_columns,
)
from .ps_read import read_ps_file
from .ps_write import write_ps_file
from .stamps_csv import read_stamps_csv
from .wkb_points import points_from_wkb

__all__ = [
    "COORDINATE_COLUMNS",
    "ID_FIELD_CANDIDATES",
    "_layer_of",
    "_open_ogr",
    "column_as_float",
    "coordinates_from_columns",
    "ensure_projected",
    "is_geographic",
    "points_from_wkb",
    "ps_from_columns",
    "read_ps_file",
    "read_stamps_csv",
    "reproject",
    "utm_crs_for",
    "write_ps_file",
]
