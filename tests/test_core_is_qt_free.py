"""core/ must import with qgis and every Qt binding unimportable (DEVELOPERS.md layout rule)."""

import subprocess
import sys
import textwrap

from conftest import REPO


def test_every_core_module_imports_without_qgis_or_qt(tmp_path):
    (tmp_path / "subsidence_lab").symlink_to(REPO, target_is_directory=True)
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        BLOCKED = ("qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip", "shiboken2", "shiboken6")

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked for this test: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(tmp_path)!r})
        import subsidence_lab.core as core
        names = [m.name for m in pkgutil.iter_modules(core.__path__)]
        for name in names:
            importlib.import_module("subsidence_lab.core." + name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not leaked, leaked
        print("imported", len(names), "core modules:", ",".join(sorted(names)))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "imported" in out.stdout and "psdata" in out.stdout


def test_blocker_really_blocks(tmp_path):
    """The guard above would be empty if the blocker let qgis through: prove it does not."""
    script = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, n, p=None, t=None):\n"
        "        if n.split('.')[0] == 'qgis': raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, B())\n"
        "import qgis.core\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode != 0 and "blocked" in out.stderr
