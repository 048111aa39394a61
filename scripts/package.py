#!/usr/bin/env python3
"""Build the installable plugin ZIP: ``subsidence_lab/`` at its top, no tests, no dev files.

Usage: python3 scripts/package.py [--out dist]   -> prints the ZIP's path.
Only files git tracks are packed (the tree must be a git checkout), and no dotfile or dot-folder,
so stray caches, local outputs and secrets (a ``core/.env``) never ship.
"""

import argparse
import configparser
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_NAME = "subsidence_lab"
INCLUDE_TOP = ("__init__.py", "plugin.py", "compat.py", "symbology.py", "metadata.txt", "README.md",
               "LICENSE", "core", "processing_provider", "ui", "resources")
EXCLUDE_PARTS = ("__pycache__",)


def tracked_files(root=ROOT):
    """The files git tracks under ``root`` (committed or staged), present on disk.

    Untracked files (local outputs, a forgotten ``core/.env``) never ship, ignored or not; a tree
    that is not a git checkout is refused rather than packed by guess.
    """
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if getattr(exc, "stderr", None) else exc
        message = f"package.py packs the files git tracks; {root} is not a git checkout ({detail})"
        raise SystemExit(message) from None
    files = [f for f in out.stdout.decode().split("\0") if f]
    return sorted(f for f in files if os.path.isfile(os.path.join(root, f)))


def wanted(rel):
    parts = rel.split("/")
    if parts[0] not in INCLUDE_TOP:
        return False
    if any(p.startswith(".") or p in EXCLUDE_PARTS for p in parts) or rel.endswith((".pyc", ".pyo")):
        return False  # no dotfile or dot-folder ships, even when tracked (.env, .gitignore)
    return not (parts[0] == "core" and parts[-1].startswith("test_"))


def version(root=ROOT):
    meta = configparser.ConfigParser()
    meta.read(os.path.join(root, "metadata.txt"))
    return meta["general"]["version"]


def build(out_dir, root=ROOT):
    files = [rel for rel in tracked_files(root) if wanted(rel)]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{PLUGIN_NAME}-{version(root)}.zip")
    tmp = path + ".part"  # never leave a half-written ZIP behind
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in files:
                zf.write(os.path.join(root, rel), f"{PLUGIN_NAME}/{rel}")
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"))
    print(build(parser.parse_args().out))
    sys.exit(0)
