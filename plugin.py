"""The QGIS plugin object: registers the Processing provider (headless too) and owns the UI."""

from qgis.core import QgsApplication


class SubsidenceLabPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):
        """Called by QGIS (also by qgis_process, headless) for plugins with hasProcessingProvider=yes."""
        if self.provider is not None:
            return
        from .processing_provider.provider import SubsidenceLabProvider

        self.provider = SubsidenceLabProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
