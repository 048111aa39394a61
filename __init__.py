"""Subsidence Lab QGIS plugin entry point: only ``classFactory`` lives here."""


def classFactory(iface):
    from .plugin import SubsidenceLabPlugin

    return SubsidenceLabPlugin(iface)
