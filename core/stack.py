"""The chunked PS stack: a Zarr store for studies too large for memory (METHODS.md section 1).

A stack is a Zarr group (a folder; Debian's ``python3-zarr``, format 2) holding:

* ``displacement_mm``: (m, n) float32, chunks of ``chunk_rows`` rows x all dates, NaN for gaps
  (float32 keeps 0.01 mm at +-100 m, far below InSAR precision, and halves the 1e8 x 300
  matrix of a country to 120 GB);
* ``ids`` (int64, or text), ``x``, ``y`` (float64, the CRS of the attrs) and optionally ``z``
  (elevation, float64), one value per row, chunked like the rows of the matrix;
* attrs: ``format`` (:data:`STACK_FORMAT`), ``version``, ``dates`` (ISO text), ``crs``,
  ``id_field``, ``date_fields`` and ``frames``: the ``[name, first row, end row]`` of each source
  written into it (an EGMS burst, a frame), so that frames can be processed independently.

Rows are whole chunks so that a worker reads one file per block. :class:`StackWriter` buffers the
rows it is given up to a chunk and writes it, so memory stays bounded by one chunk plus one
batch whatever m is; :func:`convert_to_stack` (``core/stack_convert.py``) streams PS sources into
it. A block of rows is read with :meth:`Stack.rows`; :meth:`Stack.displacement` gives the dask
array that the ``core`` functions take in place of a numpy matrix (``core/distributed.py``).
"""

import os
import shutil
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

STACK_FORMAT = "subsidence-lab-stack"
STACK_VERSION = 1
# 1e5 rows x 300 dates x 4 bytes = 120 MB per chunk file; 240 MB as float64 inside a task.
DEFAULT_CHUNK_ROWS = 100_000
MATRIX = "displacement_mm"


def _zarr():
    import zarr

    return zarr


@dataclass
class Stack:
    """An opened stack (lazy: nothing but the attrs is read until asked).

    Attributes:
        path: the store folder; group: the zarr group.
        dates: (n,) datetime64[D]; crs: authority id or WKT; id_field: the sources' id field.
        frames: [(name, first row, end row)] of the sources, in row order.
    """

    path: str
    group: object
    dates: np.ndarray
    crs: str = ""
    id_field: Optional[str] = None
    date_fields: Optional[List[str]] = None
    frames: List[tuple] = field(default_factory=list)

    @property
    def shape(self):
        return tuple(self.group[MATRIX].shape)

    @property
    def n_points(self) -> int:
        return self.shape[0]

    @property
    def n_dates(self) -> int:
        return self.shape[1]

    @property
    def chunk_rows(self) -> int:
        return int(self.group[MATRIX].chunks[0])

    def has(self, name) -> bool:
        return name in self.group

    def rows(self, start, stop, name=MATRIX) -> np.ndarray:
        """Rows ``start:stop`` of array ``name`` as numpy."""
        return self.group[name][start:stop]

    def column(self, name) -> Optional[np.ndarray]:
        """A whole per-point array (``ids``, ``x``, ``y``, ``z``) as numpy, or None when absent."""
        return self.group[name][:] if name in self.group else None

    def displacement(self, rows=None):
        """The (m, n) matrix as a dask array, one block per chunk of the store (or per ``rows``)."""
        import dask.array as da

        array = da.from_zarr(self.group[MATRIX])
        return array if rows is None else array.rechunk({0: int(rows), 1: -1})

    def per_point(self, name, like=None):
        """Per-point array ``name`` as a dask array with the row chunks of ``like`` (None if absent)."""
        import dask.array as da

        if name not in self.group:
            return None
        array = da.from_zarr(self.group[name])
        return array if like is None else array.rechunk((like.chunks[0],))


