"""Test set-up.

The checkout is mounted as the package ``subsidence_lab`` (a symlink in a temp folder), so
nothing depends on the checkout's own folder name; tests import ``subsidence_lab.core...``.
pytest-qgis provides ``qgis_app``, ``qgis_iface``, ``qgis_processing``, ``qgis_canvas``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

_mount = Path(tempfile.mkdtemp(prefix="subsidence_lab_mount_"))
(_mount / "subsidence_lab").symlink_to(REPO, target_is_directory=True)
sys.path.insert(0, str(_mount))


def pytest_report_header(config):
    lines = []
    try:
        from osgeo import gdal
        from qgis.core import Qgis
        from qgis.PyQt.QtCore import QT_VERSION_STR

        lines.append(f"QGIS {Qgis.QGIS_VERSION}, Qt {QT_VERSION_STR}, GDAL {gdal.__version__}")
    except ImportError as exc:  # core tests still run without QGIS
        lines.append(f"QGIS not importable: {exc}")
    import numpy
    import scipy

    lines.append(f"numpy {numpy.__version__}, scipy {scipy.__version__}")
    return lines


def pytest_unconfigure(config):
    shutil.rmtree(_mount, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def realdata_dir():
    if not REALDATA.is_dir():
        pytest.fail(f"shared real data not found at {REALDATA}: the checkout must sit beside shared/")
    return REALDATA


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of a LocalCluster of 2 worker processes on the loopback interface only, shared
    by the session's tests; no client is made the default here. ``dashboard_address=None`` still
    opens the HTTP (health) servers on 0.0.0.0: they are put on 127.0.0.1 too."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
    )
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="session")
def provider(qgis_processing):
    """Our Processing provider, registered once for the session (as the plugin does headless)."""
    from qgis.core import QgsApplication

    from subsidence_lab.processing_provider.provider import SubsidenceLabProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("subsidencelab")
    if existing is not None:
        return existing
    prov = SubsidenceLabProvider()
    assert registry.addProvider(prov)
    return prov


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory):
    """Run ``qgis_process.bin`` against the plugin *as built into its ZIP and installed*.

    The ZIP is built with scripts/package.py, unpacked into a fresh plugin folder on
    ``QGIS_PLUGINPATH``, enabled in an isolated profile (``QGIS_CUSTOM_CONFIG_PATH``), so the
    user's own QGIS profile is never touched. Returns ``run(*args, json_output=False)``.
    """
    exe = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
    if not os.path.exists(exe):
        pytest.fail("qgis_process.bin not found: run scripts/setup.sh")
    base = tmp_path_factory.mktemp("qgis_process")
    built = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "package.py"), "--out", str(base / "dist")],
        capture_output=True, text=True, check=True,
    )
    zip_path = Path(built.stdout.strip().splitlines()[-1])
    plugins = base / "plugins"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(plugins)
    base_env = dict(os.environ)
    base_env.update(
        QGIS_PLUGINPATH=str(plugins),
        QGIS_CUSTOM_CONFIG_PATH=str(base / "profile"),
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(base / "runtime"),
    )
    (base / "runtime").mkdir(mode=0o700)

    def run(*args, json_output=False, check=True, timeout=600, env=None):
        cmd = [exe] + (["--json"] if json_output else []) + [str(a) for a in args]
        proc = subprocess.run(cmd, env=dict(base_env, **(env or {})), capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        if json_output:
            start = proc.stdout.find("{")
            return json.loads(proc.stdout[start:])
        return proc

    run("plugins", "enable", "subsidence_lab")
    run.zip_path = zip_path
    run.plugin_dir = plugins / "subsidence_lab"
    return run
