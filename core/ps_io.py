"""Reading and writing PS datasets with OGR, Qt-free (METHODS.md section 1).

Two layers of functions:

* :func:`ps_from_columns` turns a table already in memory (field name -> array, x, y, CRS)
  into a :class:`~core.psdata.PSDataset`: date-field detection, text/NULL checks, id, z and
  incidence fields. Every reader (OGR Arrow batches here, the QGIS feature iterator in
  ``processing_provider/ps_io.py``) ends in it, so all sources give identical arrays.
* :func:`read_ps_file` reads any OGR source (GeoPackage, Shapefile, GeoJSON, CSV ...) with
  OGR's Arrow/NumPy batches (GDAL >= 3.6) or a feature loop, builds points for CSV files
  without geometry (``easting``/``northing`` = EGMS, EPSG:3035; ``longitude``/``latitude`` =
  EPSG:4326), recognises the StaMPS-Visualizer CSV layout, and reprojects geographic
  coordinates to UTM when metres are needed. :func:`write_ps_file` writes a dataset back.
"""

import os
import re
from typing import Dict, Optional, Sequence

import numpy as np

from . import gpkg_writer
from .archives import read_head, resolve_archive
from .dates import date_field_name, detect_date_fields, matlab_datenum_to_date
from .field_names import INCIDENCE_FIELD_CANDIDATES, Z_FIELD_CANDIDATES, find_field
from .ps_checks import check_coordinates, check_displacement
from .psdata import PSDataset
from .units import mm_per_unit

ID_FIELD_CANDIDATES = ("pid", "id", "ps_id", "point_id", "psid", "code", "code_ps")
# (x name, y name, CRS) of coordinate columns in tables without geometry, tried in order.
COORDINATE_COLUMNS = (
    ("easting", "northing", "EPSG:3035"),  # EGMS products
    ("longitude", "latitude", "EPSG:4326"),
    ("lon", "lat", "EPSG:4326"),
)
TRANSPOSE_BLOCK_ROWS = 2048
_NULL_TEXT = {"", "nan", "null", "none", "na", "n/a", "-"}


def column_as_float(name: str, values) -> np.ndarray:
    """A field's values as float64 with NaN for NULL/empty; text raises ValueError.

    Masked arrays (OGR Arrow batches) and ``None`` (QGIS NULL) become NaN; numeric text
    (a CSV read without type detection) is converted; anything else is an error naming the
    field, the row and the value, so a text cell in a date field is never read as 0.
    """
    if isinstance(values, np.ma.MaskedArray):
        if values.dtype.kind in "fiub":
            return np.ma.filled(values.astype(np.float64), np.nan)
        values = np.ma.filled(values.astype(object), None)
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, value in enumerate(arr.tolist()):
        if value is None:
            out[i] = np.nan
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip().lower() in _NULL_TEXT:
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"field {name!r}: text {value!r} at row {i + 1} is not a number "
                "(a date field must hold numbers in mm; empty cells are read as missing)"
            ) from None
    return out


def _reject_stamps_fields(names: Sequence[str]) -> None:
    """A StaMPS-Visualizer table read as plain fields has lost its layout: say what to do."""
    if names and all(re.fullmatch(r"export_res_\s*\d+", n) for n in names):
        raise ValueError(
            "this is a StaMPS-Visualizer CSV export (fields export_res_ 1, ...; dates in a reference row): "
            "give the CSV file itself as input, not a delimited-text layer made from it"
        )


def _fill_float(out: np.ndarray, name: str, values) -> None:
    """Write a column into ``out`` as float with NaN for NULL, without temporary copies."""
    if isinstance(values, np.ma.MaskedArray) and values.dtype.kind in "fiub":
        out[:] = values.data
        mask = np.ma.getmask(values)
        if mask is not np.ma.nomask:
            out[mask] = np.nan
    elif isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        out[:] = values
    else:
        out[:] = column_as_float(name, values)


def _float_column(name: str, values) -> np.ndarray:
    """A column as float64 with NaN for NULL; a float64 ndarray is returned as it is (no copy)."""
    if type(values) is np.ndarray and values.dtype == np.float64:
        return values
    out = np.empty(len(values), dtype=np.float64)
    _fill_float(out, name, values)
    return out


