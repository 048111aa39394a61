"""The adapter kit: the base class of every algorithm (``base.py``), its inputs (``ps_io.py`` for
the PS source, ``inputs.py`` for DEM, stable area, decomposition file and component lists) and its
outputs (``outputs.py``: layers, tables, atomic files; ``destinations.py``: destination checks).

An algorithm on the kit (``alg_<something>.py``; the provider finds it by that name)::

    from qgis.core import QgsProcessingParameterNumber

    from .. import compat
    from ..core import buffers                     # the science, Qt-free, one call
    from . import outputs
    from .base import SubsidenceAlgorithm
    from .ps_io import add_ps_input_parameters, read_ps


    class WellBufferSamplingAlgorithm(SubsidenceAlgorithm):
        _name = "wellbuffersampling"             # subsidencelab:wellbuffersampling
        _display = "Buffer sampling around wells"
        _group_id, _group = "groundwater", "Groundwater"
        _help = "What it does, inputs, outputs; cites Cao et al. (AM-LSTM ... Beijing plain)."
        _help_anchor = "wellbuffersampling"       # a README heading (tests check it exists)
        _requires = ()                            # e.g. ("torch",): import it inside compute() only
        CORE_ERRORS = {"radius_m": "RADIUS_M"}    # core ValueError("radius_m: ...") -> RADIUS_M

        def initAlgorithm(self, config=None):
            add_ps_input_parameters(self, "INPUT")            # INPUT, DATE_FIELDS, ID_FIELD, ...
            self.add(QgsProcessingParameterNumber("RADIUS_M", self.tr("Buffer radius (m)"),
                                                  type=compat.NUMBER_DOUBLE, defaultValue=500.0),
                     "Radius of the buffer around each well.", advanced=False)
            outputs.add_layer_output(self, "OUTPUT", "Sampled points", "id, well_id, series.")
            outputs.add_table_output(self, "TABLE", "Per-well series", "well_id, date, mean_mm.")

        def compute(self, parameters, context, feedback):         # not processAlgorithm
            ps = read_ps(self, parameters, context, feedback)
            result = buffers.sample(ps, ..., progress=self.progress(feedback, 10, 80))
            layer = outputs.write_ps(self, parameters, context, "OUTPUT", ps, fields=...)
            table = outputs.write_table(self, parameters, context, "TABLE",
                                        [("well_id", "str", ids), ("date", "date", dates), ...])
            return {"OUTPUT": layer, "TABLE": table}

What the base class does around ``compute()`` (``processAlgorithm`` is the kit's):

- before any work, every file destination is checked (``destinations.DestinationGuard``): an output
  equal to an input is refused, a missing folder is created, an unwritable one is an error;
- a ``ValueError`` from core becomes a ``QgsProcessingException`` naming the parameter:
  its ``"name: ..."`` prefix is looked up in ``CORE_ERRORS``, else the input (``INPUT``);
- a run that fails or is cancelled (even after the last step) removes every file it created;
- ``self.progress(feedback, start, end)`` is the one core-progress bridge (cancel raises);
- ``canExecute()`` says how to install a missing optional dependency listed in ``_requires``; the
  algorithm stays listed (and the provider loads) without it.
"""

import functools
import gc
import importlib
import os
from contextlib import contextmanager

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QIcon

from .. import compat

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The README shipped inside the plugin (scripts/package.py packs it): help links work offline and
# always describe the installed version.
README_PATH = os.path.join(PLUGIN_DIR, "README.md")


def help_url(anchor):
    """A file:// link to the section ``anchor`` of the README shipped with the plugin."""
    url = QUrl.fromLocalFile(README_PATH)
    url.setFragment(anchor)
    return url.toString()

CANCELLED = "Cancelled by the user."

# How to install each optional dependency (Debian packages for everything but the torch wheel on
# Debian 12, as scripts/setup.sh does).
INSTALL_HINTS = {
    "torch": (
        "PyTorch: on Debian 13 / QGIS 3.40 `sudo apt install python3-torch`; on Debian 12 / QGIS 3.22 "
        "`pip install torch==2.13.0` (the CPU wheel) into the Python environment QGIS runs"
    ),
    "dask": "Dask: `sudo apt install python3-dask` (Debian 12 and 13)",
    "zarr": "Zarr: `sudo apt install python3-zarr` (Debian 12 and 13)",
}


# The papers, as user text cites them (author, year, title).
CHEN_2023 = (
    'Chen et al. 2023, "High precision extraction of surface deformation information based on principal '
    'component spatiotemporal analysis and time-series InSAR: taking Xuzhou as an example"'
)
CAO = (
    'Cao et al., "Study on land subsidence simulation in the east of Beijing plain based on AM-LSTM network"'
)


def icon_path(name="icon.svg"):
    return os.path.join(PLUGIN_DIR, "resources", name)


