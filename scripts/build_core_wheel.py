#!/usr/bin/env python3
"""Build the plugin's Qt-free ``core`` as a wheel that Dask workers install (README, "Running on a
Dask cluster").

Usage: python3 scripts/build_core_wheel.py [--out dist]   -> prints the wheel's path.

The wheel holds ``subsidence_lab/__init__.py`` (an empty package: no QGIS entry point) and
``subsidence_lab/core/*.py``, so the tasks the plugin sends (functions of
``subsidence_lab.core.distributed``...) import on a worker exactly as inside QGIS. Its version is
the plugin's (metadata.txt). It declares no dependency: numpy, scipy, dask, distributed (and zarr
to read stacks) come from the worker's system packages, matched to the plugin's as on the QGIS
machine (Debian: python3-numpy python3-scipy python3-dask python3-distributed python3-zarr).
"""

import argparse
import base64
import configparser
import hashlib
import os
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "subsidence_lab_core"
STUB = '"""Subsidence Lab core for Dask workers (no QGIS plugin here)."""\n'


def plugin_version(root=ROOT):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(root, "metadata.txt"), encoding="utf-8")
    return parser["general"]["version"].strip()


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(out_dir, root=ROOT):
    version = plugin_version(root)
    files = {"subsidence_lab/__init__.py": STUB.encode()}
    core = os.path.join(root, "core")
    for name in sorted(os.listdir(core)):
        if name.endswith(".py"):
            with open(os.path.join(core, name), "rb") as handle:
                files[f"subsidence_lab/core/{name}"] = handle.read()
    info = f"{NAME}-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {NAME.replace('_', '-')}\nVersion: {version}\n"
        "Summary: Subsidence Lab core (PCA, error removal) for Dask workers\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: build_core_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{NAME}-{version}-py3-none-any.whl")
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    os.replace(tmp, path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"))
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