def ps_from_columns(
    columns: Dict[str, np.ndarray],
    x,
    y,
    crs: str,
    date_fields: str = "",
    id_field: Optional[str] = None,
    z_field: Optional[str] = None,
    incidence_field: Optional[str] = None,
    field_order: Optional[Sequence[str]] = None,
    keep_attributes: bool = True,
    date_matrix=None,
    unit: str = "mm",
) -> PSDataset:
    """Build a PSDataset from an in-memory table (METHODS.md section 1).

    Args:
        columns: field name -> (m,) array (numeric, masked, or object with None for NULL).
        x, y: point coordinates in ``crs``.
        date_fields: "" to auto-detect, else a field list, prefix or pattern
            (see :func:`core.dates.detect_date_fields`).
        id_field: id field name; None/"" picks ``pid``/``id``/... when present, else the
            row number 1..m.
        z_field, incidence_field: as ``id_field``; None/"" looks for common names
            (``height``, ``incidence_angle`` ...); a name that does not exist is an error.
        field_order: the layer's field order (defaults to the dict order).
        keep_attributes: keep the other fields in ``PSDataset.attributes``.
        date_matrix: optional ``(names, matrix)``, an (m, len(names)) float64 matrix a reader
            already filled with the columns ``names`` (NaN for NULL); used as the displacement
            matrix without a copy when ``names`` are the detected date fields in date order.
            Columns of ``columns`` that are not views of it (e.g. text the reader left as it
            was) are converted into it here.
        unit: the unit of the date fields, ``mm``, ``cm`` or ``m`` (:mod:`core.units`); the
            displacement is converted to mm here (only the date fields: elevation stays in m).

    Raises:
        ValueError naming the field at fault: see :func:`detect_date_fields` and
        :func:`column_as_float`; an empty table.
    """
    scale = mm_per_unit(unit)
    names = list(field_order) if field_order is not None else list(columns)
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    if m == 0:
        raise ValueError("the layer has no features (empty layer)")
    if not date_fields:
        _reject_stamps_fields(names)
    date_names, dates = detect_date_fields(names, date_fields)
    if date_matrix is not None and list(date_matrix[0]) == list(date_names) and date_matrix[1].shape[0] == m:
        displacement = date_matrix[1]
        for j, name in enumerate(date_names):
            values = columns[name]
            if not (isinstance(values, np.ndarray) and np.may_share_memory(values, displacement)):
                _fill_float(displacement[:, j], name, values)
    else:
        # Written in row blocks that fit in the CPU cache, a column at a time: ~10x faster than
        # filling n strided columns of the whole (m, n) matrix or one whole-matrix transpose.
        date_columns = [_float_column(name, columns[name]) for name in date_names]
        displacement = np.empty((m, len(date_names)), dtype=np.float64)
        for start in range(0, m, TRANSPOSE_BLOCK_ROWS):
            block = displacement[start : start + TRANSPOSE_BLOCK_ROWS]
            for j, values in enumerate(date_columns):
                block[:, j] = values[start : start + TRANSPOSE_BLOCK_ROWS]
        del date_columns
    if scale != 1.0:
        displacement *= scale  # a matrix this function or the reader made: never the caller's input

    def pick(kind, given, candidates):
        if given:
            if given not in columns:
                raise ValueError(f"{kind} field {given!r} not found; fields are: {', '.join(names)}")
            return given
        found = find_field([n for n in names if n not in date_names], candidates)
        return found

    id_name = pick("id", id_field, ID_FIELD_CANDIDATES)
    if id_name is None:
        ids = np.arange(1, m + 1, dtype=np.int64)
    else:
        ids = np.asarray(
            np.ma.filled(columns[id_name]) if np.ma.isMaskedArray(columns[id_name]) else columns[id_name]
        )
        integral = ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids))
        if integral or ids.dtype.kind in "iu":
            ids = ids.astype(np.int64)
        elif ids.dtype.kind in "OSU":
            ids = np.array(
                ["" if v is None else (v.decode() if isinstance(v, bytes) else str(v)) for v in ids],
                dtype=object,
            )
    check_coordinates(x, y, ids)
    check_displacement(displacement, date_names, ids)
    z_name = pick("elevation", z_field, Z_FIELD_CANDIDATES)
    inc_name = pick("incidence", incidence_field, INCIDENCE_FIELD_CANDIDATES)
    z = column_as_float(z_name, columns[z_name]) if z_name else None
    incidence = column_as_float(inc_name, columns[inc_name]) if inc_name else None
    used = set(date_names) | {n for n in (id_name, z_name, inc_name) if n}
    attributes = {}
    if keep_attributes:
        for name in names:
            if name in used:
                continue
            values = columns[name]
            if np.ma.isMaskedArray(values):
                values = (
                    column_as_float(name, values)
                    if values.dtype.kind in "fiub"
                    else np.ma.filled(values.astype(object), None)
                )
            attributes[name] = np.asarray(values)
    direction = "LOS"
    # A layer written by preparepsdataset says which direction its series are in.
    marker = attributes.get("direction")
    if marker is not None and len(marker) and {str(v) for v in np.asarray(marker).tolist()} == {"vertical"}:
        direction = "vertical"
    return PSDataset(
        direction=direction,
        ids=ids,
        x=x,
        y=np.asarray(y, dtype=np.float64),
        dates=dates,
        displacement_mm=displacement,
        z=z,
        incidence_deg=incidence,
        crs=crs or "",
        attributes=attributes,
        date_fields=list(date_names),
        id_field=id_name,
        z_field=z_name,
        incidence_field=inc_name,
    )


