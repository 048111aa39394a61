"""scripts/build_core_wheel.py: the wheel Dask workers install holds the Qt-free core, importable
under the plugin's package name, and nothing of the QGIS plugin."""

import subprocess
import sys
import zipfile

import pytest

pytest.importorskip("dask")


def test_the_core_wheel_imports_on_a_worker_without_qgis(repo_dir, tmp_path):
    built = subprocess.run(
        [sys.executable, str(repo_dir / "scripts" / "build_core_wheel.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    wheel = built.stdout.strip().splitlines()[-1]
    assert wheel.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "subsidence_lab/core/distributed.py" in names and "subsidence_lab/core/pca.py" in names
    assert not [n for n in names if n.startswith(("subsidence_lab/processing_provider", "subsidence_lab/ui"))]
    assert any(n.endswith(".dist-info/RECORD") for n in names)
    # A worker's view: only the wheel on the path (zipimport), qgis blocked; a dask PCA runs.
    code = (
        "import sys; sys.modules['qgis'] = None; sys.path.insert(0, sys.argv[1])\n"
        "import numpy as np, dask, dask.array as da\n"
        "from subsidence_lab.core.pca import decompose\n"
        "import subsidence_lab.core.distributed as d\n"
        "assert d.__file__.startswith(sys.argv[1]), d.__file__\n"
        "x = np.random.default_rng(0).standard_normal((300, 12))\n"
        "a = decompose(x, k=3, classify=False)\n"
        "with dask.config.set(scheduler='synchronous'):\n"
        "    b = decompose(da.from_array(x, chunks=(70, -1)), k=3, classify=False)\n"
        "    print(float(np.max(np.abs(np.asarray(b.spatial) - a.spatial))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, wheel], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.strip().splitlines()[-1]) < 1e-10
