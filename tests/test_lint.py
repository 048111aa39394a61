"""ruff runs over the whole tree as part of the suite and must pass."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_ruff_passes_on_the_whole_tree():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run([ruff, "check", "--no-cache", str(REPO)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