# ---------------------------------------------------------------- coordinates and CRS


def coordinates_from_columns(columns: Dict[str, np.ndarray], field_names: Sequence[str]):
    """``(x, y, crs)`` for a table without geometry, from its coordinate columns.

    ``easting``/``northing`` are EGMS products (EPSG:3035); ``longitude``/``latitude`` or
    ``lon``/``lat`` are WGS84 (EPSG:4326).
    """
    _reject_stamps_fields(field_names)
    lowered = {f.lower(): f for f in field_names}
    for x_name, y_name, crs in COORDINATE_COLUMNS:
        if x_name in lowered and y_name in lowered:
            x = column_as_float(lowered[x_name], columns[lowered[x_name]])
            y = column_as_float(lowered[y_name], columns[lowered[y_name]])
            return x, y, crs
    raise ValueError(
        "the table has no geometry and no coordinate columns (easting/northing as in EGMS, EPSG:3035, "
        "or longitude/latitude, EPSG:4326); load it as a point layer with its X/Y fields first. "
        f"Fields seen: {', '.join(field_names)}"
    )


def _osr_srs(crs: str):
    from osgeo import osr

    srs = osr.SpatialReference()
    if srs.SetFromUserInput(crs) != 0:
        raise ValueError(f"crs: {crs!r} is not a CRS GDAL understands")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def is_geographic(crs: str) -> bool:
    """True when ``crs`` is a geographic (degrees) CRS; False for projected or unknown."""
    if not crs:
        return False
    return bool(_osr_srs(crs).IsGeographic())


def utm_crs_for(lon, lat) -> str:
    """The WGS84 UTM zone (``EPSG:326zz`` north / ``EPSG:327zz`` south) of a lon/lat centroid."""
    lon = float(np.nanmean(lon))
    lat = float(np.nanmean(lat))
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def reproject(x, y, src_crs: str, dst_crs: str):
    """Coordinates transformed from ``src_crs`` to ``dst_crs`` (x = easting/longitude)."""
    from osgeo import osr

    transform = osr.CoordinateTransformation(_osr_srs(src_crs), _osr_srs(dst_crs))
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    out = np.asarray(transform.TransformPoints(points), dtype=np.float64)
    return out[:, 0], out[:, 1]


def ensure_projected(ps: PSDataset):
    """``(ps, note)``: ``ps`` itself when its CRS is projected, else a copy in metres.

    Geographic coordinates go to the UTM zone of the points' centroid (:func:`utm_crs_for`);
    ``note`` says so (None when nothing changed). Distances and buffers (METHODS.md 4) need
    metres, and a UTM zone keeps scale error below 0.1 % over a study area.
    """
    if not is_geographic(ps.crs):
        return ps, None
    from dataclasses import replace

    target = utm_crs_for(ps.x, ps.y)
    x, y = reproject(ps.x, ps.y, ps.crs, target)
    return replace(ps, x=x, y=y, crs=target), f"geographic CRS {ps.crs} reprojected to {target} (UTM, metres)"


# ---------------------------------------------------------------- reading


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


# WKB type codes of a point: 2D, Z, M, ZM (ISO) and Z (the old 0x80000000 flag).
_WKB_POINT_TYPES = np.array([1, 1001, 2001, 3001, 0x80000001], dtype=np.uint32)


