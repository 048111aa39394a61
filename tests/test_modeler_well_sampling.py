"""The graphical modeler takes wellbuffersampling's inputs and outputs directly (issue 10).

A model: preparepsdataset (LOS -> vertical) -> wellbuffersampling on its output -> QGIS's own
"Extract by attribute" on the series table (one well). The model's rows must be the rows of the
same steps run one by one, and the vertical series must be the LOS series / cos(incidence).
"""

import numpy as np
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterFeatureSource,
    QgsVectorLayer,
)
from test_alg_well_buffer_sampling import _null, _wells
from test_modeler_chain import _child

from subsidence_lab.core.ps_io import write_ps_file
from subsidence_lab.core.synthetic import make_study_area


def _series_rows(path):
    layer = QgsVectorLayer(path, "series", "ogr")
    names = layer.fields().names()
    rows = [dict(zip(names, f.attributes())) for f in layer.getFeatures()]
    value = [None if _null(r["value_mm"]) else r["value_mm"] for r in rows]
    return sorted(
        ((r["feature_id"], r["date"], v, r["count"]) for r, v in zip(rows, value)), key=lambda r: r[:2]
    )


def test_prepare_then_sample_then_extract_as_a_model(provider, tmp_path):
    import processing

    area = make_study_area(seed=7, n_points=1500, n_dates=54, nan_fraction=0.0)
    ps = area.ps
    src = write_ps_file(str(tmp_path / "ps.gpkg"), ps, fields={"incidence_angle": ps.incidence_deg})
    wells, ids = _wells(tmp_path / "wells.gpkg", area, far=False)
    well = ids[0]

    model = QgsProcessingModelAlgorithm("well_chain", "tests")
    for name in ("ps", "wells"):
        model.addModelParameter(
            QgsProcessingParameterFeatureSource(name, name), QgsProcessingModelParameter(name)
        )
    static = QgsProcessingModelChildParameterSource.fromStaticValue
    from_param = QgsProcessingModelChildParameterSource.fromModelParameter
    from_child = QgsProcessingModelChildParameterSource.fromChildOutput
    model.addChildAlgorithm(
        _child("subsidencelab:preparepsdataset", "prep", {"INPUT": from_param("ps"), "DIRECTION": static(1)})
    )
    sample = _child("subsidencelab:wellbuffersampling", "sample", {
        "INPUT": from_child("prep", "OUTPUT"), "FEATURES": from_param("wells"),
        "FEATURE_ID_FIELD": static("well_id"), "RADIUS_M": static(400.0),
    })  # fmt: skip
    model.addChildAlgorithm(sample)
    extract = _child("native:extractbyattribute", "extract", {
        "INPUT": from_child("sample", "SERIES"), "FIELD": static("feature_id"), "OPERATOR": static(0),
        "VALUE": static(well),
    })  # fmt: skip
    output = QgsProcessingModelOutput("one_well")
    output.setChildId("extract")
    output.setChildOutputName("OUTPUT")
    extract.setModelOutputs({"one_well": output})
    model.addChildAlgorithm(extract)
    assert model.dependsOnChildAlgorithms("extract") == {"prep", "sample"}

    result = processing.run(
        model,
        {"ps": src, "wells": wells, "extract:one_well": str(tmp_path / "model.gpkg")},
        context=QgsProcessingContext(),
    )
    model_rows = _series_rows(result["extract:one_well"])

    prepared = processing.run(
        "subsidencelab:preparepsdataset",
        {"INPUT": src, "DIRECTION": 1, "OUTPUT": str(tmp_path / "vertical.gpkg")},
    )["OUTPUT"]
    by_hand = processing.run(
        "subsidencelab:wellbuffersampling",
        {"INPUT": prepared, "FEATURES": wells, "FEATURE_ID_FIELD": "well_id", "RADIUS_M": 400.0,
         "SERIES": str(tmp_path / "series.gpkg"), "MEMBERS": "TEMPORARY_OUTPUT",
         "OUTPUT_FEATURES": "TEMPORARY_OUTPUT"},
    )  # fmt: skip
    hand_rows = [r for r in _series_rows(by_hand["SERIES"]) if r[0] == well]
    assert model_rows == hand_rows and len(model_rows) > 10

    # The model sampled the vertical series: LOS / cos(incidence), averaged over the members.
    j = list(area.groundwater.well_ids).index(well)
    members = np.hypot(ps.x - area.groundwater.x[j], ps.y - area.groundwater.y[j]) <= 400.0
    vertical = ps.displacement_mm[members] / np.cos(np.deg2rad(ps.incidence_deg[members]))[:, None]
    months = np.array([r[1] for r in model_rows], dtype="datetime64[D]")
    t = (ps.dates - ps.dates[0]).astype(float)
    expected = np.interp((months - ps.dates[0]).astype(float), t, vertical.mean(axis=0))
    value = np.array([np.nan if r[2] is None else r[2] for r in model_rows], dtype=float)
    ok = np.isfinite(value)
    assert ok.mean() > 0.8
    np.testing.assert_allclose(value[ok], expected[ok], atol=1e-6)
