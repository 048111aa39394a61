"""subsidencelab:spatiotemporalfilter: output equals the core filter; bad windows are refused."""

import numpy as np
import pytest

from subsidence_lab.core import ps_io
from subsidence_lab.core.error_removal import linear_velocity
from subsidence_lab.core.spatiotemporal_filter import spatiotemporal_filter
from subsidence_lab.core.synthetic import make_study_area

ALG = "subsidencelab:spatiotemporalfilter"


def _value(v):
    return np.nan if v is None or (hasattr(v, "isNull") and v.isNull()) else v


def test_filter_output_matches_the_core_and_reduces_stable_area_error(provider, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer

    area = make_study_area(seed=2, n_points=800, n_dates=30, nan_fraction=0.02)
    ps = area.ps
    path = ps_io.write_ps_file(tmp_path / "ps.gpkg", ps)
    result = processing.run(
        ALG,
        {
            "INPUT": str(path),
            "WINDOW_DAYS": 100,
            "WINDOW_M": 80,
            "WRITE_REMOVED": True,
            "OUTPUT": str(tmp_path / "filtered.gpkg"),
        },
    )
    core = spatiotemporal_filter(ps.displacement_mm, ps.x, ps.y, ps.dates, window_days=100, window_m=80)
    layer = QgsVectorLayer(result["OUTPUT"], "out", "ogr")
    names = [f.name() for f in layer.fields()]
    rows = [dict(zip(names, f.attributes())) for f in layer.getFeatures()]
    order = np.argsort([r["id"] for r in rows])
    stamps = [str(d).replace("-", "") for d in ps.dates]
    filtered = np.array([[_value(r[f"D{s}"]) for s in stamps] for r in rows], dtype=float)[order]
    removed = np.array([[_value(r[f"A{s}"]) for s in stamps] for r in rows], dtype=float)[order]
    velocity = np.array([_value(r["velocity_mm_per_year"]) for r in rows], dtype=float)[order]
    np.testing.assert_allclose(filtered, core.corrected_mm, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(removed, core.atmosphere_mm, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(velocity, linear_velocity(core.corrected_mm, ps.dates)[0], atol=1e-9)
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    stable = area.stable_mask
    before = np.sqrt(np.nanmean((ps.displacement_mm - truth)[stable] ** 2))
    after = np.sqrt(np.nanmean((filtered - truth)[stable] ** 2))
    assert after < 0.8 * before


def test_filter_refuses_a_zero_spatial_window(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    area = make_study_area(seed=2, n_points=200, n_dates=12, nan_fraction=0.0)
    path = ps_io.write_ps_file(tmp_path / "ps.gpkg", area.ps)
    with pytest.raises(QgsProcessingException, match="WINDOW_M"):
        processing.run(ALG, {"INPUT": str(path), "WINDOW_M": 0.0, "OUTPUT": "TEMPORARY_OUTPUT"})
