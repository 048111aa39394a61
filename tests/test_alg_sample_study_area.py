"""subsidencelab:samplestudyarea writes the synthetic study area (METHODS.md 6) to files."""

import numpy as np
import pytest

from subsidence_lab.core.synthetic import LAYERS, TRUTH_NAMES, load_truth, make_study_area


def _run(tmp_path, **extra):
    import processing

    tmp_path.mkdir(parents=True, exist_ok=True)
    params = {
        "SEED": 5,
        "N_POINTS": 150,
        "N_DATES": 20,
        "NAN_FRACTION": 0.1,
        "OUTPUT_PS": str(tmp_path / "ps.gpkg"),
        "OUTPUT_WELLS": str(tmp_path / "wells.gpkg"),
        "OUTPUT_GROUNDWATER": str(tmp_path / "groundwater.gpkg"),
        "OUTPUT_TRUTH": str(tmp_path / "truth.npz"),
    }
    params.update(extra)
    return processing.run("subsidencelab:samplestudyarea", params)


def _layer(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return layer


def _value(v):
    from qgis.PyQt.QtCore import QVariant

    if isinstance(v, QVariant):
        return None if v.isNull() else v.value()
    return v


def test_outputs_written_and_match_the_truth(provider, tmp_path):
    result = _run(tmp_path)
    area = make_study_area(seed=5, n_points=150, n_dates=20, nan_fraction=0.1)
    ps = area.ps

    layer = _layer(result["OUTPUT_PS"])
    assert layer.featureCount() == 150
    assert layer.crs().authid() == "EPSG:32650"
    names = layer.fields().names()
    date_fields = [n for n in names if n.startswith("D") and n[1:].isdigit()]
    assert date_fields == [f"D{str(d).replace('-', '')}" for d in ps.dates]
    assert len(date_fields) == 20
    assert {"id", "height", "incidence_angle"} <= set(names)

    truth = load_truth(result["OUTPUT_TRUTH"])
    observed = sum(truth["truth"][name] for name in TRUTH_NAMES)
    observed[truth["nan_mask"]] = np.nan
    rows = {}
    for feature in layer.getFeatures():
        rows[int(feature["id"])] = (
            feature.geometry().asPoint(),
            float(feature["height"]),
            float(feature["incidence_angle"]),
            [_value(feature[n]) for n in date_fields],
        )
    assert sorted(rows) == list(range(1, 151))
    index = {int(i): k for k, i in enumerate(truth["ids"])}
    for point_id, (point, height, incidence, series) in rows.items():
        k = index[point_id]
        assert point.x() == pytest.approx(truth["x"][k], abs=1e-6)
        assert point.y() == pytest.approx(truth["y"][k], abs=1e-6)
        assert height == pytest.approx(ps.z[k]) and incidence == pytest.approx(ps.incidence_deg[k])
        values = np.array([np.nan if v is None else v for v in series], dtype=float)
        np.testing.assert_array_equal(np.isnan(values), truth["nan_mask"][k])
        np.testing.assert_allclose(values, observed[k], atol=1e-9, equal_nan=True)
    gaps = truth["nan_mask"][:, 1:].mean()
    assert abs(gaps - 0.1) <= 1.0 / (150 * 19)
    np.testing.assert_array_equal(truth["stable_mask"], area.stable_mask)
    assert truth["dominant_layer"] == "confined_2"

    wells = _layer(result["OUTPUT_WELLS"])
    gw = area.groundwater
    assert wells.featureCount() == gw.n_wells
    assert wells.crs().authid() == "EPSG:32650"
    for feature in wells.getFeatures():
        w = list(gw.well_ids).index(feature["well_id"])
        assert feature.geometry().asPoint().x() == pytest.approx(gw.x[w])
        for j, name in enumerate(LAYERS):
            assert feature[f"screen_depth_{name}_m"] == pytest.approx(gw.screen_depth_m[w, j])

    table = _layer(result["OUTPUT_GROUNDWATER"])
    assert table.featureCount() == gw.n_wells * gw.dates.size
    assert table.fields().names()[-6:] == ["well_id", "date", *LAYERS]
    levels = {}
    for feature in table.getFeatures():
        date = _value(feature["date"])
        iso = date.toString("yyyy-MM-dd") if hasattr(date, "toString") else str(date)[:10]
        levels[(feature["well_id"], iso)] = [feature[name] for name in LAYERS]
    w, t = 2, 17
    key = (str(gw.well_ids[w]), str(gw.dates[t]))
    np.testing.assert_allclose(levels[key], gw.levels_m[w, :, t], atol=1e-9)


def test_same_seed_same_file_and_bad_input(provider, tmp_path):
    from qgis.core import QgsProcessingException

    first = _run(tmp_path / "a", SEED=11, N_POINTS=40, N_DATES=8, NAN_FRACTION=0.0)
    second = _run(
        tmp_path / "b",
        SEED=11,
        N_POINTS=40,
        N_DATES=8,
        NAN_FRACTION=0.0,
        DOMINANT_LAYER=LAYERS.index("confined_3"),
    )
    a, b = load_truth(first["OUTPUT_TRUTH"]), load_truth(second["OUTPUT_TRUTH"])
    assert not a["nan_mask"].any()
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["dates"], b["dates"])
    assert b["dominant_layer"] == "confined_3" and b["params"]["dominant_layer"] == "confined_3"
    assert np.array_equal(a["truth"]["noise"], b["truth"]["noise"])
    assert not np.array_equal(a["truth"]["deformation"], b["truth"]["deformation"])
    # Out-of-range values are refused before anything is written.
    with pytest.raises(QgsProcessingException):
        _run(tmp_path / "c", N_POINTS=5)
    assert not (tmp_path / "c" / "truth.npz").exists()
