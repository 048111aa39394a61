#!/usr/bin/env python3
"""Screenshots of the docks in the real QGIS desktop, under Xvfb.

    python scripts/screenshots.py --out screenshots [--data sample_docks] [--points 20000]

1. Makes the sample study area headless through Processing (unless ``--data`` already holds it):
   samplestudyarea -> pcadecomposition -> pcaerrorremoval -> wellbuffersampling -> amlstmsimulation
   (when PyTorch is there).
2. Starts the ``qgis`` desktop binary under ``xvfb-run`` with an isolated profile (a temp folder
   given as ``--profiles-path``, the plugin enabled in it) and the checkout on
   ``QGIS_PLUGINPATH`` as ``subsidence_lab``, running ``scripts/screenshot_session.py`` through
   ``--code``: it loads the layers, opens both docks, clicks PS points on the map with real
   mouse events and saves PNGs of the window and of each dock into ``--out``.

The user's own QGIS profile is never touched.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

DATA_FILES = ("ps_observed.gpkg", "ps_corrected.gpkg", "pca_components.gpkg", "decomposition.npz",
              "wells.gpkg", "series.gpkg", "members.gpkg")  # fmt: skip


def make_data(folder, points, dates, seed):
    """The sample area and the outputs the docks link to, written into ``folder``."""
    from headless import start_qgis

    processing, _app = start_qgis()
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    steps = [
        ("subsidencelab:samplestudyarea", {
            "SEED": seed, "N_POINTS": points, "N_DATES": dates, "NAN_FRACTION": 0.02,
            "OUTPUT_PS": path("ps_observed.gpkg"), "OUTPUT_WELLS": path("wells.gpkg"),
            "OUTPUT_GROUNDWATER": path("groundwater.gpkg"), "OUTPUT_TRUTH": path("truth.npz")}),
        ("subsidencelab:pcadecomposition", {
            "INPUT": path("ps_observed.gpkg"), "N_COMPONENTS": 0, "OUTPUT": path("pca_components.gpkg"),
            "COMPONENTS": path("pca_components_table.csv"), "TEMPORAL": path("pca_temporal.csv"),
            "DECOMPOSITION": path("decomposition.npz")}),
        ("subsidencelab:pcaerrorremoval", {
            "INPUT": path("ps_observed.gpkg"), "DECOMPOSITION": path("decomposition.npz"), "POLYNOMIAL": 3,
            "OUTPUT": path("ps_corrected.gpkg")}),
        ("subsidencelab:wellbuffersampling", {
            "INPUT": path("ps_corrected.gpkg"), "FEATURES": path("wells.gpkg"), "FEATURE_ID_FIELD": "well_id",
            "RADIUS_M": 300, "GROUNDWATER": path("groundwater.gpkg"), "SERIES": path("series.gpkg"),
            "MEMBERS": path("members.gpkg"), "OUTPUT_FEATURES": path("wells_sampled.gpkg")}),
    ]  # fmt: skip
    for alg, params in steps:
        print(f"  {alg}", flush=True)
        processing.run(alg, params)
    # optional: needs PyTorch; without it the docks show everything but the predictions
    print("  subsidencelab:amlstmsimulation", flush=True)
    try:
        processing.run("subsidencelab:amlstmsimulation", {
            "INPUT": path("series.gpkg"), "EPOCHS": 60, "MEMBERS": path("members.gpkg"),
            "PREDICTIONS": path("predictions.gpkg"), "METRICS": path("metrics.csv"),
            "ATTENTION": path("attention.gpkg"), "MODEL": path("amlstm.pt"),
            "MEMBERS_OUTPUT": path("amlstm_members.gpkg")})  # fmt: skip
    except Exception as exc:
        print(f"    skipped: {exc}", flush=True)


def write_profile(profiles):
    """An isolated profile with the plugin enabled and no first-run dialogs."""
    settings = os.path.join(profiles, "profiles", "default", "QGIS")
    os.makedirs(settings, exist_ok=True)
    with open(os.path.join(settings, "QGIS3.ini"), "w") as fh:
        fh.write(
            "[PythonPlugins]\nsubsidence_lab=true\n\n"
            "[qgis]\nshowTips=false\ncheckVersion=false\nallowCrashReporting=false\n"
            "[core]\nlocale\\overrideFlag=true\nlocale\\userLocale=en_GB\n"
        )


def run_desktop(data, out, timeout):
    if shutil.which("xvfb-run") is None or shutil.which("qgis") is None:
        raise SystemExit("screenshots need xvfb-run and the qgis desktop binary (see scripts/setup.sh)")
    work = tempfile.mkdtemp(prefix="subsidence_screens_")
    try:
        plugins = os.path.join(work, "plugins")
        os.makedirs(plugins)
        os.symlink(REPO, os.path.join(plugins, "subsidence_lab"))
        write_profile(os.path.join(work, "profiles"))
        runtime = os.path.join(work, "runtime")
        os.makedirs(runtime, mode=0o700)
        env = dict(os.environ, QGIS_PLUGINPATH=plugins, XDG_RUNTIME_DIR=runtime)
        env["SUBSIDENCE_SCREENSHOT_DATA"] = os.path.abspath(data)
        env["SUBSIDENCE_SCREENSHOT_OUT"] = os.path.abspath(out)
        env.pop("QT_QPA_PLATFORM", None)  # the real desktop, on the Xvfb display
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1680x1050x24", "qgis", "--nologo", "--noversioncheck",
               "--profiles-path", os.path.join(work, "profiles"),
               "--code", os.path.join(HERE, "screenshot_session.py")]  # fmt: skip
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
        log = os.path.join(out, "qgis.log")
        with open(log, "w") as fh:
            fh.write(proc.stdout + "\n" + proc.stderr)
        return proc.returncode, log
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--data", default="", help="folder with the sample outputs (made when missing)")
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    data = os.path.abspath(args.data or os.path.join(out, "data"))
    os.makedirs(data, exist_ok=True)
    if not all(os.path.exists(os.path.join(data, f)) for f in DATA_FILES):
        print(f"Sample study area -> {data}", flush=True)
        cmd = [sys.executable, __file__, "--make-data", data]
        cmd += [str(args.points), str(args.dates), str(args.seed)]
        child = subprocess.run(cmd, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        if child.returncode != 0:
            raise SystemExit("making the sample study area failed")
    print("QGIS desktop under Xvfb ...", flush=True)
    code, log = run_desktop(data, out, args.timeout)
    shots = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    print(f"QGIS exited with {code}; log {log}")
    for name in shots:
        print(f"  {os.path.join(out, name)}")
    if code != 0 or not shots:
        raise SystemExit(f"no screenshots (QGIS exit code {code}); see {log}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--make-data":
        make_data(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
