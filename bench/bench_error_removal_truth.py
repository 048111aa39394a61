"""Accuracy of the error removal against TRUTH on both synthetic generators (issue 8 table).

    python bench/bench_error_removal_truth.py [--points 20000] [--dates 60] [--seeds 0 1 2] [--real]

For core.synthetic and core.synthetic_urban, each seed: raw, the spatio-temporal filter
(defaults), the PCA method with every default (suggested k, proposed classes, automatic stable
ground) and the PCA method given the true stable mask. Columns:

- stable RMS: RMS over the truly stable points and all dates of (series - true deformation), mm;
- vRMSE>10: RMSE of the velocity where |v_true| > 10 mm/yr, mm/yr, against the velocity of
  the whole true deformation (secular + seasonal: what a perfect correction would give);
- bias>10: mean (v - v_true) there, mm/yr;
- centre: mean over the subsidence bowls of the RMSE (mm) of the mean series of the
  ``CENTRE_POINTS`` PS nearest the bowl centre against the truth there (a levelling/GNSS
  station at the centre); ``worst/raw`` = the largest ratio of that RMSE to raw's over bowls;
- seas. amp: at those stations, the amplitude (mm) of a fitted annual sinusoid, mean over bowls,
  as ``estimate/truth`` (a step that smooths in time shrinks it);
- non-lin.: at those stations, the RMS (mm) of the series about its least-squares line minus
  the truth's (the lagged bowls' non-linear shape), mean over bowls.

"PCA no floor" is the PCA method with every default but ``noise_floor=False`` (core.noise_floor).

``--real`` adds the real exports (../shared/realdata) through ``subsidencelab:pcaerrorremoval``
with every default: exit status, median velocity shift and correlation with the input's
velocities (EGMS: its ``mean_velocity``), and the mean velocity standard error before (computed
from the input) and after (the written ``velocity_std_mm_per_year``). Timings are not measured here.
"""

import argparse
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
from common import REPO, mount_package

mount_package()

from subsidence_lab.core.error_removal import linear_velocity, remove_errors  # noqa: E402
from subsidence_lab.core.pca import decompose  # noqa: E402
from subsidence_lab.core.psdata import years_since_first  # noqa: E402
from subsidence_lab.core.spatiotemporal_filter import spatiotemporal_filter  # noqa: E402
from subsidence_lab.core.synthetic import make_study_area  # noqa: E402
from subsidence_lab.core.synthetic_urban import make_urban_area  # noqa: E402

CENTRE_POINTS = 5
GENERATORS = {"synthetic": make_study_area, "urban": make_urban_area}
REALDATA = REPO.parent / "shared" / "realdata"
EGMS_ZIP = REALDATA / "egms-ustica-l2b" / "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip"


def centre_errors(area, series):
    """Per subsidence bowl, at the mean series near the centre: RMSE (mm) against the truth,
    annual amplitude (estimate, truth) and the RMS error of the non-linear part (module doc)."""
    ps = area.ps
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    t = years_since_first(ps.dates)
    design = np.column_stack([np.ones_like(t), t, np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
    out, amplitude, shape = [], [], []
    for bowl in area.bowls:
        if bowl["kind"] != "subsidence":
            continue
        near = np.argsort(np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]))[:CENTRE_POINTS]
        est = np.nanmean(series[near], axis=0)
        true = truth[near].mean(axis=0)
        est, true = est - est[0], true - true[0]
        diff = est - true
        out.append(float(np.sqrt(np.nanmean(diff[1:] ** 2))))
        seen = np.isfinite(est)
        fits = [np.linalg.lstsq(design[seen], s[seen], rcond=None)[0] for s in (est, true)]
        amplitude.append([np.hypot(*f[2:]) for f in fits])
        line = [s[seen] - design[seen, :2] @ np.linalg.lstsq(design[seen, :2], s[seen], rcond=None)[0]
                for s in (est, true)]
        shape.append(float(np.sqrt(np.mean((line[0] - line[1]) ** 2))))
    return np.array(out), np.array(amplitude).reshape(-1, 2), np.array(shape)


