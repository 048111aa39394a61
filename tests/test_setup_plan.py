"""scripts/setup.sh picks what to install from the Debian release (issue 9, QGIS 3.22 and 3.40).

Debian 12 takes the local torch==2.13.0 CPU wheel through pip; Debian 13 takes Debian's
python3-torch and pip must see no torch requirement at all (on Python 3.13 the index would pull
several GB of CUDA). Read through ``setup.sh --plan`` with a given os-release: nothing installed.
"""

import subprocess

import pytest
from conftest import REPO

BOOKWORM = 'PRETTY_NAME="Debian 12"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
TRIXIE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'
TRIXIE_PRERELEASE = 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\nVERSION_CODENAME=trixie\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="12.04"\nVERSION_CODENAME=precise\n'
BULLSEYE = 'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'


def _plan(tmp_path, os_release):
    path = tmp_path / "os-release"
    path.write_text(os_release)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--plan"], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "SUBSIDENCE_LAB_OS_RELEASE": str(path)})
    plan = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        plan[key] = rest.split()
    return proc, plan


def _pins(files):
    """name -> pin of every requirement line in ``files`` (comments dropped)."""
    pins = {}
    for name in files:
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                package, _, pin = line.partition("==")
                pins[package.strip().lower()] = pin.strip()
    return pins


def test_debian_12_installs_the_torch_wheel_by_pip(tmp_path):
    proc, plan = _plan(tmp_path, BOOKWORM)
    assert proc.returncode == 0, proc.stderr
    assert plan["debian"] == ["12"]
    assert "python3-torch" not in plan["debs"]
    assert _pins(plan["pip"])["torch"] == "2.13.0"


@pytest.mark.parametrize("os_release", [TRIXIE, TRIXIE_PRERELEASE], ids=["trixie", "trixie-prerelease"])
def test_debian_13_takes_debian_torch_and_pip_sees_no_torch(tmp_path, os_release):
    proc, plan = _plan(tmp_path, os_release)
    assert proc.returncode == 0, proc.stderr
    assert plan["debian"] == ["13"]
    assert "python3-torch" in plan["debs"]
    pins = _pins(plan["pip"])
    assert "torch" not in pins and pins["pytest"]  # the dev pins stay, torch's does not


@pytest.mark.parametrize("os_release", [BOOKWORM, TRIXIE], ids=["bookworm", "trixie"])
def test_science_stack_comes_from_debian_never_from_pip(tmp_path, os_release):
    _, plan = _plan(tmp_path, os_release)
    for deb in ("python3-qgis", "python3-gdal", "python3-numpy", "python3-scipy", "python3-matplotlib",
                "python3-dask", "python3-distributed", "python3-zarr", "git"):
        assert deb in plan["debs"], deb
    pins = _pins(plan["pip"])
    assert not {"numpy", "scipy", "gdal", "matplotlib", "dask", "distributed", "zarr"} & set(pins)


@pytest.mark.parametrize("os_release", [UBUNTU, BULLSEYE], ids=["ubuntu-12.04", "debian-11"])
def test_other_systems_are_refused_with_a_clear_message(tmp_path, os_release):
    proc, plan = _plan(tmp_path, os_release)
    assert proc.returncode == 1 and not plan
    assert "Debian 12 or 13 needed" in proc.stderr
