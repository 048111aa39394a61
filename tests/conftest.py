"""Test set-up.

The checkout is mounted as the package ``subsidence_lab`` (a symlink in a temp folder), so
nothing depends on the checkout's own folder name; tests import ``subsidence_lab.core...``.
pytest-qgis provides ``qgis_app``, ``qgis_iface``, ``qgis_processing``, ``qgis_canvas``.
"""

import shutil
import sys
import tempfile
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
