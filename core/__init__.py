"""Subsidence Lab science core.

Pure numpy / scipy (torch and GDAL/OGR where needed). This package must never import qgis
or any Qt binding: ``tests/test_core_is_qt_free.py`` enforces it.
"""
