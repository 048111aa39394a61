"""Fast writing of a point layer to a new GeoPackage file, Qt-free (METHODS.md section 1 data model).

Why: a Processing sink costs ~20 us per feature in Python (a QgsFeature, a geometry and a
list of attributes each), 5-15 s for 200k PS points. Here the table is created with OGR
(schema, CRS, ``gpkg_contents``, the same ``fid``/``geom`` columns QGIS's writer makes), the
rows go in with Python's ``sqlite3`` ``executemany``, 100 rows per statement (NaN binds as
SQL NULL; see :func:`_insert_many`), the point geometries are built for all rows at once with
numpy (GeoPackage binary header + little-endian WKB point), and the R-tree spatial index, the
extent in ``gpkg_contents`` and the feature count are filled from the coordinate arrays, with
OGR's own triggers put back at the end. Everything happens in a temporary file in the
destination folder that is renamed into place only when complete, so a failed or cancelled
write never leaves a half-written file under the real name.
"""

import itertools
import os
import sqlite3
import uuid
from typing import Optional, Sequence, Tuple

import numpy as np

from . import gpkg_pages

GEOMETRY_COLUMN = "geom"
FID_COLUMN = "fid"
ROWS_PER_BATCH = 20_000
ROWS_PER_STATEMENT = 100