def points_from_wkb(geometries) -> tuple:
    """x, y of point geometries given as WKB (numpy over one buffer when all are simple)."""
    if (
        isinstance(geometries, np.ndarray)
        and not np.ma.isMaskedArray(geometries)
        and geometries.dtype.kind == "V"
        and geometries.dtype.itemsize in (21, 29, 37)
        and geometries.size
    ):
        # Arrow batches of same-size WKB arrive as one fixed-width array: read the
        # coordinates straight from its buffer when every row is a little-endian point.
        buf = np.ascontiguousarray(geometries).view(np.uint8).reshape(geometries.size, -1)
        kinds = buf[:, 1:5].copy().view("<u4")[:, 0]
        if np.all(buf[:, 0] == 1) and np.all(np.isin(kinds, _WKB_POINT_TYPES)):
            coords = buf[:, 5:21].copy().view("<f8")
            return coords[:, 0].copy(), coords[:, 1].copy()
    if np.ma.isMaskedArray(geometries):
        geometries = np.ma.filled(geometries.astype(object), None)
    # OGR's NumPy batches hold each WKB as a numpy.void (len() is 0): take its bytes.
    geoms = [g.tobytes() if isinstance(g, np.void) else (None if g is None else bytes(g)) for g in geometries]
    m = len(geoms)
    x = np.full(m, np.nan)
    y = np.full(m, np.nan)
    if m == 0:
        return x, y
    lengths = np.fromiter((0 if g is None else len(g) for g in geoms), dtype=np.int64, count=m)
    if lengths.min() == lengths.max() and lengths[0] in (21, 29, 37):
        buf = np.frombuffer(b"".join(geoms), dtype=np.uint8).reshape(m, lengths[0])
        if np.all(buf[:, 0] == 1):  # little-endian WKB, the norm
            coords = buf[:, 5:21].copy().view("<f8")
            return coords[:, 0].copy(), coords[:, 1].copy()
    from osgeo import ogr

    for i, wkb in enumerate(geoms):
        if wkb is None or len(wkb) == 0:
            continue
        geometry = ogr.CreateGeometryFromWkb(bytes(wkb))
        if geometry is None or geometry.IsEmpty():
            continue
        point = _single_point(geometry, i)
        x[i], y[i] = point.GetX(), point.GetY()
    return x, y


def _single_point(geometry, row):
    """The point of an OGR point or one-part multi-point geometry; ValueError for anything else."""
    from osgeo import ogr

    kind = ogr.GT_Flatten(geometry.GetGeometryType())
    if kind == ogr.wkbPoint:
        return geometry
    parts = geometry.GetGeometryCount()
    if kind != ogr.wkbMultiPoint or parts != 1:
        raise ValueError(
            f"geometry: row {row + 1} is a {geometry.GetGeometryName()} with {parts} part(s); a PS "
            "is one point: split it (Vector > Geometry Tools > Multipart to Singleparts)"
        )
    return geometry.GetGeometryRef(0)


def _open_ogr(path: str):
    from osgeo import gdal

    options = []
    if path.lower().endswith((".csv", ".txt")):
        # Type detection over the whole file (SIZE_LIMIT=0), so a text cell anywhere turns
        # its column into text and is reported, rather than silently read as a number.
        options = [
            "HEADERS=YES",
            "AUTODETECT_TYPE=YES",
            "AUTODETECT_SIZE_LIMIT=0",
            "EMPTY_STRING_AS_NULL=YES",
        ]
    gdal.ErrorReset()
    dataset = gdal.OpenEx(path, gdal.OF_VECTOR | gdal.OF_READONLY, open_options=options)
    if dataset is None:
        raise ValueError(
            f"{path}: cannot be opened as a vector dataset ({gdal.GetLastErrorMsg() or 'unknown format'})"
        )
    return dataset


def _layer_of(dataset, path, layer_name=None, layer_index=None):
    if layer_name:
        layer = dataset.GetLayerByName(str(layer_name))
    elif layer_index not in (None, ""):
        layer = dataset.GetLayer(int(layer_index))
    else:
        layer = dataset.GetLayer(0)
    if layer is None:
        raise ValueError(f"{path}: layer {layer_name or layer_index or 0!r} not found")
    return layer


# GDAL < 3.8.1 fails on GeoPackage Arrow reads of more than ~125 columns (SQLite's
# function-argument limit, OSGeo/gdal#8757), and its stream then never ends: read at most
# this many fields per pass, hiding the others with SetIgnoredFields.
ARROW_FIELDS_PER_PASS = 100