def scores(area, series, velocity):
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    stable = area.stable_mask
    resid = (series - truth)[stable]
    # The velocity a perfect correction gives: the LSQ line through the whole true deformation
    # (secular + seasonal; a seasonal cycle over a non-integer number of years has a slope).
    v_true = linear_velocity(truth, area.ps.dates)[0]
    fast = np.abs(area.velocity_true_mm_per_year) > 10
    dv = velocity[fast] - v_true[fast]
    centre, amplitude, shape = centre_errors(area, series)
    return {
        "stable": float(np.sqrt(np.nanmean(resid**2))),
        "vrmse": float(np.sqrt(np.nanmean(dv**2))),
        "bias": float(np.nanmean(dv)),
        "centre": centre,
        "amplitude": amplitude,
        "shape": shape,
    }


def run_area(area):
    ps = area.ps
    rows = {}
    raw_v = linear_velocity(ps.displacement_mm, ps.dates)[0]
    rows["raw"] = scores(area, ps.displacement_mm, raw_v)
    filt = spatiotemporal_filter(ps.displacement_mm, ps.x, ps.y, ps.dates).corrected_mm
    rows["filter"] = scores(area, filt, linear_velocity(filt, ps.dates)[0])
    dec = decompose(ps.displacement_mm, k=None, dates=ps.dates, ids=ps.ids, x=ps.x, y=ps.y, z=ps.z)
    auto = remove_errors(ps.displacement_mm, dec, x=ps.x, y=ps.y, z=ps.z, ids=ps.ids, fit_mask="auto")
    rows["PCA defaults"] = scores(area, auto.corrected_mm, auto.velocity_mm_per_year)
    bare = remove_errors(ps.displacement_mm, dec, x=ps.x, y=ps.y, z=ps.z, ids=ps.ids, fit_mask="auto",
                         noise_floor=False)
    rows["PCA no floor"] = scores(area, bare.corrected_mm, bare.velocity_mm_per_year)
    given = remove_errors(
        ps.displacement_mm, dec, x=ps.x, y=ps.y, z=ps.z, ids=ps.ids, fit_mask=area.stable_mask
    )
    rows["PCA true mask"] = scores(area, given.corrected_mm, given.velocity_mm_per_year)
    purity = float(area.stable_mask[auto.fit_mask].mean())
    rows["_info"] = {"k": dec.k, "labels": dec.labels, "auto_truly_stable": purity}
    return rows


def print_table(generator, per_seed):
    print(f"\n{generator} (LOS; {len(per_seed)} seeds; per seed then mean)")
    print(f"{'method':<15}{'stable RMS mm':>15}{'vRMSE>10':>10}{'bias>10':>9}{'centre mm':>11}"
          f"{'worst/raw':>10}{'seas. amp':>12}{'non-lin.':>9}")
    for method in ("raw", "filter", "PCA defaults", "PCA no floor", "PCA true mask"):
        cells = []
        for rows in per_seed:
            r = rows[method]
            ratio = np.max(r["centre"] / rows["raw"]["centre"]) if r["centre"].size else np.nan
            amp = r["amplitude"].mean(axis=0) if r["amplitude"].size else (np.nan, np.nan)
            cells.append((r["stable"], r["vrmse"], r["bias"], r["centre"].mean(), ratio, *amp,
                          r["shape"].mean()))
        for c in cells:
            print(f"{method:<15}{c[0]:>15.2f}{c[1]:>10.2f}{c[2]:>+9.2f}{c[3]:>11.2f}{c[4]:>10.2f}"
                  f"{c[5]:>7.2f}/{c[6]:.2f}{c[7]:>9.2f}")
        mean = np.mean(cells, axis=0)
        raw = np.mean([rows["raw"]["stable"] for rows in per_seed])
        change = f"{mean[0]:>9.2f} ({100 * (mean[0] / raw - 1):+.0f}%)"
        print(f"{'  mean':<15}{change}{mean[1]:>10.2f}{mean[2]:>+9.2f}{mean[3]:>11.2f}"
              f"{np.max([c[4] for c in cells]):>10.2f}{mean[5]:>7.2f}/{mean[6]:.2f}{mean[7]:>9.2f}")
    for seed, rows in enumerate(per_seed):
        info = rows["_info"]
        print(f"  seed #{seed}: k={info['k']}, classes {','.join(info['labels'])}; "
              f"automatic stable points truly stable: {100 * info['auto_truly_stable']:.0f} %")