def open_stack(path) -> Stack:
    """Open a stack written by :class:`StackWriter`; ValueError naming the path if it is not one."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"stack: {path} is not a folder (a PS stack is a Zarr folder)")
    try:
        group = _zarr().open_group(path, mode="r")
    except Exception as exc:  # zarr raises its own errors for a folder that is not a group
        raise ValueError(f"stack: {path} is not a Zarr store ({exc})") from exc
    attrs = dict(group.attrs)
    if attrs.get("format") != STACK_FORMAT or MATRIX not in group:
        raise ValueError(f"stack: {path} is a Zarr store but not a PS stack (no {STACK_FORMAT} marker)")
    if int(attrs.get("version", 0)) > STACK_VERSION:
        raise ValueError(f"stack: {path} has format version {attrs['version']}, newer than this plugin's")
    return Stack(
        path=path,
        group=group,
        dates=np.asarray(attrs["dates"], dtype="datetime64[D]"),
        crs=attrs.get("crs", ""),
        id_field=attrs.get("id_field"),
        date_fields=attrs.get("date_fields"),
        frames=[tuple(f) for f in attrs.get("frames", [])],
    )


class StackWriter:
    """Writes a stack row batch by row batch (bounded memory: one chunk plus one batch).

    ``add(ids, x, y, displacement_mm, z=None)`` appends rows; ``start_frame(name)`` marks where a
    source begins; ``close()`` writes the last partial chunk and the attrs. Until ``close()`` the
    store has no format marker, so an interrupted conversion is never opened as a stack;
    ``abort()`` removes it.
    """

    def __init__(
        self,
        path,
        dates,
        crs="",
        chunk_rows=DEFAULT_CHUNK_ROWS,
        text_ids=False,
        with_z=False,
        id_field=None,
        date_fields=None,
    ):
        zarr = _zarr()
        self.path = os.fspath(path)
        if os.path.exists(self.path):
            raise ValueError(f"stack: {self.path} exists already; choose a new folder")
        self.dates = np.asarray(dates, dtype="datetime64[D]")
        n = self.dates.size
        self.chunk_rows = max(1, int(chunk_rows))
        self.group = zarr.open_group(self.path, mode="w")
        rows = self.chunk_rows
        self.group.create_dataset(MATRIX, shape=(0, n), chunks=(rows, n), dtype="f4", compressor=None)
        if text_ids:
            from numcodecs import VLenUTF8

            self.group.create_dataset(
                "ids", shape=(0,), chunks=(rows,), dtype=object, object_codec=VLenUTF8()
            )
        else:
            self.group.create_dataset("ids", shape=(0,), chunks=(rows,), dtype="i8")
        names = ("x", "y", "z") if with_z else ("x", "y")
        for name in names:
            self.group.create_dataset(name, shape=(0,), chunks=(rows,), dtype="f8")
        self.names = ("ids", *names)
        self.meta = {"crs": crs or "", "id_field": id_field, "date_fields": date_fields}
        self.frames = []
        self.rows_written = 0
        self._pending = []  # (ids, x, y, z, matrix) pieces not yet written
        self._pending_rows = 0

    def start_frame(self, name):
        self._close_frame()
        self.frames.append([str(name), self.rows_written + self._pending_rows, None])

    def _close_frame(self):
        if self.frames and self.frames[-1][2] is None:
            self.frames[-1][2] = self.rows_written + self._pending_rows

    def add(self, ids, x, y, displacement_mm, z=None):
        matrix = np.asarray(displacement_mm)
        if matrix.ndim != 2 or matrix.shape[1] != self.dates.size:
            raise ValueError(
                f"displacement_mm: expected rows of {self.dates.size} dates, got shape {matrix.shape}"
            )
        if not self.frames:
            self.start_frame("frame 1")
        columns = [np.asarray(ids), np.asarray(x, np.float64), np.asarray(y, np.float64)]
        if "z" in self.names:
            columns.append(np.full(matrix.shape[0], np.nan) if z is None else np.asarray(z, np.float64))
        self._pending.append((columns, matrix.astype(np.float32, copy=False)))
        self._pending_rows += matrix.shape[0]
        if self._pending_rows >= self.chunk_rows:
            self._flush(whole_chunks_only=True)

    def _flush(self, whole_chunks_only):
        if not self._pending:
            return
        columns = [np.concatenate([p[0][i] for p in self._pending]) for i in range(len(self.names))]
        matrix = np.concatenate([p[1] for p in self._pending])
        total = matrix.shape[0]
        take = (total // self.chunk_rows) * self.chunk_rows if whole_chunks_only else total
        if take:
            self.group[MATRIX].append(matrix[:take])
            for name, values in zip(self.names, columns):
                self.group[name].append(
                    values[:take].astype(object) if values.dtype.kind in "OU" else values[:take]
                )
            self.rows_written += take
        self._pending = [([c[take:] for c in columns], matrix[take:])] if take < total else []
        self._pending_rows = total - take

    def close(self) -> Stack:
        self._flush(whole_chunks_only=False)
        self._close_frame()
        if self.rows_written == 0:
            self.abort()
            raise ValueError("stack: no rows were written (every source was empty)")
        self.group.attrs.update(
            {
                "format": STACK_FORMAT,
                "version": STACK_VERSION,
                "dates": [str(d) for d in self.dates],
                "frames": self.frames,
                **self.meta,
            }
        )
        return open_stack(self.path)

    def abort(self):
        shutil.rmtree(self.path, ignore_errors=True)


def write_array(stack_path, name, values, chunk_rows=None):
    """Add (or replace) a per-point or (m, n) array ``name`` in a stack, from numpy or dask rows.

    A dask array is written block by block (each worker writes its own chunks)."""
    zarr = _zarr()
    group = zarr.open_group(os.fspath(stack_path), mode="r+")
    m = group[MATRIX].shape[0]
    if values.shape[0] != m:
        raise ValueError(f"{name}: expected {m} rows, got {values.shape[0]}")
    rows = chunk_rows or group[MATRIX].chunks[0]
    chunks = (rows,) + tuple(values.shape[1:])
    target = group.create_dataset(
        name, shape=values.shape, chunks=chunks, dtype=values.dtype, compressor=None, overwrite=True
    )
    if hasattr(values, "dask"):
        return values.rechunk(chunks).store(target, lock=False, compute=False)
    target[:] = values
    return None
