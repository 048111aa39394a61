"""The adapter kit (processing_provider/base.py, inputs.py, outputs.py, ps_io.py): discovery that
survives a missing optional dependency, one declaration call per parameter, help that lands on a
real README section, one version, and algorithms that never import each other."""

import ast
import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO
from qgis.core import QgsProcessingParameterNumber

from subsidence_lab import compat
from subsidence_lab.processing_provider import base
from subsidence_lab.processing_provider.provider import SubsidenceLabProvider, algorithm_classes

ALG_MODULES = sorted(p.stem for p in (REPO / "processing_provider").glob("alg_*.py"))

# A module written the kit's way (torch imported inside compute) and one written carelessly
# (torch imported at the top): both must stay listed when torch cannot be imported.
LAZY_TORCH = '''"""subsidencelab:lazytorch -- Needs torch, imported lazily."""
from .base import SubsidenceAlgorithm


class LazyTorch(SubsidenceAlgorithm):
    _name = "lazytorch"
    _display = "Needs torch (lazy)"
    _requires = ("torch",)

    def initAlgorithm(self, config=None):
        pass

    def compute(self, parameters, context, feedback):
        import torch  # noqa: F401

        return {}
'''
EAGER_TORCH = '''"""subsidencelab:eagertorch -- Needs torch, imported at the top."""
import torch  # noqa: F401

from .base import SubsidenceAlgorithm


class EagerTorch(SubsidenceAlgorithm):
    _name = "eagertorch"
    _display = "Needs torch (eager)"
'''

LIST_ALGORITHMS = textwrap.dedent(
    """
    import json, sys
    for blocked in sys.argv[2:]:
        sys.modules[blocked] = None  # "import torch" raises ImportError from here on
    sys.path.insert(0, sys.argv[1])
    from qgis.core import QgsApplication
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    from subsidence_lab.processing_provider.provider import SubsidenceLabProvider
    provider = SubsidenceLabProvider()
    assert QgsApplication.processingRegistry().addProvider(provider)
    found = QgsApplication.processingRegistry().providerById("subsidencelab")
    out = {}
    for alg in found.algorithms():
        ok, message = alg.canExecute()
        out[alg.name()] = [bool(ok), message, alg.shortHelpString()[:400]]
    print("RESULT" + json.dumps(out))
    """
)


