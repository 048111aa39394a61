"""Issue 8, acceptance 2: ``pcaerrorremoval`` with EVERY default on the real StaMPS exports of
../shared/realdata (PS and SBAS, Maoxian landslide). The EGMS L2b burst, read from its ZIP, is run
with every default in tests/test_alg_units_and_exports.py, which also checks its bars
(correlation with ``mean_velocity`` >= 0.99, median velocity shift < 0.2 mm/yr).
"""

import numpy as np
import pytest

from subsidence_lab.core.ps_io import read_ps_file
from subsidence_lab.core.ps_ops import velocity

EXPORTS = {
    "stamps_ps": "stamps-maoxian/Maoxian_PS.csv",
    "stamps_sbas": "stamps-maoxian/Maoxian_SBAS.csv",
}


@pytest.fixture(scope="module")
def corrected(provider, realdata_dir, tmp_path_factory):
    import processing

    out_dir = tmp_path_factory.mktemp("real_defaults")
    runs = {}
    for name, relative in EXPORTS.items():
        path = str(realdata_dir / relative)
        params = {"INPUT": path, "OUTPUT": str(out_dir / f"{name}.gpkg")}  # every other parameter default
        result = processing.run("subsidencelab:pcaerrorremoval", params)
        runs[name] = (read_ps_file(path), read_ps_file(result["OUTPUT"], date_fields="D"), result)
    return runs


def _aligned(raw, out):
    order = {key: i for i, key in enumerate(np.asarray(out.ids).astype(str).tolist())}
    rows = [order[key] for key in np.asarray(raw.ids).astype(str).tolist()]
    return out.displacement_mm[rows], np.asarray(out.attributes["removed_velocity_mm_per_year"], float)[rows]


@pytest.mark.parametrize("name", list(EXPORTS))
def test_defaults_run_on_every_real_export(corrected, name):
    raw, out, result = corrected[name]
    assert out.n_points == raw.n_points and out.n_dates == raw.n_dates
    series, removed_v = _aligned(raw, out)
    v_raw, std_raw = velocity(raw.displacement_mm, raw.dates)
    v_cor, std_cor = velocity(series, raw.dates)
    assert np.all(np.isfinite(v_cor))
    # What was removed, per point, is written and is what the velocities lost.
    np.testing.assert_allclose(removed_v, v_raw - v_cor, atol=1e-6)
    assert np.mean(std_cor) <= np.mean(std_raw) + 1e-9
    assert np.corrcoef(v_raw, v_cor)[0, 1] > 0.95
