"""subsidencelab:amlstmsimulation and amlstmprediction end to end (Cao et al.), on a small
driven series table: tables, model file, prediction from the file, per-PS series, cancel."""

import csv

import numpy as np
import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer
from test_alg_well_buffer_sampling import study  # noqa: F401 (the synthetic area fixture)
from test_amlstm import driven_data

from subsidence_lab.core.ps_io import write_ps_file
from subsidence_lab.core.psdata import PSDataset
from subsidence_lab.processing_provider import base

FAST = {"EPOCHS": 4, "PATIENCE": 4, "BATCH_SIZE": 16, "WINDOW": 6}


def write_series_csv(path, data):
    """The series table of wellbuffersampling: feature_id, date, increment_mm, value_mm, gw_<layer>."""
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["feature_id", "date", "increment_mm", "value_mm"] + [f"gw_{n}" for n in data.layers])
        for w, fid in enumerate(data.feature_ids):
            cumulative = np.nancumsum(data.increments_mm[w])
            for k, month in enumerate(data.months):
                inc = data.increments_mm[w, k]
                row = [fid, str(month), "" if np.isnan(inc) else f"{inc:.6f}", f"{cumulative[k]:.6f}"]
                out.writerow(row + [f"{v:.4f}" for v in data.heads_m[w, :, k]])


def rows_of(path):
    layer = QgsVectorLayer(str(path), "t", "ogr")
    assert layer.isValid(), path
    names = layer.fields().names()
    return [{n: f[n] for n in names} for f in layer.getFeatures()]


def _number(value):
    return np.nan if value is None or (hasattr(value, "isNull") and value.isNull()) else float(value)


@pytest.fixture
def series_csv(tmp_path):
    data = driven_data(n_months=60, n_wells=2, noise_layers=1)
    path = tmp_path / "series.csv"
    write_series_csv(path, data)
    return data, path


def test_simulation_writes_every_table_and_a_model_that_predicts_the_same(provider, tmp_path, series_csv):
    import processing

    data, src = series_csv
    out = {n: str(tmp_path / f"{n.lower()}.gpkg") for n in ("PREDICTIONS", "METRICS", "ATTENTION")}
    model = str(tmp_path / "model.pt")
    processing.run("subsidencelab:amlstmsimulation", {"INPUT": str(src), **FAST, **out, "MODEL": model})
    predictions = rows_of(out["PREDICTIONS"])
    models = ("amlstm", "lstm", "physical", "linear")
    columns = {"feature_id", "date", "observed_mm", "split"} | {f"{m}_mm" for m in models}
    assert columns <= set(predictions[0])
    assert {r["split"] for r in predictions} == {"train", "validation", "test"}
    # Observed is the input's increment of that month (the table round trip keeps the numbers).
    w0 = [r for r in predictions if r["feature_id"] == "W0"]
    month = int(np.flatnonzero(data.months.astype(str) == w0[-1]["date"])[0])
    assert w0[-1]["observed_mm"] == pytest.approx(data.increments_mm[0, month], abs=1e-5)
    # Persistence, the reference of the skill: the last increment before the test part, carried
    # through it (the networks simulate the test part without seeing its targets); the one-step
    # version, which reads the previous test month, has its own column.
    before = [r for r in w0 if r["split"] != "test"]
    test0 = [r for r in w0 if r["split"] == "test"]
    assert [r["persistence_mm"] for r in test0] == pytest.approx([before[-1]["observed_mm"]] * len(test0))
    assert test0[-1]["persistence_1step_mm"] == pytest.approx(test0[-2]["observed_mm"], abs=1e-9)
    # Metrics: 7 models per well; RMSE and the gain recomputed from the predictions table.
    metrics = rows_of(out["METRICS"])
    assert len(metrics) == 14
    for fid in ("W0", "W1"):
        test = [r for r in predictions if r["feature_id"] == fid and r["split"] == "test"]
        obs = np.array([r["observed_mm"] for r in test])
        rmse = {
            m: np.sqrt(np.mean((np.array([r[f"{m}_mm"] for r in test]) - obs) ** 2))
            for m in ("amlstm", "lstm", "linear")
        }
        row = {r["model"]: r for r in metrics if r["feature_id"] == fid}
        assert row["amlstm"]["rmse_mm"] == pytest.approx(rmse["amlstm"], rel=1e-5)
        assert row["linear"]["rmse_mm"] == pytest.approx(rmse["linear"], rel=1e-5)
        assert row["amlstm"]["gain_pct"] == pytest.approx(100 * (1 - rmse["amlstm"] / rmse["lstm"]), rel=1e-4)
    # Attention: the mean rows (empty date) sum to 1 over the layers of each well.
    attention = rows_of(out["ATTENTION"])
    for fid in ("W0", "W1"):
        mean = [r["weight"] for r in attention if r["feature_id"] == fid and not r["date"]]
        assert len(mean) == 2 and sum(mean) == pytest.approx(1.0, abs=1e-5)
    # The saved model predicts the same series from the same groundwater.
    again = str(tmp_path / "again.gpkg")
    processing.run(
        "subsidencelab:amlstmprediction",
        {"INPUT": str(src), "MODEL": model, "PREDICTIONS": again, "ATTENTION": "TEMPORARY_OUTPUT"},
    )
    replay = {(r["feature_id"], r["date"]): r for r in rows_of(again)}
    for r in predictions:
        assert replay[(r["feature_id"], r["date"])]["amlstm_mm"] == pytest.approx(r["amlstm_mm"], abs=1e-4)
        assert replay[(r["feature_id"], r["date"])]["physical_mm"] == pytest.approx(
            r["physical_mm"], abs=1e-6
        )
        assert replay[(r["feature_id"], r["date"])]["linear_mm"] == pytest.approx(r["linear_mm"], abs=1e-6)


