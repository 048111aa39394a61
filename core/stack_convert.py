"""Streaming conversion of PS sources into a chunked stack (``core/stack.py``).

Any source :func:`core.ps_io.read_ps_file` reads through OGR (EGMS CSV exports, GeoPackage,
Shapefile ...) is read in batches of ``batch_rows`` features from OGR's Arrow/NumPy stream;
each batch goes through the same :func:`core.ps_columns.ps_from_columns` as a whole-file read (date
detection, NULL and text checks, id and elevation fields), and its rows are appended to the
stack. Memory is bounded by one batch plus one chunk, whatever the size of the sources.

Many sources at once (the bursts of an EGMS order) go into one stack, one frame each; they
must share the dates (the stack has one date axis) and the CRS. GDAL < 3.8.1 cannot stream
more than ~125 GeoPackage columns at once (OSGeo/gdal#8757): the fields are then split over
several streams of the same file read in lockstep (same batch boundaries, checked).
"""

import os

import numpy as np

from . import ogr_batches, ps_columns, ps_read, wkb_points
from .stack import DEFAULT_CHUNK_ROWS, StackWriter

BATCH_ROWS = 65536


def _streams(path, layer_name, batch_rows):
    """Yield dicts field -> array (plus ``__geometry__`` WKB when the layer has geometry), one per
    batch, and set the generator's ``info`` (field names, crs) before the first batch."""
    dataset = ogr_batches._open_ogr(path)
    layer = ogr_batches._layer_of(dataset, path, layer_name)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    has_geometry = definition.GetGeomFieldCount() > 0 and layer.GetGeomType() != 100
    crs = ""
    if has_geometry and layer.GetSpatialRef() is not None:
        srs = layer.GetSpatialRef()
        auth, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
        crs = f"{auth}:{code}" if auth and code else srs.ExportToWkt()
    geometry = (layer.GetGeometryColumn() or "wkb_geometry") if has_geometry else None
    per_pass = ogr_batches._fields_per_pass(dataset, len(names))
    groups = [names[k : k + per_pass] for k in range(0, len(names), per_pass)] or [[]]
    handles, iterators = [], []
    for g, group in enumerate(groups):
        ds = dataset if g == 0 else ogr_batches._open_ogr(path)
        lyr = ogr_batches._layer_of(ds, path, layer_name)
        hidden = [n for n in names if n not in set(group)]
        if geometry is not None and g > 0:
            hidden.append(geometry)
        lyr.SetIgnoredFields(hidden)
        options = ["INCLUDE_FID=NO", f"MAX_FEATURES_IN_BATCH={int(batch_rows)}"]
        handles.append((ds, lyr))
        iterators.append(iter(lyr.GetArrowStreamAsNumPy(options)))
    return names, crs, geometry, handles, iterators


def _batches(path, layer_name, batch_rows):
    """(field names, crs, geometry name, iterator of batches as one dict each)."""
    names, crs, geometry, handles, iterators = _streams(path, layer_name, batch_rows)

    def generate():
        _keep = handles  # the datasets must outlive their streams
        while True:
            parts = [next(it, None) for it in iterators]
            if all(p is None for p in parts):
                return
            if any(p is None for p in parts):
                raise ValueError(f"{path}: the field streams of the file ended at different rows")
            sizes = {len(next(iter(p.values()))) for p in parts if p}
            if len(sizes) > 1:
                raise ValueError(f"{path}: the field streams of the file returned batches of different sizes")
            batch = {}
            for p in parts:
                batch.update(p)
            yield batch
        del _keep

    return names, crs, geometry, generate()


def convert_to_stack(
    sources,
    path,
    date_fields="",
    id_field=None,
    z_field=None,
    chunk_rows=DEFAULT_CHUNK_ROWS,
    batch_rows=BATCH_ROWS,
    progress=None,
):
    """Stream PS ``sources`` (file paths, or ``(path, layer name)``) into a new stack at ``path``.

    Returns the opened :class:`~core.stack.Stack`. Raises ValueError naming the file, field or
    value at fault (dates or CRS that differ between sources, text in a date field ...); on any
    error or cancel (``progress`` raising) the partial store is removed.
    """
    sources = [s if isinstance(s, (tuple, list)) else (s, None) for s in sources]
    if not sources:
        raise ValueError("sources: no PS source given")
    report = progress or (lambda fraction, message=None: True)
    sizes = [max(os.path.getsize(p), 1) if os.path.isfile(p) else 1 for p, _ in sources]
    writer = None
    done_bytes = 0
    try:
        for (source, layer_name), size in zip(sources, sizes):
            if not os.path.exists(source) and "/vsi" not in source:
                raise ValueError(f"sources: {source}: file not found")
            names, crs, geometry, batches = _batches(source, layer_name, batch_rows)
            base = os.path.basename(source)
            rows = 0
            for batch in batches:
                columns = {n: ps_read._decode_text(batch[n]) for n in names}
                if geometry is not None:
                    x, y = wkb_points.points_from_wkb(batch[geometry])
                    batch_crs = crs
                else:
                    x, y, batch_crs = ps_columns.coordinates_from_columns(columns, names)
                try:
                    ps = ps_columns.ps_from_columns(
                        columns,
                        x,
                        y,
                        batch_crs,
                        date_fields=date_fields,
                        id_field=id_field,
                        z_field=z_field,
                        field_order=names,
                        keep_attributes=False,
                    )
                except ValueError as exc:
                    raise ValueError(f"{base} (rows {rows + 1}-{rows + len(x)}): {exc}") from exc
                if writer is None:
                    writer = StackWriter(
                        path,
                        ps.dates,
                        batch_crs,
                        chunk_rows,
                        text_ids=ps.ids.dtype.kind in "OU",
                        with_z=ps.z is not None,
                        id_field=ps.id_field,
                        date_fields=ps.date_fields,
                    )
                if rows == 0:
                    _check_same(writer, ps, batch_crs, base)
                    writer.start_frame(
                        os.path.splitext(base)[0] if layer_name is None else f"{base}:{layer_name}"
                    )
                if (ps.ids.dtype.kind in "OU") != (writer.group["ids"].dtype.kind == "O"):
                    raise ValueError(
                        f"{base}: its ids are {'text' if ps.ids.dtype.kind in 'OU' else 'numbers'}, "
                        "those of the first source are not; give an id field of the same kind"
                    )
                writer.add(ps.ids, ps.x, ps.y, ps.displacement_mm, ps.z)
                rows += len(x)
                report(min((done_bytes + size * 0.5) / sum(sizes), 1.0), None)
            if rows == 0:
                raise ValueError(f"sources: {base} has no features")
            done_bytes += size
            report(done_bytes / sum(sizes), f"{base}: {rows} points")
        return writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _check_same(writer, ps, crs, base):
    if not np.array_equal(writer.dates, ps.dates):
        only = (
            np.setdiff1d(ps.dates, writer.dates)[:3].tolist()
            or np.setdiff1d(writer.dates, ps.dates)[:3].tolist()
        )
        raise ValueError(
            f"sources: {base} has {ps.dates.size} dates, the first source {writer.dates.size} "
            f"(differing: {', '.join(str(d) for d in only) or 'order'}); a stack has one date axis: "
            "convert frames with other dates into their own stack"
        )
    if (crs or "") != writer.meta["crs"]:
        raise ValueError(f"sources: {base} is in {crs or 'no CRS'}, the first source in {writer.meta['crs']}")
    if (ps.z is not None) != ("z" in writer.names):
        raise ValueError(
            f"sources: {base} {'has' if ps.z is not None else 'has no'} elevation field, "
            "unlike the first source"
        )
