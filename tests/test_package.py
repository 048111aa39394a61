"""scripts/package.py ships only what git tracks, and no dotfile (bad input 8 of issue 9).

Built on a throw-away git repository shaped like the plugin, so the checkout is never touched.
"""

import importlib.util
import shutil
import subprocess
import zipfile

import pytest
from conftest import REPO


def _package_module():
    spec = importlib.util.spec_from_file_location("package_script", REPO / "scripts" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(root, rel, text="x = 1\n"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   cwd=root, check=True, capture_output=True)


@pytest.fixture
def plugin_tree(tmp_path):
    root = tmp_path / "plugin"
    tracked = ["metadata.txt", "__init__.py", "plugin.py", "core/psdata.py", "ui/dock.py",
               "processing_provider/provider.py", "core/.env", "ui/.hidden/inside.py",
               "tests/test_x.py", ".gitignore"]
    for rel in tracked:
        _write(root, rel, "[general]\nversion=1.2.3\n" if rel == "metadata.txt" else "x = 1\n")
    _write(root, ".gitignore", "*.log\n")
    _git(root, "init", "-q")
    _git(root, "add", *tracked)
    _git(root, "commit", "-q", "-m", "tree")
    _write(root, "core/staged_new.py")  # staged, not yet committed: tracked
    _git(root, "add", "core/staged_new.py")
    # present but untracked: none of these may ship
    _write(root, "core/untracked.py")
    _write(root, "core/.env", "SECRET=1\n")  # tracked dotfile, edited locally
    _write(root, "processing_provider/.env", "SECRET=2\n")
    _write(root, "ui/notes.log")  # ignored
    _write(root, "resources/local_output.gpkg")
    return root


def test_zip_holds_only_tracked_files_and_no_dotfiles(plugin_tree, tmp_path):
    package = _package_module()
    zip_path = package.build(str(tmp_path / "dist"), root=str(plugin_tree))
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(zf.namelist())
    assert zip_path.endswith("subsidence_lab-1.2.3.zip")
    assert names == sorted(f"subsidence_lab/{rel}" for rel in (
        "metadata.txt", "__init__.py", "plugin.py", "core/psdata.py", "core/staged_new.py",
        "ui/dock.py", "processing_provider/provider.py"))
    assert not list((tmp_path / "dist").glob("*.part"))


def test_a_tree_that_is_not_a_git_checkout_is_refused_and_leaves_no_zip(plugin_tree, tmp_path):
    shutil.rmtree(plugin_tree / ".git")
    package = _package_module()
    with pytest.raises(SystemExit, match="not a git checkout"):
        package.build(str(tmp_path / "dist"), root=str(plugin_tree))
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
