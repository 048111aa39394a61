"""Rows of a new, empty GeoPackage table written as SQLite table B-tree pages, with numpy.

Why: going through Python's ``sqlite3`` costs a Python object and a bind call per value: for
200k points x 150 dates (30 M values) that was 80 % of writing the corrected series, several
times SQLite's own work (measured: copying the same table inside SQLite, ``INSERT ... SELECT``,
takes a sixth of the CPU time). Here the records are encoded for all rows at once and the
pages appended to the file, so no per-value Python work remains.

The format is SQLite's documented, stable file format (https://www.sqlite.org/fileformat2.html,
sections 1.3 database header, 1.6 B-tree pages, 2.1 record format):

* a record is a header (its own length as a varint, then one serial type per column: 0 NULL,
  6 64-bit integer, 7 IEEE double, 12+2n blob of n bytes, 13+2n text of n bytes) followed by
  the values, big-endian; the ``INTEGER PRIMARY KEY`` column (``fid``) is stored as NULL and is
  the cell's rowid;
* a table leaf cell is varint(payload size), varint(rowid), the record, which must fit in the
  page (payload <= usable size - 35, else overflow pages would be needed: such tables take the
  ``sqlite3`` path);
* leaf pages (type 13) hold cells in rowid order; interior pages (type 5) hold (left child,
  largest rowid of that child) cells and the right-most child in their header; the table's
  root page (from ``sqlite_master``) stays its root, the other pages are appended at the end
  of the file, and the page count in the database header is updated.

Only a table SQLite created empty, in a file without auto-vacuum, with UTF-8 text and no
reserved bytes per page, is written this way (:func:`page_layout` says whether it applies);
tests check the result with SQLite's ``PRAGMA integrity_check`` and value by value against
the ``sqlite3`` path.
"""

import struct
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNK_ROWS = 8192
LEAF_BATCH_PAGES = 4096
THREADS = 2
_MAX_VARINT_BYTES = 4  # rowids, lengths and serial types below 2**28


def page_layout(connection, table):
    """``(page_size, root_page)`` when the table may be written as pages, else None (module doc)."""
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    auto_vacuum = connection.execute("PRAGMA auto_vacuum").fetchone()[0]
    encoding = connection.execute("PRAGMA encoding").fetchone()[0]
    row = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (table,)
    ).fetchone()
    if row is None or auto_vacuum != 0 or encoding != "UTF-8" or page_size > 65536:
        return None
    empty = (
        connection.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0] == 0
    )
    return (int(page_size), int(row[0])) if empty else None


def _varints(values, width=_MAX_VARINT_BYTES):
    """SQLite varints of non-negative ints < 2**(7*width): (rows, width) bytes (left-aligned), lengths."""
    v = np.asarray(values, dtype=np.int64)
    length = np.ones(v.shape, dtype=np.int64)
    for k in range(1, width):
        length += v >= (1 << (7 * k))
    out = np.zeros(v.shape + (width,), dtype=np.uint8)
    for k in range(width):
        inside = k < length
        shift = 7 * np.maximum(length - 1 - k, 0)
        byte = (v >> shift) & 0x7F
        byte = np.where(k < length - 1, byte | 0x80, byte)
        out[..., k] = np.where(inside, byte, 0)
    return out, length


def _used_mask(width, used):
    """(rows, width) bool: the first ``used[i]`` bytes of each row's slot."""
    return np.arange(width)[None, :] < np.asarray(used)[:, None]


def _text_bytes(values):
    """UTF-8 bytes of a text column: (rows, widest) uint8, byte lengths, NULL flags."""
    items = np.asarray(values, dtype=object).tolist()
    encoded = [b"" if v is None else str(v).encode("utf-8") for v in items]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    width = max(int(lengths.max(initial=0)), 1)
    data = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)
    return data, lengths, np.array([v is None for v in items], dtype=bool)


