"""The stack algorithms and the Dask scheduler parameter, through processing.run: results against
the in-memory core on the same numbers; a cluster on 127.0.0.1 gives the layer results unchanged."""

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("zarr")

from subsidence_lab.core import ps_io
from subsidence_lab.core.error_removal import remove_errors
from subsidence_lab.core.pca import decompose
from subsidence_lab.core.stack import open_stack
from subsidence_lab.core.synthetic import make_study_area


def _fields(path, *names):
    """The named fields of a layer as float arrays (NULL -> NaN), in feature order."""
    from osgeo import ogr

    dataset = ogr.Open(str(path))
    rows = [[f.GetField(n) for n in names] for f in dataset.GetLayer(0)]
    return {
        n: np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)
        for i, n in enumerate(names)
    }


@pytest.fixture(scope="module")
def bursts(tmp_path_factory):
    """Two EGMS-style CSV bursts with the same dates (no gaps in the second)."""
    folder = tmp_path_factory.mktemp("bursts")
    a = make_study_area(seed=5, n_points=700, n_dates=30, nan_fraction=0.02)
    b = make_study_area(seed=6, n_points=500, n_dates=30, nan_fraction=0.0).ps
    b.dates = a.ps.dates
    return [
        ps_io.write_ps_file(str(folder / "burst_1.csv"), a.ps, fields={"height": a.ps.z}),
        ps_io.write_ps_file(str(folder / "burst_2.csv"), b, fields={"height": b.z}),
    ], a


def test_stack_chain_equals_the_in_memory_core_per_frame(provider, bursts, tmp_path):
    import processing

    sources, area = bursts
    made = processing.run(
        "subsidencelab:convertpsstack",
        {"INPUTS": sources, "CHUNK_ROWS": 1000, "OUTPUT": str(tmp_path / "s.zarr")},
    )
    assert made["N_POINTS"] == 1200 and made["N_FRAMES"] == 2
    out = processing.run(
        "subsidencelab:stackpcaerrorremoval",
        {
            "STACK": made["OUTPUT"],
            "N_COMPONENTS": 6,
            "POLYNOMIAL": 1,
            "OUTPUT": str(tmp_path / "v.gpkg"),
            "COMPONENTS": str(tmp_path / "c.gpkg"),
            "CORRECTED": str(tmp_path / "corrected.zarr"),
        },
    )
    stack = open_stack(made["OUTPUT"])
    from osgeo import ogr

    dataset = ogr.Open(str(tmp_path / "v.gpkg"))
    definition = dataset.GetLayer(0).GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    del definition, dataset
    assert not [n for n in names if n.startswith("D20")]  # no date columns in the point layer
    layer = _fields(tmp_path / "v.gpkg", "velocity_mm_per_year", "stable", "PC1", "frame")
    corrected = open_stack(out["CORRECTED"])
    assert corrected.frames == stack.frames and np.array_equal(corrected.column("ids"), stack.column("ids"))
    for index, (_, r0, r1) in enumerate(stack.frames):
        X = stack.rows(r0, r1).astype(np.float64)
        x, y = stack.column("x")[r0:r1], stack.column("y")[r0:r1]
        dec = decompose(X, k=6, dates=stack.dates, x=x, y=y, z=stack.column("z")[r0:r1])
        ref = remove_errors(X, dec, dates=stack.dates, x=x, y=y, polynomial="plane", fit_mask="auto")
        got = layer["velocity_mm_per_year"][r0:r1]
        assert np.allclose(got, ref.velocity_mm_per_year, rtol=1e-10, atol=1e-12)
        assert np.array_equal(layer["stable"][r0:r1].astype(bool), ref.fit_mask)
        assert np.allclose(layer["PC1"][r0:r1], dec.component_maps_mm()[:, 0], rtol=1e-10, atol=1e-12)
        stored = corrected.rows(r0, r1)
        assert np.array_equal(np.isnan(stored), np.isnan(X))
        assert np.nanmax(np.abs(stored - ref.corrected_mm)) < 1e-4  # float32 storage
        assert set(layer["frame"][r0:r1].tolist()) == {index + 1}
    # Against the truth: the corrected velocities of the first burst beat the raw ones on bowls.
    truth = area.velocity_true_mm_per_year
    raw = ps_io.read_ps_file(sources[0])
    from subsidence_lab.core.error_removal import linear_velocity

    raw_err = np.sqrt(np.nanmean((linear_velocity(raw.displacement_mm, raw.dates)[0] - truth) ** 2))
    v = layer["velocity_mm_per_year"][: truth.size]
    assert np.sqrt(np.nanmean((v - truth - np.nanmedian(v - truth)) ** 2)) < raw_err + 0.5


def test_scheduler_parameter_sends_the_work_to_the_cluster(provider, dask_scheduler, bursts, tmp_path):
    import processing

    sources, _ = bursts
    params = {
        "INPUT": sources[0],
        "N_COMPONENTS": 5,
        "DECOMPOSITION": str(tmp_path / "d.npz"),
        "COMPONENTS": "TEMPORARY_OUTPUT",
        "TEMPORAL": "TEMPORARY_OUTPUT",
    }
    here = processing.run("subsidencelab:pcadecomposition", {**params, "OUTPUT": str(tmp_path / "a.gpkg")})
    there = processing.run(
        "subsidencelab:pcadecomposition",
        {
            **params,
            "OUTPUT": str(tmp_path / "b.gpkg"),
            "DECOMPOSITION": str(tmp_path / "e.npz"),
            "DASK_SCHEDULER": dask_scheduler,
        },
    )
    a = _read_layer_pcs(here["OUTPUT"])
    b = _read_layer_pcs(there["OUTPUT"])
    assert np.max(np.abs(a - b)) / np.max(np.abs(a)) < 1e-10
    removal = {"INPUT": sources[0], "DECOMPOSITION": there["DECOMPOSITION"], "POLYNOMIAL": 1}
    r1 = processing.run("subsidencelab:pcaerrorremoval", {**removal, "OUTPUT": str(tmp_path / "r1.gpkg")})
    r2 = processing.run(
        "subsidencelab:pcaerrorremoval",
        {**removal, "OUTPUT": str(tmp_path / "r2.gpkg"), "DASK_SCHEDULER": dask_scheduler},
    )
    v1 = _fields(r1["OUTPUT"], "velocity_mm_per_year")["velocity_mm_per_year"]
    v2 = _fields(r2["OUTPUT"], "velocity_mm_per_year")["velocity_mm_per_year"]
    assert np.max(np.abs(v1 - v2)) / np.max(np.abs(v1)) < 1e-10


def _read_layer_pcs(path):
    values = _fields(path, "PC1", "PC2", "PC3", "PC4", "PC5")
    return np.column_stack(list(values.values()))


def test_an_unreachable_scheduler_names_the_parameter(provider, bursts, tmp_path, monkeypatch):
    import processing
    from qgis.core import QgsProcessingException

    from subsidence_lab.processing_provider import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(QgsProcessingException, match="DASK_SCHEDULER: cannot reach"):
        processing.run(
            "subsidencelab:pcadecomposition",
            {
                "INPUT": bursts[0][0],
                "OUTPUT": str(tmp_path / "x.gpkg"),
                "DASK_SCHEDULER": "tcp://127.0.0.1:9",
                "COMPONENTS": "TEMPORARY_OUTPUT",
                "TEMPORAL": "TEMPORARY_OUTPUT",
                "DECOMPOSITION": str(tmp_path / "x.npz"),
            },
        )
    assert not (tmp_path / "x.gpkg").exists() and not (tmp_path / "x.npz").exists()
