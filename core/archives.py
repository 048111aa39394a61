"""PS exports distributed as ZIP files (EGMS bursts: a CSV and its XML metadata), read in place.

GDAL reads a file inside a ZIP through ``/vsizip/``, but it does not open the ZIP itself as a
table: :func:`resolve_archive` turns the ZIP's path into the ``/vsizip/`` path of the one
table it holds, so a user gives the file as downloaded, without unzipping it.
"""

import os

TABLE_EXTENSIONS = (".csv", ".txt", ".gpkg", ".shp", ".geojson", ".json")


def _table_members(vsi_folder: str):
    from osgeo import gdal

    found = []
    for name in gdal.ReadDirRecursive(vsi_folder) or []:
        if name.lower().endswith(TABLE_EXTENSIONS) and not name.startswith(("__MACOSX", ".")):
            found.append(name)
    return found


def resolve_archive(path: str) -> str:
    """``path`` itself, or for a ``.zip`` file the ``/vsizip/`` path of the table inside it.

    Raises:
        ValueError naming the ZIP when it holds no table, or several (then give the
        ``/vsizip/<zip>/<member>`` path of the one wanted).
    """
    path = os.fspath(path)
    if not path.lower().endswith(".zip"):
        return path
    folder = path if path.startswith("/vsizip/") else "/vsizip/" + path
    members = _table_members(folder)
    if not members:
        raise ValueError(f"{os.path.basename(path)}: the ZIP holds no table (.csv, .gpkg, .shp, .geojson)")
    if len(members) > 1:
        raise ValueError(
            f"{os.path.basename(path)}: the ZIP holds {len(members)} tables ({', '.join(members[:5])}); "
            f"give one as {folder}/<name>"
        )
    return f"{folder}/{members[0]}"


def read_head(path: str, size: int = 4096) -> str:
    """The first ``size`` bytes of a file as text, also for ``/vsi...`` paths ("" if unreadable)."""
    if not path.startswith("/vsi"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read(size)
        except OSError:
            return ""
    from osgeo import gdal

    handle = gdal.VSIFOpenL(path, "rb")
    if handle is None:
        return ""
    try:
        return gdal.VSIFReadL(1, size, handle).decode("utf-8", "replace")
    finally:
        gdal.VSIFCloseL(handle)