def test_per_ps_networks_give_each_member_point_its_series(provider, tmp_path, series_csv):
    import processing

    data, src = series_csv
    rng = np.random.default_rng(1)
    ids, owner, series = [], [], []
    for w, fid in enumerate(data.feature_ids):
        cumulative = np.nancumsum(data.increments_mm[w])
        for k in range(3):
            ids.append(10 * w + k + 1)
            owner.append(fid)
            series.append((0.8 + 0.2 * k) * cumulative + rng.normal(0, 0.05, cumulative.size))
    ps = PSDataset(
        ids=np.array(ids),
        x=500000.0 + np.arange(6) * 10,
        y=np.full(6, 4400000.0),
        dates=data.months,
        displacement_mm=np.array(series) - np.array(series)[:, :1],
        crs="EPSG:32650",
        attributes={"feature_id": np.array(owner)},
    )
    members = tmp_path / "members.gpkg"
    write_ps_file(str(members), ps, fields={"feature_id": np.array(owner)}, series=ps.displacement_mm)
    out = tmp_path / "members_out.gpkg"
    processing.run(
        "subsidencelab:amlstmsimulation",
        {
            "INPUT": str(src),
            **FAST,
            "PREDICTIONS": "TEMPORARY_OUTPUT",
            "METRICS": "TEMPORARY_OUTPUT",
            "ATTENTION": "TEMPORARY_OUTPUT",
            "MODEL": str(tmp_path / "m.pt"),
            "MEMBERS": str(members),
            "MEMBERS_OUTPUT": str(out),
        },
    )
    rows = rows_of(out)
    assert len(rows) == 6 and {r["feature_id"] for r in rows} == {"W0", "W1"}
    fields = [n for n in rows[0] if n.startswith("amlstm_")]
    assert len(fields) >= 40 and fields[-1] == "amlstm_" + str(data.months[-1]).replace("-", "")
    values = np.array([[_number(r[f]) for f in fields] for r in rows])
    assert np.isfinite(values).all()
    assert not np.allclose(values[0], values[1])  # each point its own network


class _CancelAfter(QgsProcessingFeedback):
    def __init__(self, percent):
        super().__init__()
        self.percent = percent
        self.progressChanged.connect(lambda v: v > self.percent and not self.isCanceled() and self.cancel())


def test_cancel_during_training_leaves_no_output(provider, tmp_path, series_csv):
    import processing

    _, src = series_csv
    out = {n: str(tmp_path / f"{n.lower()}.gpkg") for n in ("PREDICTIONS", "METRICS", "ATTENTION")}
    params = {
        "INPUT": str(src),
        **FAST,
        "EPOCHS": 200,
        "PATIENCE": 200,
        **out,
        "MODEL": str(tmp_path / "m.pt"),
    }
    feedback = _CancelAfter(10)
    messages = []
    feedback.pushInfo = messages.append
    with pytest.raises(QgsProcessingException):
        processing.run(
            "subsidencelab:amlstmsimulation", params, context=QgsProcessingContext(), feedback=feedback
        )
    assert feedback.isCanceled()
    assert sum("epoch" in m for m in messages) < 60  # stopped within an epoch of the cancel, not at 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.csv"]


def test_bad_field_and_missing_groundwater_name_the_parameter(provider, tmp_path, series_csv):
    import processing

    _, src = series_csv
    common = {
        "INPUT": str(src),
        **FAST,
        "PREDICTIONS": "TEMPORARY_OUTPUT",
        "METRICS": "TEMPORARY_OUTPUT",
        "ATTENTION": "TEMPORARY_OUTPUT",
        "MODEL": str(tmp_path / "m.pt"),
    }
    with pytest.raises(QgsProcessingException, match="GW_PREFIX"):
        processing.run("subsidencelab:amlstmsimulation", {**common, "GW_PREFIX": "level_"})
    with pytest.raises(QgsProcessingException, match="WINDOW"):
        processing.run("subsidencelab:amlstmsimulation", {**common, "WINDOW": 58})
    assert not (tmp_path / "m.pt").exists()


