"""Writing a PS dataset as a point layer with OGR (tests, scripts, benches; outside Processing)."""

import os
from typing import Dict, Optional

import numpy as np

from . import gpkg_writer
from .crs import _osr_srs
from .dates import date_field_name
from .psdata import PSDataset

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