# GeoPackage geometry header (GPKG 1.2, 2.1.3): "GP", version 0, flags, srs_id; then WKB.
# flags: bit 0 = little-endian header, bit 4 = empty geometry, envelope bits 0 (none).
_POINT_DTYPE = np.dtype(
    [
        ("magic", "S2"),
        ("version", "u1"),
        ("flags", "u1"),
        ("srs_id", "<i4"),
        ("byte_order", "u1"),
        ("wkb_type", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
)


def point_blobs(x, y, srs_id: int) -> list:
    """GeoPackage point geometry blobs (29 bytes each) for coordinate arrays ``x``, ``y``.

    A point with a NaN coordinate is written as the GeoPackage empty point (NaN coordinates,
    empty flag set), which OGR and QGIS read as an empty geometry.
    """
    out = _point_records(x, y, srs_id)
    return out.view(f"V{_POINT_DTYPE.itemsize}").tolist()


def _point_records(x, y, srs_id: int) -> np.ndarray:
    """:func:`point_blobs` as one structured array (one 29-byte record per point)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.empty(x.shape[0], dtype=_POINT_DTYPE)
    out["magic"] = b"GP"
    out["version"] = 0
    empty = np.isnan(x) | np.isnan(y)
    out["flags"] = np.where(empty, 0x11, 0x01)
    out["srs_id"] = srs_id
    out["byte_order"] = 1
    out["wkb_type"] = 1
    out["x"] = np.where(empty, np.nan, x)
    out["y"] = np.where(empty, np.nan, y)
    return out


def _column_values(kind: str, values) -> list:
    """A column as Python values for sqlite3 (NaN stays NaN: SQLite binds it as NULL)."""
    arr = np.asarray(values)
    if kind == "float":
        return arr.astype(np.float64, copy=False).tolist()
    if kind == "int":
        return arr.astype(np.int64, copy=False).tolist()
    return [None if v is None else str(v) for v in arr.tolist()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _remove(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def write_points_gpkg(
    path: str,
    x,
    y,
    crs: str,
    columns: Sequence[Tuple[str, str, np.ndarray]],
    layer_name: Optional[str] = None,
    series: Optional[Tuple[Sequence[str], np.ndarray]] = None,
    progress=None,
) -> str:
    """Write points and their attributes as a new single-layer GeoPackage at ``path``.

    Args:
        path: destination ``.gpkg`` file; an existing file is replaced (only once the new one
            is complete).
        x, y: (m,) coordinates in ``crs``; crs: anything OGR understands, "" = no CRS.
        columns: ``(name, kind, values)`` with kind ``"float"`` (REAL, NaN -> NULL), ``"int"``
            (INTEGER64) or ``"str"`` (TEXT, None -> NULL), in field order.
        layer_name: table name; None = the file name without extension (what QGIS's
            vector file writer uses).
        series: optional ``(names, values)`` with values (m, len(names)) float written as
            REAL fields after ``columns`` (NaN -> NULL); kept as one matrix to avoid
            per-column copies.
        progress: optional ``progress(fraction, message=None)``; it may raise to cancel.

    Feature ids are 1..m in row order. Returns ``path``.

    Raises:
        ValueError naming the column at fault (wrong length, unknown kind, clashing names)
        or the path that cannot be written.
    """
    from osgeo import gdal, ogr, osr

    path = os.fspath(path)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = x.shape[0]
    if y.shape != (m,):
        raise ValueError(f"y: {y.shape[0]} values for {m} points")
    names = [FID_COLUMN, GEOMETRY_COLUMN]
    kinds = {"float": ogr.OFTReal, "int": ogr.OFTInteger64, "str": ogr.OFTString}
    for name, kind, values in columns:
        if kind not in kinds:
            raise ValueError(f"field {name!r}: unknown kind {kind!r} (float, int or str)")
        if np.shape(values)[:1] != (m,):
            raise ValueError(f"field {name!r}: {np.shape(values)[0]} values for {m} points")
        names.append(name)
    series_names, series_values = [], None
    if series is not None:
        series_names = list(series[0])
        series_values = np.asarray(series[1], dtype=np.float64)
        if series_values.shape != (m, len(series_names)):
            raise ValueError(f"series: shape {series_values.shape}, expected {(m, len(series_names))}")
        names.extend(series_names)
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        clash = next(n for n in names if lowered.count(n.lower()) > 1)
        raise ValueError(f"field {clash!r}: the name is used twice (or is the fid/geom column)")

    folder, base = os.path.split(os.path.abspath(path))
    layer_name = layer_name or os.path.splitext(base)[0]
    tmp_path = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.partial.gpkg")
    report = progress or (lambda fraction, message=None: None)
    try:
        # 1. Schema, CRS, metadata tables, R-tree table and triggers with OGR (what QGIS's
        # writer makes too), then closed: the rows go in with sqlite3 below.
        driver = ogr.GetDriverByName("GPKG")
        dataset = driver.CreateDataSource(tmp_path)
        if dataset is None:
            raise ValueError(f"{path}: cannot create a GeoPackage here ({gdal.GetLastErrorMsg()})")
        srs = None
        if crs:
            srs = osr.SpatialReference()
            if srs.SetFromUserInput(crs) != 0:
                raise ValueError(f"crs: {crs!r} is not a CRS GDAL understands")
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        layer = dataset.CreateLayer(
            layer_name, srs, ogr.wkbPoint, [f"GEOMETRY_NAME={GEOMETRY_COLUMN}", f"FID={FID_COLUMN}"]
        )
        if layer is None:
            raise ValueError(f"{path}: cannot create layer {layer_name!r} ({gdal.GetLastErrorMsg()})")
        for name, kind, _ in columns:
            layer.CreateField(ogr.FieldDefn(name, kinds[kind]))
        for name in series_names:
            layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
        layer = None
        dataset = None

        # 2. Rows with sqlite3 in one transaction, no journal (the file is private until renamed).
        _insert_rows(tmp_path, layer_name, names, x, y, columns, series_values, report)
        os.replace(tmp_path, path)
        for suffix in ("-wal", "-shm"):  # left by an older file under that name
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    except BaseException:
        _remove(tmp_path)
        raise
    report(1.0, None)
    return path


def _connect(path):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    return connection


def _insert_rows(path, layer_name, names, x, y, columns, series_values, report):
    """Fill the empty table OGR made: rows, R-tree, extent, feature count, then the triggers.

    OGR's triggers (R-tree upkeep, feature count) call OGR's SQL functions (``ST_MinX``...),
    unknown to a plain sqlite3 connection, and would cost a statement per row anyway: they
    are dropped for the bulk insert and re-created, verbatim, once the R-tree is filled.
    The rows go in as SQLite pages built with numpy (:mod:`core.gpkg_pages`) when the table
    allows it, else through ``sqlite3`` (:func:`_insert_values`).
    """
    m = x.shape[0]
    connection = _connect(path)
    try:
        triggers, srs_id = _drop_triggers(connection, layer_name)
        layout = gpkg_pages.page_layout(connection, layer_name) if m else None
        written = False
        if layout is not None:
            connection.execute("COMMIT")
            connection.close()
            records = _point_records(x, y, srs_id).view(np.uint8).reshape(m, _POINT_DTYPE.itemsize)
            written = gpkg_pages.write_table_pages(
                path,
                layout,
                np.arange(1, m + 1, dtype=np.int64),
                records,
                [(kind, values) for _, kind, values in columns],
                series_values,
                progress=lambda fraction: report(0.9 * fraction, None),
            )
            connection = _connect(path)
            if written:
                connection.execute(
                    "INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES (?, ?)", (layer_name, m)
                )
        if not written:
            _insert_values(connection, layer_name, names, x, y, columns, series_values, report, srs_id)
        _finish(connection, layer_name, x, y, triggers)
    finally:
        connection.close()


def _drop_triggers(connection, layer_name):
    """OGR's triggers on the layer (name, sql), dropped; and the layer's srs_id."""
    triggers = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)",
        (layer_name,),
    ).fetchall()
    for name, _ in triggers:
        connection.execute(f"DROP TRIGGER {_quote(name)}")
    row = connection.execute(
        "SELECT srs_id FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (layer_name,)
    ).fetchone()
    return triggers, int(row[0]) if row else 0


def _insert_values(connection, layer_name, names, x, y, columns, series_values, report, srs_id):
    """The rows through ``sqlite3``, many rows per statement (:func:`_insert_many`)."""
    m = x.shape[0]
    insert = f"INSERT INTO {_quote(layer_name)} ({', '.join(_quote(n) for n in names)}) VALUES "
    for start in range(0, m, ROWS_PER_BATCH):
        stop = min(m, start + ROWS_PER_BATCH)
        parts = [range(start + 1, stop + 1), point_blobs(x[start:stop], y[start:stop], srs_id)]
        parts.extend(_column_values(kind, values[start:stop]) for _, kind, values in columns)
        if series_values is not None:
            parts.extend(series_values[start:stop].T.tolist())
        _insert_many(connection, insert, parts)
        report(0.9 * stop / max(m, 1), None)


def _finish(connection, layer_name, x, y, triggers):
    """R-tree, extent and feature count from the coordinates, OGR's triggers back, commit."""
    m = x.shape[0]
    finite = np.isfinite(x) & np.isfinite(y)
    rtree = f"rtree_{layer_name}_{GEOMETRY_COLUMN}"
    has_rtree = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (rtree,)).fetchone()[
        0
    ]
    if has_rtree and finite.any():
        _fill_rtree(connection, rtree, np.flatnonzero(finite) + 1, x[finite], y[finite])
    if finite.any():
        extent = (
            float(x[finite].min()),
            float(y[finite].min()),
            float(x[finite].max()),
            float(y[finite].max()),
        )
        connection.execute(
            "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
            "WHERE lower(table_name) = lower(?)",
            (*extent, layer_name),
        )
    has_counts = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'gpkg_ogr_contents'"
    ).fetchone()[0]
    if has_counts:
        connection.execute(
            "UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)",
            (m, layer_name),
        )
    for _, trigger_sql in triggers:
        connection.execute(trigger_sql)
    connection.execute("COMMIT")