def _encode_chunk(rowids, geometry, columns, series, usable):
    """Leaf cells of a chunk of rows: one uint8 array (cells back to back) and each cell's length.

    Every record is laid out in parts of fixed-width slots (a row per record), each with the
    number of bytes each record keeps (None: all of them; a short varint or a text keeps its
    first bytes). **[choice]** A missing REAL (NaN) is stored as the IEEE NaN under serial type
    7, not as serial type 0: SQLite reads a NaN REAL back as NULL (``serialGet`` in vdbeaux.c:
    ``IsNaN(x) ? MEM_Null : MEM_Real``; ``typeof`` says ``null``, OGR reads an unset field), so
    the stored values are those of the ``sqlite3`` path (tested), and the records of a chunk
    keep one layout: they are then written by slicing, not by a byte mask (3x faster).
    """
    rows = rowids.size
    serials = [  # (bytes, kept bytes per row or None)
        (np.zeros((rows, 1), np.uint8), None),  # fid: NULL, the rowid is the key
        (np.full((rows, 1), 12 + 2 * geometry.shape[1], np.uint8), None),
    ]
    bodies = [(geometry, None)]
    for kind, values in columns:
        if kind in ("int", "float"):
            big = ">i8" if kind == "int" else ">f8"
            data = np.asarray(values, dtype=np.int64 if kind == "int" else np.float64).astype(big)
            serials.append((np.full((rows, 1), 6 if kind == "int" else 7, np.uint8), None))
            bodies.append((data.view(np.uint8).reshape(rows, 8), None))
        else:
            data, lengths, null = _text_bytes(values)
            codes, code_lengths = _varints(np.where(null, 0, 13 + 2 * lengths), 2)
            serials.append((codes, code_lengths))
            bodies.append((data, lengths))
    if series is not None:
        serials.append((np.full((rows, series.shape[1]), 7, np.uint8), None))
        bodies.append((np.ascontiguousarray(series, dtype=">f8").view(np.uint8).reshape(rows, -1), None))

    def kept(parts):
        return sum(data.shape[1] if used is None else used for data, used in parts)

    serial_bytes = kept(serials)
    header_size = np.where(serial_bytes + 1 < 128, serial_bytes + 1, serial_bytes + 2)
    payload = header_size + kept(bodies)
    if np.max(payload) > usable - 35 or np.max(header_size) >= 1 << 14:
        return None  # a row would need overflow pages
    parts = [_varints(np.broadcast_to(value, (rows,))) for value in (payload, rowids, header_size)]
    parts += serials + bodies
    return _cells(parts, rows)


def _cells(parts, rows):
    """The kept bytes of ``parts`` read row by row, and each row's count (:func:`_encode_chunk`).

    Runs of rows whose parts all keep the same widths are copied as whole blocks; only the
    rows around a change (a varint growing a byte, texts of other lengths) go through a mask.
    """
    widths = np.column_stack([np.full(rows, d.shape[1]) if u is None else u for d, u in parts])
    lengths = widths.sum(axis=1)
    change = np.flatnonzero((widths[1:] != widths[:-1]).any(axis=1)) + 1
    if change.size > 16:  # many layouts: one byte mask
        table = np.concatenate([d for d, _ in parts], axis=1)
        keep = [np.arange(d.shape[1]) < widths[:, [i]] for i, (d, _) in enumerate(parts)]
        return table[np.concatenate(keep, axis=1)], lengths
    out = []
    for a, b in zip(np.concatenate([[0], change]), np.concatenate([change, [rows]])):
        out.append(np.concatenate([d[a:b, : widths[a, i]] for i, (d, _) in enumerate(parts)], axis=1).ravel())
    return (out[0] if len(out) == 1 else np.concatenate(out)), lengths


