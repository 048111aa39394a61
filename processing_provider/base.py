"""Shared plumbing for the algorithms: naming, help, icon, progress/cancel bridging."""

import os

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELP_BASE_URL = "https://github.com/subsidence-lab/subsidence_lab/blob/main/README.md"


def icon_path(name="icon.svg"):
    return os.path.join(PLUGIN_DIR, "resources", name)


def progress_callback(feedback, start=0.0, end=100.0):
    """A core-style callback ``cb(fraction, message=None)`` that reports into ``feedback``.

    ``fraction`` in [0, 1] is mapped to [start, end] percent. Returns ``True`` to go on and
    raises :class:`QgsProcessingException` when the user cancelled, so core loops stop at once.
    """

    def callback(fraction, message=None):
        if feedback is None:
            return True
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user.")
        feedback.setProgress(start + (end - start) * float(fraction))
        if message:
            feedback.pushInfo(message)
        return True

    return callback


class SubsidenceAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``_name``, ``_display``, ``_group_id``, ``_group``, ``_help``."""

    _name = ""
    _display = ""
    _group_id = "insar"
    _group = "InSAR time series"
    _help = ""

    def tr(self, text):
        return QCoreApplication.translate("SubsidenceLab", text)

    def createInstance(self):
        return type(self)()

    def name(self):
        return self._name

    def displayName(self):
        return self.tr(self._display)

    def group(self):
        return self.tr(self._group)

    def groupId(self):
        return self._group_id

    def shortHelpString(self):
        return self.tr(self._help)

    def helpUrl(self):
        return f"{HELP_BASE_URL}#{self._name}"

    def icon(self):
        return QIcon(icon_path())