def _list_algorithms(root, *blocked):
    proc = subprocess.run(
        [sys.executable, "-c", LIST_ALGORITHMS, str(root), *blocked],
        capture_output=True,
        text=True,
        timeout=300,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


@pytest.fixture(scope="module")
def plugin_copy(tmp_path_factory):
    """The plugin copied with two torch-needing algorithms added (the repository is not touched)."""
    root = tmp_path_factory.mktemp("kit")
    shutil.copytree(
        REPO,
        root / "subsidence_lab",
        ignore=shutil.ignore_patterns(".git", "tests", "bench", "__pycache__", "*.npz"),
    )
    (root / "subsidence_lab" / "processing_provider" / "alg_zz_lazy_torch.py").write_text(LAZY_TORCH)
    (root / "subsidence_lab" / "processing_provider" / "alg_zz_eager_torch.py").write_text(EAGER_TORCH)
    return root


def test_without_torch_or_dask_every_algorithm_is_listed_and_says_how_to_install(plugin_copy):
    listed = _list_algorithms(plugin_copy, "torch", "dask")
    # every module of the repository gives its algorithm, plus the two added ones and the shipped model
    assert len(listed) == len(ALG_MODULES) + 2 + 1, sorted(listed)
    assert "subsidencepipeline" in listed
    assert {"pcadecomposition", "pcaerrorremoval", "lazytorch", "eagertorch"} <= set(listed)
    needs_torch = {
        "lazytorch",
        "eagertorch",
        "amlstmsimulation",
        "amlstmprediction",
    }  # the AM-LSTM (Cao et al.)
    for name in needs_torch:
        ok, message, help_text = listed[name]
        assert not ok
        assert "torch" in message and "apt install python3-torch" in message
        assert "pip install torch==2.13.0" in message
        assert "apt install python3-torch" in help_text  # the help panel says it too
    # The stack algorithm computes on dask only: it stays listed and says how to install it.
    ok, message, _ = listed["stackpcaerrorremoval"]
    assert not ok and "apt install python3-dask" in message
    for name in set(listed) - needs_torch - {"stackpcaerrorremoval"}:
        assert listed[name][0] is True, (name, listed[name][1])


def test_with_torch_blocked_only_for_the_eager_module_the_lazy_one_runs(plugin_copy):
    """Without blocking anything the kit does not claim torch is missing (whatever is installed)."""
    listed = _list_algorithms(plugin_copy)
    assert set(listed) >= {"lazytorch", "pcadecomposition"}
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.fail("torch is part of the development set-up (scripts/setup.sh)")
    assert listed["lazytorch"][0] is True
    assert listed["eagertorch"][0] is True


def test_other_import_errors_are_not_swallowed(tmp_path):
    root = tmp_path
    shutil.copytree(
        REPO,
        root / "subsidence_lab",
        ignore=shutil.ignore_patterns(".git", "tests", "bench", "__pycache__", "*.npz"),
    )
    (root / "subsidence_lab" / "processing_provider" / "alg_zz_broken.py").write_text(
        "import no_such_module_xyz\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIST_ALGORITHMS, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode != 0 and "no_such_module_xyz" in proc.stderr


def test_install_message_names_both_debian_routes():
    message = base.install_message({"torch": "ModuleNotFoundError: No module named 'torch'"})
    assert "sudo apt install python3-torch" in message and "pip install torch==2.13.0" in message
    assert "No module named 'torch'" in message
    assert "python3-dask" in base.install_message({"dask": "x"})


def test_add_sets_help_and_the_advanced_flag(provider):
    class Probe(base.SubsidenceAlgorithm):
        _name = "probe"

        def initAlgorithm(self, config=None):
            self.add(QgsProcessingParameterNumber("A", "a"), "help of a")
            self.add(QgsProcessingParameterNumber("B", "b"), "help of b", advanced=True)

    alg = Probe()
    alg.initAlgorithm()
    a, b = alg.parameterDefinition("A"), alg.parameterDefinition("B")
    assert a.help() == "help of a" and b.help() == "help of b"
    assert not (a.flags() & compat.PARAMETER_FLAG_ADVANCED)
    assert b.flags() & compat.PARAMETER_FLAG_ADVANCED


def test_every_algorithm_has_advanced_parameters_where_it_has_tuning_knobs(provider):
    """The long algorithms hide their tuning parameters as advanced."""
    for name in ("pcaerrorremoval", "spatiotemporalfilter", "preparepsdataset"):
        alg = provider.algorithm(name)
        advanced = [
            p.name() for p in alg.parameterDefinitions() if p.flags() & compat.PARAMETER_FLAG_ADVANCED
        ]
        assert advanced, name
        assert all(p.help() for p in alg.parameterDefinitions()), name


def _readme_anchors():
    anchors = set()
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:  # GitHub's slug: lower case, punctuation dropped, spaces -> '-'
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_every_help_url_lands_on_a_readme_section(provider):
    """Algorithms and the shipped model link to a section of the README shipped in the plugin."""
    from qgis.PyQt.QtCore import QUrl

    spec = importlib.util.spec_from_file_location("package_script", REPO / "scripts" / "package.py")
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    assert "README.md" in package.INCLUDE_TOP  # the ZIP ships the file the links point at
    anchors = _readme_anchors()
    assert "the-algorithms" in anchors
    names = []
    for alg in provider.algorithms():
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile(), (alg.name(), alg.helpUrl())
        assert os.path.samefile(url.toLocalFile(), REPO / "README.md"), alg.helpUrl()
        assert url.fragment() in anchors, (alg.name(), url.fragment(), sorted(anchors))
        names.append(alg.name())
    assert "subsidencepipeline" in names


def test_user_text_cites_papers_not_internal_names(provider):
    for alg in provider.algorithms():
        texts = [alg.shortHelpString(), alg.displayName()]
        texts += [p.description() + " " + p.help() for p in alg.parameterDefinitions()]
        for text in texts:
            assert not re.search(r"\bseed\s*0\d\d|\bseed's\b|\bthe seed\b", text, re.IGNORECASE), (
                alg.name(),
                text,
            )


def test_the_version_lives_in_metadata_only():
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt")
    assert SubsidenceLabProvider().versionInfo() == meta["general"]["version"]
    source = (REPO / "processing_provider" / "provider.py").read_text()
    assert meta["general"]["version"] not in source


def test_no_algorithm_module_imports_another():
    for stem in ALG_MODULES:
        tree = ast.parse((REPO / "processing_provider" / f"{stem}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not any(n.split(".")[-1].startswith("alg_") for n in names), (stem, ast.dump(node))
            elif isinstance(node, ast.Import):
                assert not any(".alg_" in a.name for a in node.names), stem


def test_every_module_gives_exactly_one_algorithm():
    classes = algorithm_classes()
    assert sorted(c.__module__.rsplit(".", 1)[-1] for c in classes) == ALG_MODULES


def test_gdal_error_mode_is_left_as_the_caller_had_it(tmp_path):
    """core/raster_sampling.py switches GDAL to exceptions only while it samples (issue 9)."""
    from osgeo import gdal, osr

    from subsidence_lab.core import raster_sampling

    dem = tmp_path / "dem.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(dem), 4, 4, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((0.0, 10.0, 0.0, 40.0, 0.0, -10.0))
    ds.GetRasterBand(1).WriteArray(__import__("numpy").arange(16, dtype="float32").reshape(4, 4))
    ds = None
    def set_mode(use_gdal, use_osr):  # GDAL keeps a stack of error handlers: osr off before gdal
        if osr.GetUseExceptions() and not use_osr:
            osr.DontUseExceptions()
        if gdal.GetUseExceptions() != use_gdal:
            (gdal.UseExceptions if use_gdal else gdal.DontUseExceptions)()
        if use_osr and not osr.GetUseExceptions():
            osr.UseExceptions()

    initial = gdal.GetUseExceptions(), osr.GetUseExceptions()
    try:
        for mode in (False, True):
            set_mode(mode, mode)
            importlib.reload(raster_sampling)  # importing changes nothing
            assert gdal.GetUseExceptions() == mode and osr.GetUseExceptions() == mode
            assert raster_sampling.sample_raster(str(dem), [15.0], [35.0], "")[0] == 1.0
            with pytest.raises(ValueError, match="cannot open"):
                raster_sampling.sample_raster(str(tmp_path / "missing.tif"), [1.0], [1.0], "")
            assert gdal.GetUseExceptions() == mode and osr.GetUseExceptions() == mode
    finally:
        set_mode(*initial)
