"""The GeoPackage rows written as SQLite pages (core.gpkg_pages) are what sqlite3 inserts would give.

Each file passes SQLite's own ``PRAGMA integrity_check``; every stored value (with its SQLite
type) equals the one the ``sqlite3`` path stores; the AUTOINCREMENT sequence continues after
the last fid; OGR reads the features. Sizes cover a single leaf (the root), two and three
B-tree levels, and a row too wide for a page (the ``sqlite3`` path is taken).
"""

import sqlite3

import numpy as np
import pytest

from subsidence_lab.core import gpkg_pages, gpkg_writer


def _table(m, n_dates, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(400_000, 410_000, m)
    y = rng.uniform(5_000_000, 5_010_000, m)
    if m > 3:
        x[3] = np.nan  # an empty point
    velocity = rng.normal(0, 5, m)
    velocity[:: max(m // 4, 1)] = np.nan
    labels = np.array([None if i % 7 == 3 else "pt_é" * (i % 40) for i in range(m)], dtype=object)
    columns = [
        ("id", "int", np.arange(10, 10 + m, dtype=np.int64) * (-1) ** np.arange(m)),
        ("velocity", "float", velocity),
        ("label", "str", labels),
        ("calm", "int", (np.arange(m) % 2).astype(np.int64)),
    ]
    series = rng.normal(0, 10, (m, n_dates)) * 10.0 ** rng.integers(-3, 4, (m, n_dates))
    series[rng.random((m, n_dates)) < 0.05] = np.nan
    names = [f"D{20200101 + j}" for j in range(n_dates)]
    return x, y, columns, (names, series)


def _dump(path):
    with sqlite3.connect(str(path)) as connection:
        check = connection.execute("PRAGMA integrity_check").fetchall()
        rows = connection.execute("SELECT * FROM t ORDER BY fid").fetchall()
        types = connection.execute(
            "SELECT typeof(geom), typeof(label), typeof(id) FROM t ORDER BY fid"
        ).fetchall()
        sequence = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 't'").fetchone()
    return check, rows, types, sequence


@pytest.mark.parametrize("m, n_dates", [(1, 3), (5, 150), (1000, 150), (4000, 150), (40, 600)])
def test_pages_equal_the_sqlite3_inserts(tmp_path, monkeypatch, m, n_dates):
    x, y, columns, series = _table(m, n_dates)
    by_pages = gpkg_writer.write_points_gpkg(
        str(tmp_path / "pages.gpkg"), x, y, "EPSG:32633", columns, layer_name="t", series=series
    )
    calls = []
    original = gpkg_pages.write_table_pages
    monkeypatch.setattr(gpkg_pages, "write_table_pages", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(gpkg_pages, "page_layout", lambda connection, table: None)
    by_sqlite = gpkg_writer.write_points_gpkg(
        str(tmp_path / "sqlite.gpkg"), x, y, "EPSG:32633", columns, layer_name="t", series=series
    )
    assert calls == []  # the reference really went through sqlite3
    check, rows, types, sequence = _dump(by_pages)
    assert check == [("ok",)]
    reference = _dump(by_sqlite)
    assert len(rows) == m and [r[0] for r in rows] == list(range(1, m + 1))
    # NaN cannot be compared with ==: both paths store NULL (None) for it.
    assert rows == reference[1]
    assert types == reference[2] and sequence == reference[3] == (m,)
    from osgeo import ogr

    dataset = ogr.Open(str(by_pages), 1)
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() == m
    feature = layer.GetFeature(min(2, m))
    assert feature.GetField("calm") == (min(2, m) - 1) % 2
    new = ogr.Feature(layer.GetLayerDefn())
    new.SetField("id", 1)
    assert layer.CreateFeature(new) == 0 and new.GetFID() == m + 1  # AUTOINCREMENT goes on
    dataset = None
    assert _dump(by_pages)[0] == [("ok",)]


def test_rows_of_one_layout_and_nan_values_read_back_as_null(tmp_path, monkeypatch):
    """Without text columns the records of a chunk share one layout (whole-block copies, across
    the rowid varint's growth at 128 and 16384); a NaN REAL is stored as NaN and read as NULL by
    SQLite and as an unset field by OGR, as the sqlite3 path's NULL."""
    m = 20_000
    x, y, columns, (names, series) = _table(m, 40, seed=3)
    columns = [c for c in columns if c[1] != "str"]
    by_pages = gpkg_writer.write_points_gpkg(
        str(tmp_path / "pages.gpkg"), x, y, "EPSG:32633", columns, layer_name="t", series=(names, series)
    )
    monkeypatch.setattr(gpkg_pages, "page_layout", lambda connection, table: None)
    by_sqlite = gpkg_writer.write_points_gpkg(
        str(tmp_path / "sqlite.gpkg"), x, y, "EPSG:32633", columns, layer_name="t", series=(names, series)
    )
    rows, reference = [], []
    for path, out in ((by_pages, rows), (by_sqlite, reference)):
        with sqlite3.connect(str(path)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            out.extend(connection.execute("SELECT * FROM t ORDER BY fid").fetchall())
            nulls = connection.execute(f'SELECT count(*) FROM t WHERE "{names[0]}" IS NULL').fetchone()[0]
            assert nulls == np.isnan(series[:, 0]).sum() > 0
    assert rows == reference
    from osgeo import ogr

    layer_source = ogr.Open(str(by_pages))
    layer = layer_source.GetLayer(0)
    row = int(np.flatnonzero(np.isnan(series[:, 1]))[0])
    feature = layer.GetFeature(row + 1)
    assert feature.IsFieldNull(names[1])
    assert feature.IsFieldNull(names[0]) == bool(np.isnan(series[row, 0]))
    finite = int(np.flatnonzero(np.isfinite(series[:, 2]))[0])
    assert layer.GetFeature(finite + 1).GetFieldAsDouble(names[2]) == series[finite, 2]
    # The Arrow read (core/ogr_batches.py reads layers this way) gives NaN there too.
    layer.SetIgnoredFields([n for n in [c[0] for c in columns] + names if n != names[1]] + ["geom"])
    stream = layer.GetArrowStreamAsNumPy()  # masked arrays: NULL is masked
    column = np.concatenate([np.ma.filled(batch[names[1]].astype(np.float64), np.nan) for batch in stream])
    np.testing.assert_array_equal(column, series[:, 1])


def test_wide_rows_take_the_sqlite3_path(tmp_path):
    x, y, columns, (names, series) = _table(10, 600)
    layer = sqlite3.connect(":memory:")
    layer.execute("CREATE TABLE t (fid INTEGER PRIMARY KEY, v REAL)")
    assert gpkg_pages.page_layout(layer, "t") == (4096, 2)
    path = tmp_path / "wide.gpkg"
    gpkg_writer.write_points_gpkg(str(path), x, y, "", columns, layer_name="t", series=(names, series))
    check, rows, _, _ = _dump(path)
    assert check == [("ok",)] and len(rows) == 10 and len(rows[0]) == 2 + 4 + 600