def _insert_many(connection, insert, columns):
    """``insert`` ("INSERT INTO t (...) VALUES ") of the rows whose columns are the lists
    ``columns``, with up to ``ROWS_PER_STATEMENT`` rows per statement.

    **[choice]** One multi-row ``VALUES (..), (..), ...`` statement per 100 rows rather than one
    statement per row: SQLite's per-statement work (reset, and for OGR's ``AUTOINCREMENT`` fid
    the ``sqlite_sequence`` update) is paid once per 100 rows. Measured on 200k rows of
    fid + geometry + 7 numbers (SQLite 3.40): 0.36 s -> 0.17 s. The rows are flattened and cut
    in C (itertools); the statement is compiled once per batch (sqlite3's statement cache).
    """
    n_columns = len(columns)
    limit = 999  # SQLITE_MAX_VARIABLE_NUMBER before SQLite 3.32
    if hasattr(connection, "getlimit"):  # Python >= 3.11
        limit = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(ROWS_PER_STATEMENT, limit // n_columns))
    row_sql = f"({', '.join('?' * n_columns)})"
    flat = list(itertools.chain.from_iterable(zip(*columns)))
    rows = len(flat) // n_columns
    full = rows // per_statement
    step = per_statement * n_columns
    if full:
        sql = insert + ", ".join([row_sql] * per_statement)
        connection.executemany(sql, (flat[i : i + step] for i in range(0, full * step, step)))
    if rows > full * per_statement:
        connection.execute(insert + ", ".join([row_sql] * (rows - full * per_statement)), flat[full * step :])


def _float32_down_up(values):
    """Float32 bounds enclosing each float64 value (R-tree cells are float32, min down, max up)."""
    f = values.astype(np.float32)
    wide = f.astype(np.float64)
    down = np.where(wide > values, np.nextafter(f, np.float32(-np.inf)), f)
    up = np.where(wide < values, np.nextafter(f, np.float32(np.inf)), f)
    return down, up


def _fill_rtree(connection, rtree, fids, x, y):
    """Bulk-load the SQLite R-tree ``rtree`` with points, packed Sort-Tile-Recursive.

    Inserting 200k points one by one through the virtual table costs ~2 s (each insert walks
    and splits nodes). The R-tree's shadow tables have a documented, stable layout (SQLite
    ``ext/rtree``: node blob = 2-byte tree depth in the root, 2-byte cell count, cells of
    8-byte id + 4 float32 bounds, big-endian; ``_rowid`` maps each id to its leaf, ``_parent``
    each node to its parent), so the packed tree is written there directly; the result
    passes SQLite's ``rtreecheck()`` (tests/test_gpkg_writer.py).
    """
    node_size = len(
        connection.execute(f"SELECT data FROM {_quote(rtree + '_node')} WHERE nodeno = 1").fetchone()[0]
    )
    per_node = min((node_size - 4) // 24, 51)
    n = fids.size
    # Sort-Tile-Recursive order: vertical strips of ~sqrt(leaves) leaves, by y inside each.
    leaves = -(-n // per_node)
    strip = int(np.ceil(np.sqrt(leaves))) * per_node
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(x, kind="stable")] = np.arange(n)
    order = np.lexsort((y, rank // strip))
    x_lo, x_hi = _float32_down_up(x[order])
    y_lo, y_hi = _float32_down_up(y[order])
    ids = fids[order].astype(np.int64)
    levels = []  # bottom-up: (entry ids, bounds (E, 4)); nodes are runs of per_node entries
    bounds = np.column_stack([x_lo, x_hi, y_lo, y_hi])
    while True:
        levels.append((ids, bounds))
        count = -(-ids.size // per_node)
        if count == 1:
            break
        starts = np.arange(0, ids.size, per_node)
        bounds = np.column_stack(
            [
                np.minimum.reduceat(bounds[:, 0], starts),
                np.maximum.reduceat(bounds[:, 1], starts),
                np.minimum.reduceat(bounds[:, 2], starts),
                np.maximum.reduceat(bounds[:, 3], starts),
            ]
        )
        ids = np.zeros(count, dtype=np.int64)  # node numbers, set below once known
    # Number nodes top-down, root = 1, and point each level's entries at the level below.
    node_counts = [-(-level[0].size // per_node) for level in levels]
    first_number = {}
    number = 1
    for depth in range(len(levels) - 1, -1, -1):
        first_number[depth] = number
        number += node_counts[depth]
    for depth in range(1, len(levels)):
        levels[depth][0][:] = first_number[depth - 1] + np.arange(node_counts[depth - 1])
    cell = np.dtype([("id", ">i8"), ("bounds", ">f4", (4,))])
    node_rows, parent_rows = [], []
    for depth, (entry_ids, entry_bounds) in enumerate(levels):
        nodes = node_counts[depth]
        cells = np.zeros(nodes * per_node, dtype=cell)
        cells["id"][: entry_ids.size] = entry_ids
        cells["bounds"][: entry_ids.size] = entry_bounds
        blobs = np.zeros((nodes, node_size), dtype=np.uint8)
        blobs[:, 4 : 4 + per_node * 24] = cells.view(np.uint8).reshape(nodes, per_node * 24)
        filled = np.minimum(per_node, entry_ids.size - np.arange(nodes) * per_node)
        blobs[:, 2] = filled >> 8
        blobs[:, 3] = filled & 0xFF
        if depth == len(levels) - 1:
            blobs[0, 0], blobs[0, 1] = depth >> 8, depth & 0xFF  # the root holds the tree depth
        numbers = first_number[depth] + np.arange(nodes)
        node_rows.extend(zip(numbers.tolist(), (bytes(b) for b in blobs)))
        if depth < len(levels) - 1:
            parents = first_number[depth + 1] + np.arange(nodes) // per_node
            parent_rows.extend(zip(numbers.tolist(), parents.tolist()))
    leaf_nodes = first_number[0] + np.arange(levels[0][0].size) // per_node
    by_id = np.argsort(levels[0][0], kind="stable")  # B-tree appends in key order, not random inserts
    _insert_many(
        connection, f"INSERT OR REPLACE INTO {_quote(rtree + '_node')} VALUES ", list(zip(*node_rows))
    )
    if parent_rows:
        _insert_many(connection, f"INSERT INTO {_quote(rtree + '_parent')} VALUES ", list(zip(*parent_rows)))
    _insert_many(
        connection,
        f"INSERT INTO {_quote(rtree + '_rowid')} (rowid, nodeno) VALUES ",
        [levels[0][0][by_id].tolist(), leaf_nodes[by_id].tolist()],
    )
