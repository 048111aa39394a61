"""Reading every column of an OGR layer: Arrow/NumPy batches (GDAL >= 3.6) in passes of at
most ``ARROW_FIELDS_PER_PASS`` fields, date fields written straight into one float matrix, or a
feature loop for drivers without a usable stream."""

import numpy as np

from .ps_columns import TRANSPOSE_BLOCK_ROWS, _fill_float
from .wkb_points import _single_point


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