class _MatrixFiller:
    """Writes the numeric columns ``names`` of Arrow batches into an (rows, len(names)) float64
    matrix (NaN for NULL), one batch at a time in a worker thread.

    **[choice]** OGR releases the GIL while it reads the next batch (SQLite decoding, single
    threaded), so the conversion and the transposition into the row-major matrix run on the
    other core meanwhile; the columns never exist as separate float64 arrays (before: one
    float64 array per column, then a blocked transpose, ~0.2 s). Measured on the 200k x 150
    GeoPackage of bench/bench_pca.py (2 shared cores, 8 runs): the read into a PSDataset went
    from 1.35-1.4x to 1.15-1.2x the bare Arrow read of the same file. A column that arrives as
    text is left to the caller (:func:`ps_from_columns` converts it, reporting bad values as
    before).
    """

    def __init__(self, rows, names):
        from concurrent.futures import ThreadPoolExecutor

        self.matrix = np.empty((rows, len(names)), dtype=np.float64)
        self.index = {name: j for j, name in enumerate(names)}
        self.text = set()
        self._pool = ThreadPoolExecutor(1)
        self._pending = []

    def add(self, batch, row0):
        items = []
        for name, j in self.index.items():
            values = batch.get(name)
            if values is None or name in self.text:
                continue
            if values.dtype.kind in "fiu":
                items.append((j, values))
            elif row0 > 0:  # earlier batches of it are in the matrix already
                raise RuntimeError(f"field {name!r} changed type between Arrow batches")
            else:
                self.text.add(name)
        if items:
            self._pending.append(self._pool.submit(_fill_matrix_rows, self.matrix, row0, items))

    def wait(self):
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self):
        self._pool.shutdown(wait=True)


def _fill_matrix_rows(matrix, row0, items):
    """``matrix[row0:row0 + rows, j] = values`` for each ``(j, values)`` (NaN for masked values),
    in row blocks that fit in the CPU cache. (Gathering the batch in one (columns, rows) scratch
    array first and copying it transposed was measured 5 % slower.)"""
    columns = []
    for j, values in items:
        if isinstance(values, np.ma.MaskedArray):
            mask = np.ma.getmask(values)
            values = values.data if mask is np.ma.nomask else np.where(mask, np.nan, values.data)
        columns.append((j, values))
    rows = len(columns[0][1])
    for start in range(0, rows, TRANSPOSE_BLOCK_ROWS):
        stop = min(rows, start + TRANSPOSE_BLOCK_ROWS)
        block = matrix[row0 + start : row0 + stop]
        for j, values in columns:
            block[:, j] = values[start:stop]


def _arrow_pass(layer, wanted, geometry_name, expected_rows, progress, share, filler=None):
    """One Arrow stream over ``layer`` returning the chunks of ``wanted`` (+ geometry); the
    numeric columns of ``filler`` go to its matrix instead (text ones are returned too)."""
    from osgeo import gdal

    parts = {name: [] for name in wanted}
    geometry_parts = []
    done = 0
    gdal.ErrorReset()
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        stream = layer.GetArrowStreamAsNumPy(["INCLUDE_FID=NO", "MAX_FEATURES_IN_BATCH=65536"])
        for batch in stream:
            if gdal.GetLastErrorType() >= gdal.CE_Failure:
                raise RuntimeError(gdal.GetLastErrorMsg())
            rows = len(next(iter(batch.values()))) if batch else 0
            if expected_rows >= 0 and done + rows > expected_rows:
                raise RuntimeError("the Arrow stream returned more rows than the layer has")
            if filler is not None:
                filler.add(batch, done)
            for name in wanted:
                if filler is None or name not in filler.index or name in filler.text:
                    parts[name].append(batch[name])
            if geometry_name is not None:
                geometry_parts.append(batch[geometry_name])
            done += rows
            if progress is not None and expected_rows > 0:
                progress(share[0] + (share[1] - share[0]) * min(done / expected_rows, 1.0), None)
        if gdal.GetLastErrorType() >= gdal.CE_Failure:
            raise RuntimeError(gdal.GetLastErrorMsg())
    finally:
        gdal.PopErrorHandler()
    return parts, geometry_parts, done


def _fields_per_pass(dataset, n_fields):
    from osgeo import gdal

    driver = dataset.GetDriver().ShortName
    if driver == "GPKG" and int(gdal.VersionInfo("VERSION_NUM")) < 3080100:
        return ARROW_FIELDS_PER_PASS
    return max(n_fields, 1)