def plugin_version():
    """The plugin's version, read from metadata.txt (its only home)."""
    with open(os.path.join(PLUGIN_DIR, "metadata.txt"), encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition("=")
            if key.strip() == "version":
                return value.strip()
    return "unknown"


@functools.cache
def import_failure(module):
    """None when ``module`` imports, else why not (imports it once per session, on demand)."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return f"{type(exc).__name__}: {exc}"
    return None


def install_message(missing):
    """The user text for missing optional dependencies ``{module: reason}``."""
    lines = [f"This algorithm needs {', '.join(missing)}, which cannot be imported here:"]
    for module, reason in missing.items():
        lines.append(f"- {module} ({reason}). Install {INSTALL_HINTS.get(module, module)}.")
    lines.append("Then restart QGIS.")
    return "\n".join(lines)


def progress_callback(feedback, start=0.0, end=100.0):
    """A core-style callback ``cb(fraction, message=None)`` that reports into ``feedback``.

    ``fraction`` in [0, 1] is mapped to [start, end] percent. Returns ``True`` to go on and
    raises :class:`QgsProcessingException` when the user cancelled, so core loops stop at once.
    """

    def callback(fraction, message=None):
        if feedback is None:
            return True
        if feedback.isCanceled():
            raise QgsProcessingException(CANCELLED)
        feedback.setProgress(start + (end - start) * float(fraction))
        if message:
            feedback.pushInfo(message)
        return True

    return callback


class SubsidenceAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``_name``, ``_display``, ``_group_id``, ``_group``, ``_help``,
    optionally ``_help_anchor``, ``_requires`` and ``CORE_ERRORS``, and implement ``compute()``."""

    _name = ""
    _display = ""
    _group_id = "insar"
    _group = "InSAR time series"
    _help = ""
    _help_anchor = "the-algorithms"
    _requires = ()
    CORE_ERRORS = {}
    INPUT = "INPUT"

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
        missing = self.missing_dependencies()
        text = self.tr(self._help)
        return f"{install_message(missing)}\n\n{text}" if missing else text

    def helpUrl(self):
        return help_url(self._help_anchor)

    def icon(self):
        return QIcon(icon_path())

    # --- declaring parameters -------------------------------------------------------------------

    def add(self, parameter, help_text="", advanced=False):
        """Add ``parameter`` with its help text and, when ``advanced``, the advanced flag."""
        if help_text:
            parameter.setHelp(self.tr(help_text))
        if advanced:
            parameter.setFlags(parameter.flags() | compat.PARAMETER_FLAG_ADVANCED)
        self.addParameter(parameter)
        return parameter

    def add_number(
        self,
        name,
        label,
        help_text,
        default=None,
        minimum=None,
        maximum=None,
        integer=False,
        optional=False,
        advanced=False,
    ):
        """A number parameter (double, or ``integer``) with its bounds, help and advanced flag."""
        kind = compat.NUMBER_INTEGER if integer else compat.NUMBER_DOUBLE
        param = QgsProcessingParameterNumber(name, self.tr(label), kind, default, optional)
        if minimum is not None:
            param.setMinimum(minimum)
        if maximum is not None:
            param.setMaximum(maximum)
        return self.add(param, help_text, advanced)

    def add_text(self, name, label, help_text, default="", optional=True, advanced=False):
        return self.add(
            QgsProcessingParameterString(name, self.tr(label), default, False, optional), help_text, advanced
        )

    def add_flag(self, name, label, help_text, default=False, advanced=False):
        return self.add(QgsProcessingParameterBoolean(name, self.tr(label), default), help_text, advanced)

    def add_choice(self, name, label, options, help_text, default=0, advanced=False):
        param = QgsProcessingParameterEnum(
            name, self.tr(label), [self.tr(o) for o in options], False, default
        )
        return self.add(param, help_text, advanced)

    def add_field(self, name, label, parent, help_text, numeric=False, optional=True, advanced=False):
        kind = compat.FIELD_NUMERIC if numeric else compat.FIELD_ANY
        param = QgsProcessingParameterField(name, self.tr(label), None, parent, kind, False, optional)
        return self.add(param, help_text, advanced)

    # --- optional dependencies ------------------------------------------------------------------

    def missing_dependencies(self):
        """``{module: reason}`` for each module of ``_requires`` that does not import."""
        return {m: why for m in self._requires if (why := import_failure(m)) is not None}

    def canExecute(self):
        missing = self.missing_dependencies()
        if missing:
            return False, install_message(missing)
        return True, ""

    # --- running --------------------------------------------------------------------------------

    def progress(self, feedback, start=0.0, end=100.0):
        """The core progress callback for this run (see :func:`progress_callback`)."""
        return progress_callback(feedback, start, end)

    def parameter_of(self, message, default=None):
        """The parameter a core message ``"argument: ..."`` is about (``CORE_ERRORS``)."""
        key = str(message).split(":", 1)[0].strip()
        return self.CORE_ERRORS.get(key, default or self.INPUT)

    @contextmanager
    def core_errors(self, default=None):
        """Turn a core ``ValueError`` inside the block into an error naming the parameter."""
        try:
            yield
        except ValueError as exc:
            raise QgsProcessingException(f"{self.parameter_of(exc, default)}: {exc}") from exc

    def compute(self, parameters, context, feedback):
        raise NotImplementedError

    def _check_whole_numbers(self, parameters):
        """An integer parameter given 2.7 is an error, not silently rounded."""
        for definition in self.parameterDefinitions():
            if not isinstance(definition, QgsProcessingParameterNumber):
                continue
            if definition.dataType() != compat.NUMBER_INTEGER:
                continue
            value = parameters.get(definition.name())
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # unset, an expression or a property: QGIS evaluates it
            if not number.is_integer():
                raise QgsProcessingException(
                    f"{definition.name()}: {value!r} is not a whole number"
                    f"; give an integer such as {int(number)}"
                )

    def processAlgorithm(self, parameters, context, feedback):
        from .destinations import DestinationGuard

        self._check_whole_numbers(parameters)
        guard = DestinationGuard(self, parameters, context)
        guard.prepare()
        try:
            with self.core_errors():
                results = self.compute(parameters, context, feedback)
            if feedback is not None and feedback.isCanceled():
                raise QgsProcessingException(f"{CANCELLED} No output was kept.")
            return results
        except QgsProcessingException as exc:
            message = getattr(exc, "msg", None) or str(exc)
        except BaseException:
            gc.collect()
            guard.discard()
            raise
        # The failed run's frames (and the sinks they held open) are gone here.
        gc.collect()
        guard.discard()
        raise QgsProcessingException(message)
