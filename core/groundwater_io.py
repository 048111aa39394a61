"""Reading groundwater-level tables into :class:`~core.groundwater.GroundwaterRecords`.

METHODS.md section 1: wells with water-level series for several aquifer layers, typically
monthly, in metres. Two table shapes, from any OGR table or CSV:

* long: ``well_id, date, layer, level`` (one row per well, layer and date);
* wide: ``well_id, date, <one column per layer>``.

Optional ``x``/``y`` (or ``easting``/``northing``) columns, or a point geometry, give the
well positions. A dedicated reader handles the Dutch DINOloket CSV export (one file per
screen / filter, heads in cm relative to NAP), turning each filter into one layer.
"""

import csv
import os
import re
from typing import Dict, List, Optional, Sequence

import numpy as np

from .groundwater import GroundwaterRecords

WELL_NAMES = ("well_id", "well", "wellid", "station", "station_id", "site", "site_id", "id", "locatie")
DATE_NAMES = ("date", "datetime", "time", "month", "peildatum", "day")
LAYER_NAMES = ("layer", "aquifer", "aquifer_layer", "screen", "filter")
LEVEL_NAMES = ("level", "level_m", "head", "head_m", "water_level", "value", "depth_to_water_m", "depth")
X_NAMES = ("x", "easting", "x_m", "lon", "longitude")
Y_NAMES = ("y", "northing", "y_m", "lat", "latitude")
# Shallow-to-deep order of the layer names the project uses (seed 000's four aquifers).
KNOWN_LAYER_ORDER = ("unconfined", "confined_1", "confined_2", "confined_3", "confined_4")


def _pick(names: Sequence[str], wanted: Optional[str], candidates: Sequence[str], what: str, required=True):
    lowered = {n.lower(): n for n in names}
    if wanted:
        if wanted not in names and wanted.lower() not in lowered:
            raise ValueError(f"{what} column {wanted!r} not found; columns are: {', '.join(names)}")
        return wanted if wanted in names else lowered[wanted.lower()]
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    if required:
        raise ValueError(
            f"no {what} column (expected one of {', '.join(candidates)}); columns are: {', '.join(names)}"
        )
    return None


_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_YM = re.compile(r"^(\d{4})[-/](\d{1,2})$")


def parse_date_text(value, column: str = "date", row: Optional[int] = None) -> np.datetime64:
    """A date from ``YYYY-MM-DD`` (time part ignored), ``DD-MM-YYYY`` or ``YYYY-MM`` text."""
    text = str(value).strip()
    where = f" at row {row}" if row is not None else ""
    match = _ISO.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif _DMY.match(text):
        day, month, year = (int(g) for g in _DMY.match(text).groups())
    elif _YM.match(text):
        year, month = (int(g) for g in _YM.match(text).groups())
        day = 1
    else:
        raise ValueError(f"{column}: {text!r}{where} is not a date (expected YYYY-MM-DD or DD-MM-YYYY)")
    try:
        parsed = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        raise ValueError(f"{column}: {text!r}{where} is not a valid calendar date") from None
    return parsed


def _to_float(column: str, values: Sequence, rows_offset: int = 1) -> np.ndarray:
    out = np.empty(len(values))
    for i, value in enumerate(values):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "nan", "null", "na")):
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{column}: {value!r} at row {i + rows_offset} is not a number") from None
    return out


