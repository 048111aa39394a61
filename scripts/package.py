#!/usr/bin/env python3
"""Build the installable plugin ZIP: ``subsidence_lab/`` at its top, no tests, no dev files.

Usage: python3 scripts/package.py [--out dist]   -> prints the ZIP's path.
Only files git tracks are packed (falls back to a walk when git is absent), so stray
caches and local outputs never ship.
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
EXCLUDE_PARTS = ("__pycache__", ".pytest_cache", ".ruff_cache")


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
        # include files not yet committed but present (a local build of a work tree)
        extra = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, check=True)
        files += [f for f in extra.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for base, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files += [os.path.relpath(os.path.join(base, n), ROOT) for n in names]
    return sorted({f for f in files if os.path.isfile(os.path.join(ROOT, f))})


def wanted(rel):
    parts = rel.split("/")
    if parts[0] not in INCLUDE_TOP:
        return False
    if any(p in EXCLUDE_PARTS for p in parts) or rel.endswith((".pyc", ".pyo")):
        return False
    return not (parts[0] == "core" and parts[-1].startswith("test_"))


def version():
    meta = configparser.ConfigParser()
    meta.read(os.path.join(ROOT, "metadata.txt"))
    return meta["general"]["version"]


def build(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{PLUGIN_NAME}-{version()}.zip")
    tmp = path + ".part"  # never leave a half-written ZIP behind
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in tracked_files():
            if wanted(rel):
                zf.write(os.path.join(ROOT, rel), f"{PLUGIN_NAME}/{rel}")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"))
    print(build(parser.parse_args().out))
    sys.exit(0)