def _read_arrow(
    layer, field_names, geometry_name, progress=None, per_pass=ARROW_FIELDS_PER_PASS, matrix_fields=None
):
    """All columns through OGR's Arrow/NumPy batches (GDAL >= 3.6), in passes of fields.

    Returns ``(columns, geometries, date_matrix)``. With ``matrix_fields`` (the date fields, in
    date order) and a known feature count, their numeric batches go straight into one
    (m, len(matrix_fields)) float64 matrix (:class:`_MatrixFiller`); ``columns`` then holds
    views of its columns and ``date_matrix`` is ``(matrix_fields, matrix)``, else None.
    """
    expected_rows = layer.GetFeatureCount(force=0)
    filler = _MatrixFiller(expected_rows, matrix_fields) if matrix_fields and expected_rows > 0 else None
    groups = [field_names[k : k + per_pass] for k in range(0, len(field_names), per_pass)]
    groups = groups or [[]]
    parts = {}
    geometry_parts = []
    rows = None
    try:
        for g, group in enumerate(groups):
            keep_geometry = geometry_name if g == 0 else None
            hidden = [n for n in field_names if n not in set(group)]
            if geometry_name is not None and keep_geometry is None:
                hidden.append(geometry_name)
            layer.SetIgnoredFields(hidden)
            share = (0.8 * g / len(groups), 0.8 * (g + 1) / len(groups))
            got, geoms, done = _arrow_pass(
                layer, group, keep_geometry, expected_rows, progress, share, filler
            )
            if filler is not None:
                filler.wait()
            if rows is not None and done != rows:
                raise RuntimeError(f"Arrow passes returned {rows} and {done} rows")
            rows = done
            parts.update(got)
            if g == 0:
                geometry_parts = geoms
    finally:
        layer.SetIgnoredFields([])
        if filler is not None:
            filler.close()
    columns = {}
    date_matrix = None
    if filler is not None:
        matrix = filler.matrix[:rows]
        date_matrix = (list(matrix_fields), matrix)
        for name, j in filler.index.items():
            if name not in filler.text:
                columns[name] = matrix[:, j]
    for name in field_names:
        if name in columns:
            continue
        chunks = parts[name]
        if not chunks:
            columns[name] = np.array([])
        elif all(c.dtype.kind == "f" for c in chunks):
            # Float columns (the dates): one float64 array with NaN for NULL, written chunk by
            # chunk, rather than concatenated masked arrays converted again later.
            out = np.empty(sum(len(c) for c in chunks), dtype=np.float64)
            start = 0
            for chunk in chunks:
                _fill_float(out[start : start + len(chunk)], name, chunk)
                start += len(chunk)
            columns[name] = out
        elif len(chunks) == 1:
            columns[name] = chunks[0]
        elif any(np.ma.isMaskedArray(c) for c in chunks):
            columns[name] = np.ma.concatenate([np.ma.asarray(c) for c in chunks])
        else:
            columns[name] = np.concatenate(chunks)
    geometries = np.concatenate(geometry_parts) if geometry_parts else None
    if geometry_name is not None and geometries is None:
        geometries = np.array([], dtype=object)
    return columns, geometries, date_matrix


def _read_features(layer, field_names, has_geometry, progress=None):
    """All columns by a feature loop (sources without a usable Arrow stream)."""
    rows = []
    x, y = [], []
    layer.ResetReading()
    total = max(layer.GetFeatureCount(force=0), 1)
    for i, feature in enumerate(layer):
        rows.append(
            [
                feature.GetField(j) if feature.IsFieldSetAndNotNull(j) else None
                for j in range(len(field_names))
            ]
        )
        if has_geometry:
            geometry = feature.GetGeometryRef()
            if geometry is None or geometry.IsEmpty():
                x.append(np.nan)
                y.append(np.nan)
            else:
                point = _single_point(geometry, i)
                x.append(point.GetX())
                y.append(point.GetY())
        if progress is not None and i % 5000 == 0:
            progress(0.8 * i / total, None)
    columns = {}
    for j, name in enumerate(field_names):
        values = [row[j] for row in rows]
        try:
            columns[name] = (
                np.array(values, dtype=np.float64)
                if all(v is None or isinstance(v, (int, float)) for v in values)
                else np.array(values, dtype=object)
            )
        except (TypeError, ValueError):
            columns[name] = np.array(values, dtype=object)
    return columns, (np.array(x), np.array(y)) if has_geometry else None


