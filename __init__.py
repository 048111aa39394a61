"""Subsidence Lab QGIS plugin entry point: only ``classFactory`` lives here."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import SubsidenceLabPlugin

    return SubsidenceLabPlugin(iface)
