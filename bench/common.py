"""What the benchmarks share: the checkout mounted as ``subsidence_lab``, QGIS started headless
(both from scripts/headless.py) and a timer.

The benches run as ``python bench/<name>.py``, so this folder is sys.path[0] and
``from common import ...`` finds this module. Importing it only puts scripts/ on sys.path:

    from common import mount_package, start_qgis, timed

    mount_package()  # before any ``import subsidence_lab...``
    processing, app = start_qgis()
    result, seconds = timed(processing.run, "subsidencelab:pcadecomposition", params)
"""

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_SCRIPTS = str(REPO / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from headless import mount_package, start_app, start_qgis  # noqa: E402

__all__ = ["REPO", "mount_package", "start_app", "start_qgis", "timed"]


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the wall-clock seconds it took: ``(result, seconds)``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start
