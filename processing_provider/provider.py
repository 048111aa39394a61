"""The Subsidence Lab Processing provider.

Algorithms are found by module name: every ``alg_*.py`` in this package defines one
subclass of :class:`~.base.SubsidenceAlgorithm`. An import error is not swallowed: a broken
algorithm must fail loudly in tests rather than vanish from saved models.
"""

import importlib
import inspect
import os
import pkgutil

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import SubsidenceAlgorithm, icon_path

VERSION = "0.1.0"


def algorithm_classes():
    """All algorithm classes of the package, sorted by module name."""
    here = os.path.dirname(__file__)
    classes = []
    for info in sorted(pkgutil.iter_modules([here]), key=lambda i: i.name):
        if not info.name.startswith("alg_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, SubsidenceAlgorithm)
                and obj is not SubsidenceAlgorithm
                and obj.__module__ == module.__name__
            ):
                classes.append(obj)
    return classes


class SubsidenceLabProvider(QgsProcessingProvider):
    def id(self):
        return "subsidencelab"

    def name(self):
        return "Subsidence Lab"

    def longName(self):
        return f"Subsidence Lab {VERSION}"

    def versionInfo(self):
        return VERSION

    def icon(self):
        return QIcon(icon_path())

    def svgIconPath(self):
        return icon_path()

    def loadAlgorithms(self):
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
