"""pcadecomposition -> pcaerrorremoval chain in a graphical-modeler model, without recomputing.

The model is built as the modeler builds it: the error removal's DECOMPOSITION input is the
decomposition step's DECOMPOSITION output. The run must use that file (its log says so) and give
the same corrected series as the two algorithms run one after the other by hand.
"""

import numpy as np
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterFeatureSource,
)

from subsidence_lab.core.ps_io import read_ps_file, write_ps_file
from subsidence_lab.core.synthetic import make_study_area


class _Log(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):
        self.lines.append(info)


def _child(alg_id, child_id, sources):
    child = QgsProcessingModelChildAlgorithm(alg_id)
    child.setChildId(child_id)
    for name, source in sources.items():
        child.addParameterSources(name, [source])
    return child


def test_pca_then_error_removal_as_a_model(provider, tmp_path):
    import processing

    area = make_study_area(seed=5, n_points=800, n_dates=36)
    src = str(tmp_path / "ps.gpkg")
    write_ps_file(src, area.ps, series=area.ps.displacement_mm)

    model = QgsProcessingModelAlgorithm("pca_chain", "tests")
    model.addModelParameter(
        QgsProcessingParameterFeatureSource("ps", "PS points"), QgsProcessingModelParameter("ps")
    )
    static = QgsProcessingModelChildParameterSource.fromStaticValue
    from_param = QgsProcessingModelChildParameterSource.fromModelParameter
    pca = _child(
        "subsidencelab:pcadecomposition", "pca", {"INPUT": from_param("ps"), "N_COMPONENTS": static(6)}
    )
    model.addChildAlgorithm(pca)
    err = _child("subsidencelab:pcaerrorremoval", "err", {
        "INPUT": from_param("ps"),
        "DECOMPOSITION": QgsProcessingModelChildParameterSource.fromChildOutput("pca", "DECOMPOSITION"),
        "POLYNOMIAL": static(2),
    })
    out = QgsProcessingModelOutput("corrected")
    out.setChildId("err")
    out.setChildOutputName("OUTPUT")
    err.setModelOutputs({"corrected": out})
    err.setDependencies([])
    model.addChildAlgorithm(err)
    assert model.dependsOnChildAlgorithms("err") == {"pca"}

    log = _Log()
    result = processing.run(model, {"ps": src, "err:corrected": str(tmp_path / "model.gpkg")},
                            context=QgsProcessingContext(), feedback=log)
    assert any(line.startswith("Decomposition file: k = 6") for line in log.lines), log.lines
    assert not any(line.startswith("Decomposed here") for line in log.lines)

    by_hand = processing.run("subsidencelab:pcadecomposition", {
        "INPUT": src, "N_COMPONENTS": 6, "OUTPUT": "TEMPORARY_OUTPUT", "COMPONENTS": "TEMPORARY_OUTPUT",
        "TEMPORAL": "TEMPORARY_OUTPUT", "DECOMPOSITION": str(tmp_path / "dec.npz"),
    })
    corrected = processing.run("subsidencelab:pcaerrorremoval", {
        "INPUT": src, "DECOMPOSITION": by_hand["DECOMPOSITION"], "POLYNOMIAL": 2,
        "OUTPUT": str(tmp_path / "hand.gpkg"),
    })
    model_ps = read_ps_file(result["err:corrected"], date_fields="D")
    hand_ps = read_ps_file(corrected["OUTPUT"], date_fields="D")
    assert model_ps.n_points == area.ps.n_points and model_ps.n_dates == area.ps.n_dates
    np.testing.assert_array_equal(model_ps.ids, hand_ps.ids)
    np.testing.assert_allclose(model_ps.displacement_mm, hand_ps.displacement_mm, atol=1e-9, equal_nan=True)
