"""The Subsidence Lab Processing provider.

Algorithms are found by module name: every ``alg_*.py`` in this package defines one subclass of
:class:`~.base.SubsidenceAlgorithm`. Optional dependencies (torch, dask) are imported inside
``run()`` only, so every algorithm is listed without them and says how to install them
(``canExecute``). Should a module still fail to import because an optional dependency is missing,
the provider lists a stand-in under the same id (read from the module's docstring,
``subsidencelab:<id> -- <title>``) that says what to install: the provider never disappears and
saved models keep their algorithm. Any other import error is not swallowed: a broken algorithm
must fail loudly in tests.
"""

import ast
import importlib
import inspect
import os
import pkgutil

from qgis.core import QgsMessageLog, QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import (
    INSTALL_HINTS,
    PLUGIN_DIR,
    SubsidenceAlgorithm,
    help_url,
    icon_path,
    install_message,
    plugin_version,
)

PROVIDER_ID = "subsidencelab"
MODELS_DIR = os.path.join(PLUGIN_DIR, "resources", "models")
MODEL_HELP_ANCHOR = "the-whole-pipeline-as-a-graphical-model-subsidencepipeline"


def _optional_module(exc):
    """The optional dependency whose absence caused ``exc``, else None."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return name if name in INSTALL_HINTS else None


def _stand_in(module_name, missing, reason):
    """An algorithm class that stands for ``module_name`` while ``missing`` cannot be imported."""
    path = os.path.join(os.path.dirname(__file__), f"{module_name}.py")
    with open(path, encoding="utf-8") as handle:
        doc = ast.get_docstring(ast.parse(handle.read())) or ""
    head = doc.splitlines()[0] if doc else ""
    ident, _, title = head.partition(" -- ")
    name = ident.split(":", 1)[-1].strip() or module_name[4:].replace("_", "")

    class StandIn(SubsidenceAlgorithm):
        _name = name
        _display = title.strip() or name
        _help = doc
        _requires = (missing,)

        def missing_dependencies(self):
            return {missing: reason}

        def initAlgorithm(self, config=None):
            pass

    StandIn.__name__ = f"StandIn_{name}"
    return StandIn


def algorithm_classes():
    """All algorithm classes of the package, sorted by module name."""
    here = os.path.dirname(__file__)
    classes = []
    for info in sorted(pkgutil.iter_modules([here]), key=lambda i: i.name):
        if not info.name.startswith("alg_"):
            continue
        try:
            module = importlib.import_module(f"{__package__}.{info.name}")
        except ImportError as exc:
            missing = _optional_module(exc)
            if missing is None:
                raise
            QgsMessageLog.logMessage(install_message({missing: str(exc)}), "Subsidence Lab")
            classes.append(_stand_in(info.name, missing, f"{type(exc).__name__}: {exc}"))
            continue
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
        return PROVIDER_ID

    def name(self):
        return "Subsidence Lab"

    def longName(self):
        return f"Subsidence Lab {plugin_version()}"

    def versionInfo(self):
        return plugin_version()

    def icon(self):
        return QIcon(icon_path())

    def svgIconPath(self):
        return icon_path()

    def loadAlgorithms(self):
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        for model in shipped_models():
            self.addAlgorithm(model)


def shipped_models():
    """The graphical models shipped in ``resources/models`` (``scripts/build_model.py`` writes them).

    Read in place, read-only: nothing is copied into the user's profile (a user who edits one in
    the modeler saves it as a model of their own). Their help link is set here, to the README
    shipped beside them.
    """
    models = []
    if not os.path.isdir(MODELS_DIR):
        return models
    for name in sorted(os.listdir(MODELS_DIR)):
        if not name.endswith(".model3"):
            continue
        model = QgsProcessingModelAlgorithm()
        if not model.fromFile(os.path.join(MODELS_DIR, name)):
            QgsMessageLog.logMessage(f"Could not read the shipped model {name}", "Subsidence Lab")
            continue
        content = dict(model.helpContent())
        content["HELP_URL"] = help_url(MODEL_HELP_ANCHOR)
        model.setHelpContent(content)
        models.append(model)
    return models
