"""Reading a PS dataset from any OGR source (GeoPackage, Shapefile, GeoJSON, CSV, a zipped EGMS
table) or a StaMPS-Visualizer CSV into a :class:`~core.psdata.PSDataset` (METHODS.md section 1)."""

import os
from typing import Optional

import numpy as np

from .archives import resolve_archive
from .dates import detect_date_fields
from .ogr_batches import _fields_per_pass, _layer_of, _open_ogr, _read_arrow, _read_features
from .ps_columns import coordinates_from_columns, ps_from_columns
from .psdata import PSDataset
from .stamps_csv import _is_stamps_csv, read_stamps_csv
from .units import mm_per_unit
from .wkb_points import points_from_wkb


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