def _page_runs(costs, capacity, min_last=1):
    """Greedy split of consecutive items of ``costs`` into runs that fit ``capacity``: run starts.

    The last run gets at least ``min_last`` items (taken from the run before it), so that an
    interior page never has its right-most child alone.
    """
    starts = [0]
    used = 0
    for i, cost in enumerate(costs.tolist()):
        if used + cost > capacity and i > starts[-1]:
            starts.append(i)
            used = 0
        used += cost
    if len(starts) > 1 and len(costs) - starts[-1] < min_last:
        starts[-1] = len(costs) - min_last
    return starts


def _leaf_pages(page_size, usable, cells, lengths, starts):
    """The leaf pages holding ``cells`` (runs of cells from ``starts``), as one (pages, size) array.

    Built for all pages at once: headers, then the cell pointers and the cell contents (each
    page's cells back to back at its end) written through masks in page order.
    """
    counts = np.diff(np.append(starts, lengths.size))
    ends = np.cumsum(lengths)
    first_byte = np.concatenate([[0], ends])[starts]
    page_bytes = np.add.reduceat(lengths, starts)
    content = usable - page_bytes
    pages = np.zeros((len(starts), page_size), dtype=np.uint8)
    pages[:, 0] = 13
    pages[:, 3], pages[:, 4] = counts >> 8, counts & 0xFF
    pages[:, 5], pages[:, 6] = (content >> 8) & 0xFF, content & 0xFF
    page_of_cell = np.repeat(np.arange(len(starts)), counts)
    offsets = content[page_of_cell] + (ends - lengths) - first_byte[page_of_cell]
    # The cell pointers (2 bytes each, from byte 8 of each page) through their flat indices.
    pointer_bytes = 2 * counts
    first_pointer = np.cumsum(pointer_bytes) - pointer_bytes
    at = np.arange(int(pointer_bytes.sum())) - np.repeat(first_pointer, pointer_bytes)
    at += np.repeat(np.arange(len(starts)) * page_size + 8, pointer_bytes)
    pages.reshape(-1)[at] = offsets.astype(">u2").view(np.uint8)
    # Each page's cells are one contiguous run of ``cells`` and go to one contiguous run at the
    # end of the page: a slice copy per page (a byte mask over all pages was 4x slower).
    for page, start, stop, size in zip(pages, content.tolist(), first_byte.tolist(), page_bytes.tolist()):
        page[start:usable] = cells[stop : stop + size]
    return pages


def _interior_cells(children, keys):
    """Interior cells (4-byte child page, varint key) of a level: bytes back to back, lengths."""
    varint, used = _varints(keys)
    table = np.concatenate([children.astype(">u4").view(np.uint8).reshape(-1, 4), varint], axis=1)
    keep = np.concatenate([np.ones((keys.size, 4), dtype=bool), _used_mask(varint.shape[1], used)], axis=1)
    return table[keep], 4 + used


def _interior_page(page_size, usable, cells, lengths, right_child):
    """Interior table page holding ``cells`` (all children but the right-most one)."""
    page = bytearray(page_size)
    content = usable - len(cells)
    offsets = content + np.concatenate([[0], np.cumsum(lengths[:-1])])
    page[0] = 5
    struct.pack_into(">HHxI", page, 3, lengths.size, content % 65536, right_child)
    page[12 : 12 + 2 * lengths.size] = offsets.astype(">u2").tobytes()
    page[content:usable] = cells
    return page


