"""The kit's destination checks: every file output of a run is checked before the work starts
(not an input, folder created, writable) and removed when the run fails or is cancelled
(:class:`DestinationGuard`, used by ``SubsidenceAlgorithm.processAlgorithm``); ``atomic_file``
writes a file destination under a temporary name renamed into place only on success.
"""

import os
import re
import tempfile
import uuid
from contextlib import contextmanager, suppress

from qgis.core import (
    Qgis,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProperty,
    QgsProviderRegistry,
)


def _static_value(value):
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        static = getattr(QgsProperty, "StaticProperty", None)
        if static is None:  # QGIS 4: the scoped enum only
            static = Qgis.PropertyType.Static
        if value.sink.propertyType() != static:
            return None
        return value.sink.staticValue()
    return value


def file_of(value):
    """The local file a parameter value names (layer source, path, ``path|layername=``), or None."""
    value = _static_value(value)
    if hasattr(value, "source") and callable(getattr(value, "source", None)):  # a map layer
        value = value.source()
    elif hasattr(value, "source") and hasattr(value.source, "staticValue"):  # a source definition
        value = value.source.staticValue()
    if not isinstance(value, str) or not value or value == QgsProcessing.TEMPORARY_OUTPUT:
        return None
    if value.startswith("ogr:"):
        value = value[4:]
    elif re.match(r"^[A-Za-z][\w-]+:(?![\\/])", value):  # memory:, postgres:, ... (not C:\)
        return None
    path = QgsProviderRegistry.instance().decodeUri("ogr", value).get("path") or value.split("|")[0]
    return os.path.abspath(path) if path else None


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


class DestinationGuard:
    """Every file destination of one run: checked before, cleaned after a failure."""

    def __init__(self, alg, parameters, context):
        self.alg, self.parameters, self.context = alg, parameters, context
        self.targets = []  # (parameter name, path)
        self.created_folders = []
        self.existing = {}

    def _inputs(self):
        destinations = {d.name() for d in self.alg.destinationParameterDefinitions()}
        for definition in self.alg.parameterDefinitions():
            name = definition.name()
            if name in destinations or name not in self.parameters:
                continue
            value = self.parameters[name]
            if isinstance(value, str) and self.context.project() is not None:
                layer = self.context.project().mapLayer(value)
                value = layer if layer is not None else value
            path = file_of(value)
            if path and os.path.exists(path):
                yield name, path

    def prepare(self):
        """Refuse an output equal to an input, create missing folders, refuse unwritable ones."""
        inputs = list(self._inputs())
        for definition in self.alg.destinationParameterDefinitions():
            name = definition.name()
            path = file_of(self.parameters.get(name))
            if path is None:
                continue
            for input_name, input_path in inputs:
                if os.path.exists(path) and _same_file(path, input_path):
                    raise QgsProcessingException(
                        f"{name}: {path} is the file of {input_name}; writing there would overwrite the "
                        "input. Choose another file."
                    )
            folder = os.path.dirname(path)
            if not os.path.isdir(folder):
                self._make_folder(name, folder)
            self._probe(name, path, folder)
            if os.path.exists(path) and not os.access(path, os.W_OK):
                raise QgsProcessingException(f"{name}: cannot write {path}: the file is read-only")
            self.targets.append((name, path))
            self.existing[path] = set(self._siblings(path))

    @staticmethod
    def _probe(name, path, folder):
        """Create and remove a file in ``folder``: permissions, read-only disks and ACLs all show."""
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise QgsProcessingException(
                f"{name}: cannot write {path}: the folder {folder} is not writable ({exc.strerror})"
            ) from exc

    def _make_folder(self, name, folder):
        missing = []
        probe = folder
        while probe and not os.path.exists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise QgsProcessingException(
                f"{name}: cannot create the folder {folder}: {exc.strerror}"
            ) from exc
        self.created_folders.extend(missing)  # deepest first

    @staticmethod
    def _siblings(path):
        """Files that belong to ``path``: itself and its side files (.shx, .dbf, -wal, .part...)."""
        folder, base = os.path.split(path)
        stem = os.path.splitext(base)[0]
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return [os.path.join(folder, n) for n in names if n == base or n.startswith((stem + ".", base))]

    def discard(self):
        """Remove every file the run created under a destination's name, then folders it created."""
        for _, path in self.targets:
            for file in set(self._siblings(path)) - self.existing.get(path, set()):
                with suppress(OSError):
                    os.remove(file)
        for folder in self.created_folders:
            with suppress(OSError):
                os.rmdir(folder)


@contextmanager
def atomic_file(alg, parameters, context, name, extension):
    """``(temporary path, final path)`` for file destination ``name``: write to the first; it is
    renamed to the second when the block ends without error, and removed otherwise."""
    path = alg.parameterAsFileOutput(parameters, name, context)
    if not path:
        raise QgsProcessingException(f"{name}: no file name given")
    if extension and not path.lower().endswith(extension):
        path += extension
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.part{extension}")
    try:
        os.makedirs(folder, exist_ok=True)
        yield tmp, path
        os.replace(tmp, path)
    except OSError as exc:
        raise QgsProcessingException(f"{name}: cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


