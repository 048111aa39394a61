"""The main job on the bundled sample study area, run headless through Processing.

    python scripts/run_sample.py --out sample_output [--points 20000 --dates 60 --seed 1 --epochs 100]

samplestudyarea makes the inputs (PS layer, wells, groundwater table, truth); then the shipped
graphical model ``subsidencelab:subsidencepipeline`` runs the whole chain, exactly as a user runs it
from the toolbox: preparepsdataset -> pcadecomposition -> pcaerrorremoval -> wellbuffersampling ->
amlstmsimulation. Beside it, spatiotemporalfilter (the baseline of Chen et al. 2023) and
validatebenchmarks at four benchmark stations (the planted truth plus 1 mm of GNSS-like noise).
Then figures, summary.md and report.html, which score every method against the planted truth
(METHODS.md section 6) beside the papers' figures.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless import start_qgis

MODEL = "subsidencelab:subsidencepipeline"
# the model's outputs (<step>:<output>) -> files of the output folder
MODEL_OUTPUTS = {
    "pca:pc_maps": "pca_components.gpkg", "pca:components": "pca_components_table.csv",
    "pca:temporal": "pca_temporal.csv", "pca:decomposition": "decomposition.npz",
    "correct:corrected": "ps_corrected.gpkg", "sample:series": "well_series.csv",
    "sample:members": "well_members.gpkg", "sample:well_counts": "wells_ps_count.gpkg",
    "amlstm:predictions": "amlstm_predictions.csv", "amlstm:metrics": "amlstm_metrics.csv",
    "amlstm:attention": "amlstm_attention.csv", "amlstm:model_file": "amlstm_model.pt",
}
# what the model's log says that a reader of the demo wants to see as it goes
SHOWN = ("Read ", "Suggested k", "Decomposition file", "RMS in the stable area", "FEATURES:",
         "members per feature", "Training the", "Fitting the", "AM-LSTM gain")


def run(processing, alg, params, label):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    start = time.perf_counter()

    class Feedback(QgsProcessingFeedback):
        def reportError(self, error, fatalError=False):
            print(f"    ! {error}")

        def pushInfo(self, info):  # QGIS 3.22 does not announce a model's steps: the steps' logs do
            if any(key in info for key in SHOWN):
                print(f"    {time.perf_counter() - start:6.1f} s  {info[:120]}", flush=True)

    result = processing.run(alg, params, context=QgsProcessingContext(), feedback=Feedback())
    print(f"  {label:<44} {time.perf_counter() - start:6.1f} s", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sample_output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=100, help="AM-LSTM epochs at most (early stopping)")
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
    params = {"ps_layer": path("ps_observed.gpkg"), "direction": 0, "wells": path("wells.gpkg"),
              "well_id_field": "well_id", "groundwater": path("groundwater.gpkg"), "n_components": 0,
              "radius_m": 300.0, "window": 12, "epochs": args.epochs, "hidden_size": 16}
    params.update({name: path(file) for name, file in MODEL_OUTPUTS.items()})
    print(f"  2 the shipped model {MODEL}:")
    run(processing, MODEL, params, "2 prepare -> PCA -> error removal -> wells -> AM-LSTM")
    run(processing, "subsidencelab:spatiotemporalfilter", {
        "INPUT": path("ps_observed.gpkg"), "OUTPUT": path("ps_filtered.gpkg"),
    }, "3 spatio-temporal filter (baseline)")

    from report import write_stations

    stations = write_stations(out, path("stations.gpkg"))
    for label, name in (("raw", "ps_observed"), ("filter", "ps_filtered"), ("pca", "ps_corrected")):
        run(processing, "subsidencelab:validatebenchmarks", {
            "INPUT": path(f"{name}.gpkg"), "DATE_FIELDS": "D", "STATIONS": path("stations.gpkg"),
            "STATION_ID_FIELD": "station_id", "MODE": 1, "RADIUS_M": 300.0,
            "OUTPUT": path(f"validation_{label}.csv"),
        }, f"4 validation at {len(stations)} stations: {label}")

    from report import write_report
    from report_amlstm import write_amlstm_report
    from report_html import write_html

    print("  5 figures and report", flush=True)
    summary = write_report(out, stations)
    amlstm = write_amlstm_report(out, summary["dominant_layer"])
    amlstm["dominant_layer"] = summary["dominant_layer"]
    summary["amlstm_table"] = amlstm["table"]
    summary["amlstm_gain_pct_of_mean_rmse"] = amlstm["gain_pct"]
    with open(path("summary.md"), "a") as handle:
        handle.write("\nAM-LSTM (Cao et al.): RMSE (mm/month) of the monthly deformation on the test months, "
                     "per well and model; gain = AM-LSTM over LSTM:\n\n```\n" + "\n".join(amlstm["table"])
                     + "\n```\n\nFigures: fig_amlstm_predictions.png, fig_attention.png; report.html\n")
    info = (f"{args.points} PS points x {args.dates} dates (seed {args.seed}), the shipped model with "
            f"k = suggested, wells 300 m, AM-LSTM window 12, at most {args.epochs} epochs; "
            f"the synthetic subsidence follows the {summary['dominant_layer']} layer.")
    write_html(out, summary, amlstm, info)
    with open(path("summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    print("\nAccuracy against the planted truth (LOS, mm):")
    for line in summary["table"]:
        print("  " + line)
    print("\nAM-LSTM (Cao et al.), RMSE of the monthly deformation on the test months (mm):")
    for line in amlstm["table"]:
        print("  " + line)
    print(f"\nWrote {len(os.listdir(out))} files to {out}; open {path('report.html')}")


if __name__ == "__main__":
    main()