def write_table_pages(path, layout, rowids, geometry, columns, series=None, progress=None):
    """Write the rows into the empty table whose ``layout`` is :func:`page_layout`'s answer.

    Args:
        path: the SQLite file, with no connection open on it.
        rowids: (m,) increasing positive int64 (the fids).
        geometry: (m, w) uint8, each row's geometry blob (same width for all rows).
        columns: ``(kind, values)`` in table order after fid and geometry; kind ``int`` /
            ``float`` (NaN -> NULL) / ``str`` (None -> NULL).
        series: optional (m, n) float written as REAL columns after ``columns``.

    Returns False (the file untouched) when a row does not fit in a page; True when written.
    """
    page_size, root = layout
    usable = page_size  # no reserved bytes (checked below)
    if rowids.size == 0 or rowids[-1] >= 1 << (7 * _MAX_VARINT_BYTES):
        return False
    with open(path, "r+b") as handle:
        header = bytearray(handle.read(100))
        if header[20] != 0:
            return False
        n_pages = struct.unpack_from(">I", header, 28)[0]

        def encode(start):
            stop = min(rowids.size, start + CHUNK_ROWS)
            return _encode_chunk(
                rowids[start:stop],
                geometry[start:stop],
                [(kind, np.asarray(values)[start:stop]) for kind, values in columns],
                None if series is None else series[start:stop],
                usable,
            )

        encoded = []
        with ThreadPoolExecutor(THREADS) as pool:  # chunks are independent; numpy releases the GIL
            for chunk in pool.map(encode, range(0, rowids.size, CHUNK_ROWS)):
                if chunk is None:
                    return False
                encoded.append(chunk)
                if progress is not None:
                    progress(0.5 * min(rowids.size, len(encoded) * CHUNK_ROWS) / rowids.size)
        cells = np.concatenate([c for c, _ in encoded])
        lengths = np.concatenate([n for _, n in encoded])
        del encoded
        starts = _page_runs(lengths + 2, usable - 8)
        single = len(starts) == 1
        first_page = root if single else n_pages + 1
        bounds = starts + [lengths.size]
        handle.seek((first_page - 1) * page_size)
        byte_starts = np.concatenate([[0], np.cumsum(lengths)])

        def leaves(k):  # a batch of pages at a time: bounded memory
            batch = bounds[k : k + LEAF_BATCH_PAGES + 1]
            a, b = batch[0], batch[-1]
            local = np.asarray(batch[:-1]) - a
            return _leaf_pages(page_size, usable, cells[byte_starts[a] : byte_starts[b]], lengths[a:b], local)

        with ThreadPoolExecutor(THREADS) as pool:  # the next batches are built while one is written
            batches = list(range(0, len(starts), LEAF_BATCH_PAGES))
            pending = deque(pool.submit(leaves, k) for k in batches[:THREADS])
            for i, k in enumerate(batches):
                pages = pending.popleft().result()
                if i + THREADS < len(batches):
                    pending.append(pool.submit(leaves, batches[i + THREADS]))
                handle.write(pages.data)
                if progress is not None:
                    progress(0.5 + 0.5 * min(k + LEAF_BATCH_PAGES, len(starts)) / len(starts))
        next_page = n_pages + 1 if single else n_pages + 1 + len(starts)
        children = np.arange(first_page, first_page + len(starts), dtype=np.int64)
        keys = rowids[np.asarray(bounds[1:]) - 1]
        while children.size > 1:
            cells, cell_lengths = _interior_cells(children, keys)
            runs = _page_runs(cell_lengths + 2, usable - 12, min_last=2) + [children.size]
            top = len(runs) == 2
            byte_starts = np.concatenate([[0], np.cumsum(cell_lengths)])
            parents, parent_keys = [], []
            for k in range(len(runs) - 1):
                a, b = runs[k], runs[k + 1]  # children a .. b-2 as cells, b-1 the right-most
                block = cells[byte_starts[a] : byte_starts[b - 1]].tobytes()
                page = _interior_page(page_size, usable, block, cell_lengths[a : b - 1], int(children[b - 1]))
                number = root if top else next_page
                handle.seek((number - 1) * page_size)
                handle.write(page)
                if not top:
                    next_page += 1
                parents.append(number)
                parent_keys.append(keys[b - 1])
            children, keys = np.asarray(parents, dtype=np.int64), np.asarray(parent_keys, dtype=np.int64)
        counter = struct.unpack_from(">I", header, 24)[0] + 1
        struct.pack_into(">II", header, 24, counter, next_page - 1)
        struct.pack_into(">I", header, 92, counter)
        handle.seek(0)
        handle.write(header)
        handle.truncate((next_page - 1) * page_size)
    return True