def read_table(path: str, layer_name: Optional[str] = None):
    """``(column names, columns as lists, x, y, crs)`` of any OGR table; x/y None without geometry."""
    from osgeo import gdal

    path = os.fspath(path)
    options = ["HEADERS=YES", "AUTODETECT_TYPE=NO"] if path.lower().endswith((".csv", ".txt")) else []
    dataset = gdal.OpenEx(path, gdal.OF_VECTOR | gdal.OF_READONLY, open_options=options)
    if dataset is None:
        raise ValueError(
            f"{path}: cannot be opened as a table ({gdal.GetLastErrorMsg() or 'unknown format'})"
        )
    layer = dataset.GetLayerByName(layer_name) if layer_name else dataset.GetLayer(0)
    if layer is None:
        raise ValueError(f"{path}: layer {layer_name!r} not found")
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    columns: List[list] = [[] for _ in names]
    xs, ys = [], []
    has_geometry = definition.GetGeomFieldCount() > 0 and layer.GetGeomType() != 100
    for feature in layer:
        for j in range(len(names)):
            columns[j].append(feature.GetFieldAsString(j) if feature.IsFieldSetAndNotNull(j) else None)
        if has_geometry:
            geometry = feature.GetGeometryRef()
            xs.append(np.nan if geometry is None else geometry.GetX())
            ys.append(np.nan if geometry is None else geometry.GetY())
    crs = ""
    srs = layer.GetSpatialRef() if has_geometry else None
    if srs is not None and srs.GetAuthorityCode(None):
        crs = f"{srs.GetAuthorityName(None)}:{srs.GetAuthorityCode(None)}"
    if has_geometry:
        return names, columns, np.array(xs), np.array(ys), crs
    return names, columns, None, None, crs


def _layer_order(found: Sequence[str], layers: Optional[Sequence[str]]) -> List[str]:
    if layers:
        missing = [name for name in layers if name not in found]
        if missing:
            raise ValueError(f"layers: {', '.join(missing)} not in the table (found: {', '.join(found)})")
        return list(layers)
    known = [name for name in KNOWN_LAYER_ORDER if name in found]
    return known + [name for name in found if name not in known]


def records_from_rows(
    well_ids, dates, layer_names, levels, layers=None, kind="head", positions=None, crs=""
) -> GroundwaterRecords:
    """Assemble records from long rows (well, date, layer, level); duplicates are errors."""
    wells = list(dict.fromkeys(well_ids))
    found_layers = list(dict.fromkeys(layer_names))
    order = _layer_order(found_layers, layers)
    unique_dates = np.unique(np.asarray(dates, dtype="datetime64[D]"))
    w_index = {w: i for i, w in enumerate(wells)}
    l_index = {name: i for i, name in enumerate(order)}
    t_index = np.searchsorted(unique_dates, np.asarray(dates, dtype="datetime64[D]"))
    out = np.full((len(wells), len(order), unique_dates.size), np.nan)
    seen = np.zeros(out.shape, dtype=bool)
    for well, name, t, value in zip(well_ids, layer_names, t_index.tolist(), levels):
        if name not in l_index:
            continue
        key = (w_index[well], l_index[name], t)
        if seen[key]:
            raise ValueError(f"duplicate record: well {well}, layer {name}, date {unique_dates[t]}")
        seen[key] = True
        out[key] = value
    x = np.full(len(wells), np.nan)
    y = np.full(len(wells), np.nan)
    if positions:
        for well, (px, py) in positions.items():
            x[w_index[well]], y[w_index[well]] = px, py
    return GroundwaterRecords(
        well_ids=np.array(wells), x=x, y=y, layers=order, dates=unique_dates, levels_m=out, kind=kind, crs=crs
    )


