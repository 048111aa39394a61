"""Long algorithms stop when the user cancels, and leave no half-written output behind."""

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

from subsidence_lab.core.ps_io import write_ps_file
from subsidence_lab.core.synthetic import make_study_area


class _CancelAfter(QgsProcessingFeedback):
    """Cancels as soon as progress passes ``percent``."""

    def __init__(self, percent):
        super().__init__()
        self.percent = percent
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, value):
        if value > self.percent and not self.isCanceled():
            self.cancel()


@pytest.mark.parametrize(
    ("alg", "extra"),
    [
        ("subsidencelab:pcadecomposition", {"N_COMPONENTS": 6, "COMPONENTS": "TEMPORARY_OUTPUT",
                                            "TEMPORAL": "TEMPORARY_OUTPUT"}),
        ("subsidencelab:pcaerrorremoval", {"POLYNOMIAL": 3}),
        ("subsidencelab:spatiotemporalfilter", {}),
    ],
)
def test_cancel_stops_the_algorithm_and_writes_nothing(provider, tmp_path, alg, extra):
    import processing

    area = make_study_area(seed=6, n_points=3000, n_dates=40)
    src = tmp_path / "ps.gpkg"
    write_ps_file(str(src), area.ps, fields={"height": area.ps.z}, series=area.ps.displacement_mm)
    before = src.read_bytes()
    out = tmp_path / "out.gpkg"
    params = {"INPUT": str(src), "OUTPUT": str(out), **extra}
    if alg.endswith("pcadecomposition"):
        params["DECOMPOSITION"] = str(tmp_path / "dec.npz")
    feedback = _CancelAfter(5)
    with pytest.raises(QgsProcessingException):
        processing.run(alg, params, context=QgsProcessingContext(), feedback=feedback)
    assert feedback.isCanceled()
    assert not out.exists()
    assert not (tmp_path / "dec.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ps.gpkg"]  # no temp leftovers either
    assert src.read_bytes() == before  # the input is untouched
