#!/usr/bin/env python3
"""The main job on the bundled sample study area, run headless through Processing.

    python scripts/run_sample.py --out sample_output [--points 20000 --dates 60 --seed 1]

Chain (each step a Processing algorithm, exactly as a user would chain them in the modeler):
samplestudyarea -> pcadecomposition -> pcaerrorremoval, with spatiotemporalfilter as the
baseline and validatebenchmarks at four benchmark stations (the planted truth plus 1 mm of
GNSS-like noise); then figures and a summary that scores every method against the planted
truth (METHODS.md section 6).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless import start_qgis


def run(processing, alg, params, label):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def reportError(self, error, fatalError=False):
            print(f"    ! {error}")

    start = time.perf_counter()
    result = processing.run(alg, params, context=QgsProcessingContext(), feedback=Feedback())
    print(f"  {label:<38} {time.perf_counter() - start:6.1f} s")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sample_output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--dates", type=int, default=60)
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)  # noqa: E731

    processing, _app = start_qgis()
    print(f"Subsidence Lab sample study area -> {out}")

    run(processing, "subsidencelab:samplestudyarea", {
        "SEED": args.seed, "N_POINTS": args.points, "N_DATES": args.dates, "NAN_FRACTION": 0.02,
        "OUTPUT_PS": path("ps_observed.gpkg"), "OUTPUT_WELLS": path("wells.gpkg"),
        "OUTPUT_GROUNDWATER": path("groundwater.gpkg"), "OUTPUT_TRUTH": path("truth.npz"),
    }, "1 sample study area")
    run(processing, "subsidencelab:pcadecomposition", {
        "INPUT": path("ps_observed.gpkg"), "N_COMPONENTS": 0,
        "OUTPUT": path("pca_components.gpkg"), "COMPONENTS": path("pca_components_table.csv"),
        "TEMPORAL": path("pca_temporal.csv"), "DECOMPOSITION": path("decomposition.npz"),
    }, "2 PCA decomposition")
    run(processing, "subsidencelab:pcaerrorremoval", {
        "INPUT": path("ps_observed.gpkg"), "DECOMPOSITION": path("decomposition.npz"),
        "POLYNOMIAL": 3, "WRITE_REMOVED": True, "OUTPUT": path("ps_corrected.gpkg"),
    }, "3 PCA-based error removal")
    run(processing, "subsidencelab:spatiotemporalfilter", {
        "INPUT": path("ps_observed.gpkg"), "OUTPUT": path("ps_filtered.gpkg"),
    }, "4 spatio-temporal filter (baseline)")

    from report import write_stations

    stations = write_stations(out, path("stations.gpkg"))
    for label, name in (("raw", "ps_observed"), ("filter", "ps_filtered"), ("pca", "ps_corrected")):
        run(processing, "subsidencelab:validatebenchmarks", {
            "INPUT": path(f"{name}.gpkg"), "DATE_FIELDS": "D", "STATIONS": path("stations.gpkg"),
            "STATION_ID_FIELD": "station_id", "MODE": 1, "RADIUS_M": 300.0,
            "OUTPUT": path(f"validation_{label}.csv"),
        }, f"5 validation at {len(stations)} stations: {label}")

    from report import write_report

    summary = write_report(out, stations)
    with open(path("summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    print("\nAccuracy against the planted truth (LOS, mm):")
    for line in summary["table"]:
        print("  " + line)
    print(f"\nWrote {len(os.listdir(out))} files to {out}; start with {path('summary.md')}")


if __name__ == "__main__":
    main()