def read_ps_file(
    path: str,
    layer_name: Optional[str] = None,
    layer_index=None,
    date_fields: str = "",
    id_field: Optional[str] = None,
    z_field: Optional[str] = None,
    incidence_field: Optional[str] = None,
    use_arrow: bool = True,
    progress=None,
    unit: str = "mm",
) -> PSDataset:
    """Read a PS dataset from any OGR source (METHODS.md section 1).

    GeoPackage, Shapefile, GeoJSON, CSV ...: Arrow/NumPy batches when ``use_arrow`` and
    the GDAL bindings have them, else a feature loop; both give the same arrays. A CSV
    without geometry gets its points from coordinate columns
    (:func:`coordinates_from_columns`); a StaMPS-Visualizer CSV is recognised by its header.
    Coordinates stay in the source CRS (see :func:`ensure_projected`). A ``.zip`` holding one
    table (an EGMS burst as downloaded) is read in place (:func:`core.archives.resolve_archive`).
    ``unit`` is the unit of the date fields (``mm``, ``cm``, ``m``): the series are converted to
    mm as they are read (:mod:`core.units`).

    Raises:
        ValueError naming the file, field or value at fault.
    """
    path = os.fspath(path)
    mm_per_unit(unit)  # an unknown unit fails before any reading
    if not os.path.exists(path) and "/vsi" not in path:
        raise ValueError(f"{path}: file not found")
    path = resolve_archive(path)
    if _is_stamps_csv(path):
        ps = read_stamps_csv(path, unit)
        if date_fields:
            raise ValueError(
                f"{os.path.basename(path)}: a StaMPS-Visualizer CSV has its dates in the reference row; "
                "leave the date fields empty"
            )
        return ps
    from .groundwater_io import is_dino_csv

    if is_dino_csv(path):
        raise ValueError(
            f"{os.path.basename(path)} is a DINOloket groundwater export, not PS data: "
            "read it as groundwater records (core.groundwater_io.read_groundwater)"
        )
    dataset = _open_ogr(path)
    layer = _layer_of(dataset, path, layer_name, layer_index)
    definition = layer.GetLayerDefn()
    field_names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    has_geometry = definition.GetGeomFieldCount() > 0 and layer.GetGeomType() != 100  # 100 = wkbNone
    spatial_ref = layer.GetSpatialRef() if has_geometry else None
    crs = ""
    if spatial_ref is not None:
        name, code = spatial_ref.GetAuthorityName(None), spatial_ref.GetAuthorityCode(None)
        crs = f"{name}:{code}" if name and code else spatial_ref.ExportToWkt()
    arrow = use_arrow and hasattr(layer, "GetArrowStreamAsNumPy")
    geometry_name = None
    if has_geometry:
        geometry_name = layer.GetGeometryColumn() or "wkb_geometry"
    xy = None
    date_matrix = None
    if arrow:
        try:
            matrix_fields = detect_date_fields(field_names, date_fields)[0]
        except ValueError:  # reported by ps_from_columns below, with the same message
            matrix_fields = None
        try:
            per_pass = _fields_per_pass(dataset, len(field_names))
            columns, geometries, date_matrix = _read_arrow(
                layer, field_names, geometry_name, progress, per_pass, matrix_fields
            )
        except Exception as exc:  # any driver without a usable stream: fall back
            if progress is not None:
                progress(0.0, f"Arrow read failed ({exc}); reading feature by feature")
            arrow = False
        if arrow and has_geometry:
            xy = points_from_wkb(geometries)
    if not arrow:
        date_matrix = None
        columns, xy = _read_features(layer, field_names, has_geometry, progress)
    if not field_names or len(next(iter(columns.values()))) == 0:
        raise ValueError(f"{path}: the layer has no features (empty layer)")
    columns = {k: _decode_text(v) for k, v in columns.items()}
    if xy is None:
        x, y, crs = coordinates_from_columns(columns, field_names)
    else:
        x, y = xy
    ps = ps_from_columns(
        columns,
        x,
        y,
        crs,
        date_fields=date_fields,
        id_field=id_field,
        z_field=z_field,
        incidence_field=incidence_field,
        field_order=field_names,
        date_matrix=date_matrix,
        unit=unit,
    )
    if progress is not None:
        progress(1.0, None)
    return ps


def _decode_text(values):
    """Arrow string columns arrive as bytes; make them str (None for NULL)."""
    if np.ma.isMaskedArray(values) and values.dtype.kind not in "fiub":
        values = np.ma.filled(values.astype(object), None)
    arr = np.asarray(values) if not np.ma.isMaskedArray(values) else values
    if arr.dtype.kind == "S":
        return np.array([v.decode("utf-8", "replace") for v in arr.tolist()], dtype=object)
    if arr.dtype.kind == "O":
        return np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in arr.tolist()], dtype=object
        )
    return arr


# ---------------------------------------------------------------- writing

_DRIVERS = {
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".csv": "CSV",
}


