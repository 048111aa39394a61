"""Files and stations from a synthetic study area's truth: :func:`save_truth` /
:func:`load_truth` (``.npz``) and :func:`benchmark_stations` (METHODS.md sections 3 and 6).
"""

import json
from dataclasses import asdict

import numpy as np


def save_truth(area, path):
    """Write the truth of ``area`` to an ``.npz`` file (read it back with :func:`load_truth`).

    Keys: ids, x, y, dates, truth_<name> for every truth array, nan_mask (the observed gaps),
    stable_mask, velocity_true_mm_per_year, deformation_vertical_mm, bowl_<key> arrays,
    dominant_layer, params_json.
    """
    arrays = {
        "ids": area.ps.ids,
        "x": area.ps.x,
        "y": area.ps.y,
        "dates": area.ps.dates,
        "nan_mask": np.isnan(area.ps.displacement_mm),
        "stable_mask": area.stable_mask,
        "velocity_true_mm_per_year": area.velocity_true_mm_per_year,
        "deformation_vertical_mm": area.deformation_vertical_mm,
        "dominant_layer": np.array(area.dominant_layer),
        "params_json": np.array(json.dumps(asdict(area.params))),
    }
    for name, values in area.truth.items():
        arrays[f"truth_{name}"] = values
    for key in area.bowls[0] if area.bowls else ():
        arrays[f"bowl_{key}"] = np.array([bowl[key] for bowl in area.bowls])
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_truth(path):
    """Read a file written by :func:`save_truth` into a dict.

    Returns keys ids, x, y, dates, truth (name -> array), nan_mask, stable_mask,
    velocity_true_mm_per_year, deformation_vertical_mm, bowls (list of dicts),
    dominant_layer (str), params (dict).
    """
    with np.load(path, allow_pickle=False) as data:
        out = {"truth": {}, "bowls": []}
        bowl_cols = {}
        for key in data.files:
            if key.startswith("truth_"):
                out["truth"][key[len("truth_") :]] = data[key]
            elif key.startswith("bowl_"):
                bowl_cols[key[len("bowl_") :]] = data[key]
            elif key == "dominant_layer":
                out[key] = str(data[key])
            elif key == "params_json":
                out["params"] = json.loads(str(data[key]))
            else:
                out[key] = data[key]
    if bowl_cols:
        count = len(next(iter(bowl_cols.values())))
        for i in range(count):
            out["bowls"].append({k: v[i].item() for k, v in bowl_cols.items()})
    missing = {"ids", "dates", "stable_mask"} - set(out)
    if missing:
        raise ValueError(f"{path}: not a study-area truth file (missing {sorted(missing)[0]!r})")
    return out


def benchmark_stations(area, noise_mm=1.0, offset_m=300.0, seed=2024):
    """Synthetic benchmark ("GNSS") stations for validation tests and benches (METHODS 3).

    One station at the PS nearest a point ``offset_m`` east of each of the first four bowl
    centres: the true LOS deformation there (secular + seasonal) plus white noise of
    ``noise_mm``, on the SAR dates. Returns dicts ``id, kind, x, y, dates, values_mm`` as
    :func:`core.validation.compare_with_benchmarks` takes them.
    """
    ps = area.ps
    rng = np.random.default_rng(seed)
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    stations = []
    for number, bowl in enumerate(area.bowls[:4]):
        i = int(np.argmin(np.hypot(ps.x - bowl["x"] - offset_m, ps.y - bowl["y"])))
        stations.append({
            "id": f"GNSS{number + 1}", "kind": bowl["kind"], "x": ps.x[i], "y": ps.y[i],
            "dates": ps.dates, "values_mm": truth[i] + rng.normal(0, noise_mm, ps.n_dates),
        })
    return stations