def read_groundwater_table(
    path: str,
    layer_name: Optional[str] = None,
    well_field: Optional[str] = None,
    date_field: Optional[str] = None,
    layer_field: Optional[str] = None,
    level_field: Optional[str] = None,
    layers: Optional[Sequence[str]] = None,
    kind: str = "head",
    crs: str = "",
) -> GroundwaterRecords:
    """Read a long or wide groundwater table (module doc) from any OGR source.

    The shape is long when a layer column exists (``layer``/``aquifer``/... or
    ``layer_field``), else wide: every column other than well, date and coordinates is one
    layer (or only ``layers``). Levels are metres; ``kind`` says head or depth to water.
    A DINOloket CSV export is recognised and read with :func:`read_dino_csv`.
    """
    path = os.fspath(path)
    if is_dino_csv(path):
        return read_dino_csv([path])
    names, columns, gx, gy, table_crs = read_table(path, layer_name)
    if not columns or not columns[0]:
        raise ValueError(f"{path}: the table has no rows (empty table)")
    col = dict(zip(names, columns))
    well = _pick(names, well_field, WELL_NAMES, "well id")
    date = _pick(names, date_field, DATE_NAMES, "date")
    x_name = _pick(names, None, X_NAMES, "x", required=False)
    y_name = _pick(names, None, Y_NAMES, "y", required=False)
    dates = [parse_date_text(v, date, i + 1) for i, v in enumerate(col[date])]
    well_ids = [str(v) for v in col[well]]
    positions = {}
    if gx is not None:
        xs, ys = gx, gy
    elif x_name and y_name:
        xs, ys = _to_float(x_name, col[x_name]), _to_float(y_name, col[y_name])
    else:
        xs = ys = None
    if xs is not None:
        for w, px, py in zip(well_ids, xs, ys):
            positions.setdefault(w, (px, py))
    layer_col = _pick(names, layer_field, LAYER_NAMES, "layer", required=bool(layer_field))
    if layer_col is not None:
        level = _pick(names, level_field, LEVEL_NAMES, "level")
        values = _to_float(level, col[level])
        layer_names = [str(v) for v in col[layer_col]]
        return records_from_rows(
            well_ids, dates, layer_names, values, layers, kind, positions, crs or table_crs
        )
    used = {well, date, x_name, y_name}
    layer_columns = list(layers) if layers else [n for n in names if n not in used]
    if not layer_columns:
        raise ValueError(
            f"{path}: no level columns besides {well} and {date}; columns are: {', '.join(names)}"
        )
    long_wells, long_dates, long_layers, long_values = [], [], [], []
    for name in layer_columns:
        if name not in col:
            raise ValueError(f"layers: column {name!r} not found; columns are: {', '.join(names)}")
        values = _to_float(name, col[name])
        long_wells += well_ids
        long_dates += dates
        long_layers += [name] * len(values)
        long_values += values.tolist()
    return records_from_rows(
        long_wells,
        long_dates,
        long_layers,
        long_values,
        layer_columns if layers else None,
        kind,
        positions,
        crs or table_crs,
    )


# ---------------------------------------------------------------- DINOloket export


def is_dino_csv(path: str) -> bool:
    """True for a DINOloket groundwater CSV (Dutch header block, then ``Locatie,Filternummer``)."""
    if not str(path).lower().endswith(".csv") or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096)
    return "Locatie,Filternummer" in head and ("Peildatum" in head or "Titel:" in head)