def write_ps_file(
    path: str,
    ps: PSDataset,
    fields: Optional[Dict[str, np.ndarray]] = None,
    series=None,
    series_prefix: str = "D",
    layer_name: Optional[str] = None,
    driver: Optional[str] = None,
    progress=None,
) -> str:
    """Write ``ps`` as a point layer with OGR (outside Processing: tests, scripts, bench).

    Fields: ``id``, then ``fields`` (name -> (m,) array), then one float field per date
    named ``f"{series_prefix}{YYYYMMDD}"`` holding ``series`` (default: the displacement).
    NaN is written as NULL. For CSV the point coordinates go to ``easting``/``northing``
    (no geometry column), the EGMS layout. The file is written to a temporary name and
    renamed at the end, so a failed write never leaves a half-written file. GeoPackages
    without boolean fields go through :func:`core.gpkg_writer.write_points_gpkg` (same
    result, ~10x faster than the feature loop).
    """
    from osgeo import ogr

    path = os.fspath(path)
    driver = driver or _DRIVERS.get(os.path.splitext(path)[1].lower())
    if driver is None:
        raise ValueError(f"{path}: unknown vector format (use .gpkg, .shp, .geojson or .csv, or give driver)")
    fields = dict(fields or {})
    series = ps.displacement_mm if series is None else np.asarray(series, dtype=np.float64)
    m = ps.n_points
    if series.shape != (m, ps.n_dates):
        raise ValueError(f"series: expected shape {(m, ps.n_dates)}, got {series.shape}")
    head = [("id", np.asarray(ps.ids)), *((name, np.asarray(v)) for name, v in fields.items())]
    if driver == "GPKG" and all(values.dtype.kind in "fiuOUS" for _, values in head):
        # The direct writer: same schema, NULLs, fids and spatial index as the loop below, ~10x faster.
        kind_names = {"f": "float", "i": "int", "u": "int"}
        columns = [(name, kind_names.get(values.dtype.kind, "str"), values) for name, values in head]
        names = [date_field_name(d, series_prefix) for d in ps.dates]
        return gpkg_writer.write_points_gpkg(
            path,
            ps.x,
            ps.y,
            ps.crs,
            columns,
            layer_name=layer_name,
            series=(names, series),
            progress=progress,
        )
    is_csv = driver == "CSV"
    if is_csv:
        fields = {"easting": ps.x, "northing": ps.y, **fields}
    stem, ext = os.path.splitext(path)
    tmp_path = f"{stem}.partial{ext}"
    drv = ogr.GetDriverByName(driver)
    if os.path.exists(tmp_path):
        drv.DeleteDataSource(tmp_path)
    dataset = drv.CreateDataSource(tmp_path)
    if dataset is None:
        raise ValueError(f"{path}: cannot create a {driver} file here")
    srs = _osr_srs(ps.crs) if ps.crs and not is_csv else None
    geom_type = ogr.wkbNone if is_csv else ogr.wkbPoint
    layer = dataset.CreateLayer(layer_name or os.path.basename(stem), srs, geom_type)
    kinds = {"f": ogr.OFTReal, "i": ogr.OFTInteger64, "u": ogr.OFTInteger64, "b": ogr.OFTInteger}
    ids = np.asarray(ps.ids)
    columns = [("id", ids)] + list(fields.items())
    for name, values in columns:
        layer.CreateField(ogr.FieldDefn(name, kinds.get(np.asarray(values).dtype.kind, ogr.OFTString)))
    names = [date_field_name(d, series_prefix) for d in ps.dates]
    for name in names:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
    n_head = len(columns)
    head = [np.asarray(v).tolist() for _, v in columns]
    head_kinds = [np.asarray(v).dtype.kind for _, v in columns]
    rows = series.tolist()
    valid = ~np.isnan(series)
    xs, ys = ps.x.tolist(), ps.y.tolist()
    definition = layer.GetLayerDefn()
    layer.StartTransaction()
    for i in range(m):
        feature = ogr.Feature(definition)
        for j in range(n_head):
            value = head[j][i]
            if value is None or (head_kinds[j] == "f" and value != value):
                feature.SetFieldNull(j)
            elif head_kinds[j] == "f":
                feature.SetField(j, float(value))
            elif head_kinds[j] in "iub":
                feature.SetField(j, int(value))
            else:
                feature.SetField(j, str(value))
        row = rows[i]
        for j in np.flatnonzero(valid[i]).tolist():
            feature.SetField(n_head + j, row[j])
        if not is_csv:
            point = ogr.Geometry(ogr.wkbPoint)
            point.AddPoint_2D(xs[i], ys[i])
            feature.SetGeometryDirectly(point)
        layer.CreateFeature(feature)
        if progress is not None and i % 10000 == 0:
            progress(i / m, None)
    layer.CommitTransaction()
    dataset = None
    if os.path.exists(path):
        drv.DeleteDataSource(path)
    if driver == "ESRI Shapefile":
        for side in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            if os.path.exists(stem + ".partial" + side):
                os.replace(stem + ".partial" + side, stem + side)
    else:
        os.replace(tmp_path, path)
    return path