def test_without_torch_the_algorithm_is_listed_and_says_how_to_install(provider, monkeypatch):
    from qgis.core import QgsApplication

    monkeypatch.setattr(
        base,
        "import_failure",
        lambda m: "ModuleNotFoundError: No module named 'torch'" if m == "torch" else None,
    )
    for name in ("amlstmsimulation", "amlstmprediction"):
        alg = QgsApplication.processingRegistry().createAlgorithmById(f"subsidencelab:{name}")
        assert alg is not None
        ok, message = alg.canExecute()
        assert not ok
        assert "pip install torch==2.13.0" in message and "apt install python3-torch" in message


def test_chain_from_buffer_sampling_series_and_members(provider, study):  # noqa: F811 (fixture)
    """wellbuffersampling -> amlstmsimulation as a modeler chain would run it: the series table and
    the member points are taken as they are written (field names are the contract)."""
    import processing
    from test_alg_well_buffer_sampling import _files, _run, _wells

    area, ps_path, gw_path, folder = study
    wells_path, _ = _wells(folder / "chain_wells.gpkg", area, far=False)
    sampled = _run(ps_path, wells_path, RADIUS_M=300, GROUNDWATER=gw_path, **_files(folder / "chain"))
    out = {n: str(folder / f"chain_{n.lower()}.gpkg") for n in ("PREDICTIONS", "METRICS", "ATTENTION")}
    members_out = str(folder / "chain_members_amlstm.gpkg")
    processing.run(
        "subsidencelab:amlstmsimulation",
        {
            "INPUT": sampled["SERIES"],
            **FAST,
            **out,
            "MODEL": str(folder / "chain.pt"),
            "MEMBERS": sampled["MEMBERS"],
            "MEMBERS_OUTPUT": members_out,
        },
    )
    series = {(r["feature_id"], r["date"]): r["increment_mm"] for r in rows_of(sampled["SERIES"])}
    predictions = rows_of(out["PREDICTIONS"])
    assert {r["feature_id"] for r in predictions} == set(area.groundwater.well_ids.tolist())
    for r in predictions[:50]:
        assert r["observed_mm"] == pytest.approx(_number(series[(r["feature_id"], r["date"])]), abs=1e-6)
    layers = {r["layer"] for r in rows_of(out["ATTENTION"])}
    assert layers == set(area.groundwater.layers)
    members = rows_of(members_out)
    assert len(members) == len(rows_of(sampled["MEMBERS"]))
    assert any(n.startswith("amlstm_") for n in members[0])


def test_ensemble_and_members_start_reach_the_core(provider, tmp_path, series_csv, monkeypatch):
    """ENSEMBLE sets the number of draws the saved model holds; MEMBERS_START picks the per-PS
    start (cold by default, warm, auto) that core.simulate_points receives."""
    import processing

    from subsidence_lab.core import amlstm_simulation
    from subsidence_lab.core.amlstm_simulation import SimulationModel

    data, src = series_csv
    ps = PSDataset(
        ids=np.array([1, 2]),
        x=np.array([500000.0, 500010.0]),
        y=np.full(2, 4400000.0),
        dates=data.months,
        displacement_mm=np.outer([1.0, 1.2], np.nancumsum(data.increments_mm[0])),
        crs="EPSG:32650",
        attributes={"feature_id": np.array(["W0", "W0"])},
    )
    ps.displacement_mm -= ps.displacement_mm[:, :1]
    members = tmp_path / "members.gpkg"
    owner = {"feature_id": ps.attributes["feature_id"]}
    write_ps_file(str(members), ps, fields=owner, series=ps.displacement_mm)
    seen = []
    real = amlstm_simulation.simulate_points

    def spy(*args, **kwargs):
        seen.append(kwargs.get("warm_start", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(amlstm_simulation, "simulate_points", spy)
    for start, ensemble in ((None, 2), (1, 1), (2, 1)):
        params = {
            "INPUT": str(src),
            **FAST,
            "ENSEMBLE": ensemble,
            "PREDICTIONS": "TEMPORARY_OUTPUT",
            "METRICS": "TEMPORARY_OUTPUT",
            "ATTENTION": "TEMPORARY_OUTPUT",
            "MODEL": str(tmp_path / f"m{ensemble}{start}.pt"),
            "MEMBERS": str(members),
            "MEMBERS_OUTPUT": str(tmp_path / f"out{ensemble}{start}.gpkg"),
        }
        if start is not None:
            params["MEMBERS_START"] = start
        result = processing.run("subsidencelab:amlstmsimulation", params)
        assert SimulationModel.load(result["MODEL"]).config.ensemble == ensemble
    assert seen == [False, True, "auto"]