def _dino_blocks(path: str):
    """The metadata rows and measurement rows of one DINO file."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        rows = list(csv.reader(handle))
    meta, data = [], []
    mode = None
    for row in rows:
        if row and row[0] == "Locatie":
            mode = "data" if "Peildatum" in row else "meta"
            continue
        if not row or not row[0].strip():
            continue
        if mode == "meta":
            meta.append(row)
        elif mode == "data":
            data.append(row)
    if not meta or not data:
        raise ValueError(f"{os.path.basename(path)}: DINO export without a metadata or measurement block")
    return meta, data


def read_dino_csv(paths: Sequence[str], monthly: bool = False) -> GroundwaterRecords:
    """Read DINOloket CSV exports (one file per filter) into GroundwaterRecords.

    Each location (``Locatie``) is a well; each filter (screen) is a layer named
    ``filter_<nr>``, ordered shallow to deep by screen depth. Levels are heads in metres
    relative to NAP (``Stand (cm t.o.v. NAP)`` / 100), ``kind="head"``; positions are RD New
    (EPSG:28992); ``screen_depth_m`` is the depth of the screen centre below ground surface
    (latest metadata row). Rows without a level (e.g. ``lucht``, dry) are missing values.
    ``monthly=True`` averages to calendar months (dated the 1st), as METHODS.md section 4 uses.
    """
    wells, dates, layer_names, levels = [], [], [], []
    positions: Dict[str, tuple] = {}
    screen: Dict[tuple, float] = {}
    for path in paths:
        meta, data = _dino_blocks(path)
        location, filter_nr = meta[-1][0], meta[-1][1]
        layer = f"filter_{filter_nr}"
        last = meta[-1]
        try:
            positions.setdefault(location, (float(last[3]), float(last[4])))
            surface_cm = float(last[5])
            top_cm, bottom_cm = float(last[11]), float(last[12])
            screen[(location, layer)] = (surface_cm - 0.5 * (top_cm + bottom_cm)) / 100.0
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{os.path.basename(path)}: unreadable DINO metadata row {last}") from exc
        for i, row in enumerate(data):
            if len(row) < 6:
                continue
            text = row[5].strip()
            value = np.nan if not text else _to_float("Stand (cm t.o.v. NAP)", [text], i + 1)[0] / 100.0
            wells.append(row[0])
            dates.append(parse_date_text(row[2], "Peildatum", i + 1))
            layer_names.append(layer)
            levels.append(value)
    # Several rows of one filter on one date happen in loggers: keep their mean.
    keys = {}
    for well, date, layer, value in zip(wells, dates, layer_names, levels):
        keys.setdefault((well, date, layer), []).append(value)
    wells = [k[0] for k in keys]
    dates = [k[1] for k in keys]
    layer_names = [k[2] for k in keys]
    levels = [float(np.nanmean(v)) if np.any(~np.isnan(v)) else np.nan for v in keys.values()]
    found = list(dict.fromkeys(layer_names))
    depth_of = {name: np.nanmean([d for (w, lay), d in screen.items() if lay == name]) for name in found}
    order = sorted(found, key=lambda name: depth_of[name])
    records = records_from_rows(wells, dates, layer_names, levels, order, "head", positions, "EPSG:28992")
    records.screen_depth_m = np.array(
        [[screen.get((str(w), name), np.nan) for name in records.layers] for w in records.well_ids]
    )
    return monthly_mean(records) if monthly else records


def monthly_mean(records: GroundwaterRecords) -> GroundwaterRecords:
    """Levels averaged per calendar month, dated the 1st (NaN-aware; empty months NaN)."""
    months = records.dates.astype("datetime64[M]")
    unique = np.unique(months)
    index = np.searchsorted(unique, months)
    w, n_layers, _ = records.levels_m.shape
    sums = np.zeros((w, n_layers, unique.size))
    counts = np.zeros_like(sums)
    valid = ~np.isnan(records.levels_m)
    np.add.at(sums, (slice(None), slice(None), index), np.where(valid, records.levels_m, 0.0))
    np.add.at(counts, (slice(None), slice(None), index), valid.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
    return GroundwaterRecords(
        well_ids=records.well_ids,
        x=records.x,
        y=records.y,
        layers=records.layers,
        dates=unique.astype("datetime64[D]"),
        levels_m=mean,
        kind=records.kind,
        crs=records.crs,
        screen_depth_m=records.screen_depth_m,
    )


def read_groundwater(path, **kwargs) -> GroundwaterRecords:
    """Any supported groundwater source: a table (long/wide), a DINO CSV, or a folder of DINO CSVs."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if is_dino_csv(os.path.join(path, f)))
        if not files:
            raise ValueError(f"{path}: no DINOloket CSV files in this folder; give a groundwater table file")
        return read_dino_csv(files, monthly=kwargs.get("monthly", False))
    if is_dino_csv(path):
        return read_dino_csv([path], monthly=kwargs.get("monthly", False))
    kwargs.pop("monthly", None)
    return read_groundwater_table(path, **kwargs)