def run_real():
    from common import start_qgis

    processing, _app = start_qgis()
    from subsidence_lab.core.ps_io import read_ps_file

    inputs = {
        "StaMPS PS": str(REALDATA / "stamps-maoxian" / "Maoxian_PS.csv"),
        "StaMPS SBAS": str(REALDATA / "stamps-maoxian" / "Maoxian_SBAS.csv"),
        "EGMS L2b (zip)": f"/vsizip/{EGMS_ZIP}/{EGMS_ZIP.stem}.csv",
    }
    print("\nreal exports, pcaerrorremoval with every default")
    print(f"{'export':<16}{'exit':>6}{'median shift':>14}{'corr(v_in)':>12}{'corr(mean_velocity)':>21}"
          f"{'std before/after':>18}")
    out_dir = Path(tempfile.mkdtemp(prefix="bench_truth_"))
    from qgis.core import QgsProject, QgsVectorLayer

    for number, (name, path) in enumerate(inputs.items()):
        source = path
        if path.startswith("/vsizip/"):
            # A CSV inside a ZIP is given as a layer, as QGIS opens it from the browser.
            source = QgsProject.instance().addMapLayer(QgsVectorLayer(path, name, "ogr")).id()
        try:
            params = {"INPUT": source, "OUTPUT": str(out_dir / f"export{number}.gpkg")}
            result = processing.run("subsidencelab:pcaerrorremoval", params)
        except Exception as exc:  # the bench reports failures, it does not stop
            print(f"{name:<16}{'FAIL':>6}  {str(exc).splitlines()[0][:110]}")
            continue
        raw = read_ps_file(path)
        cor = read_ps_file(result["OUTPUT"], date_fields="D")
        order = {v: i for i, v in enumerate(np.asarray(cor.ids).astype(str).tolist())}
        rows = [order[i] for i in np.asarray(raw.ids).astype(str).tolist()]
        v_raw, s_raw = linear_velocity(raw.displacement_mm, raw.dates)[:2]
        v_cor = linear_velocity(cor.displacement_mm[rows], raw.dates)[0]
        # The written standard error (of the series before the noise-floor step, which keeps the
        # velocity: the noise it removes is part of the velocity's uncertainty).
        s_cor = np.asarray(cor.attributes["velocity_std_mm_per_year"], dtype=np.float64)[rows]
        shift = np.nanmedian(v_cor - v_raw)
        corr = np.corrcoef(v_raw, v_cor)[0, 1]
        mv = raw.attributes.get("mean_velocity")
        corr_mv = np.corrcoef(np.asarray(mv, float), v_cor)[0, 1] if mv is not None else np.nan
        print(f"{name:<16}{0:>6}{shift:>+14.2f}{corr:>12.3f}{corr_mv:>21.3f}"
              f"{np.nanmean(s_raw):>10.2f}/{np.nanmean(s_cor):.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--dates", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generators", nargs="+", default=list(GENERATORS))
    parser.add_argument("--real", action="store_true")
    args = parser.parse_args(argv)
    print(f"{args.points} points x {args.dates} dates, seeds {args.seeds} (machine shared with other jobs)")
    for name in args.generators:
        per_seed = []
        for seed in args.seeds:
            area = GENERATORS[name](seed=seed, n_points=args.points, n_dates=args.dates)
            per_seed.append(run_area(area))
        print_table(name, per_seed)
    if args.real:
        try:
            run_real()
        except Exception:  # report and go on
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
