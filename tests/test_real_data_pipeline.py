"""The PCA chain on a real StaMPS SBAS export (Maoxian landslide, 608 points x 38 dates, WGS84).

No truth here, so the checks are what a geodesist would look at: the fast-moving part of the
slope (the quarter of points StaMPS itself rates fastest, from the export's own velocity column)
must still move faster than the rest after correction, by as much as before; velocities are
preserved point by point; their standard deviation drops, as seed 003 reports (2.2 -> 0.9 mm/yr
in Xuzhou). The landslide outline that ships with the data covers 597 of the 608 points, so it
cannot split moving from stable ground.
"""

import numpy as np
import pytest

from subsidence_lab.core.ps_io import read_ps_file
from subsidence_lab.core.ps_ops import velocity


@pytest.fixture(scope="module")
def chain(provider, realdata_dir, tmp_path_factory):
    import processing

    out = tmp_path_factory.mktemp("maoxian")
    sbas = str(realdata_dir / "stamps-maoxian" / "Maoxian_SBAS.csv")
    pca = processing.run("subsidencelab:pcadecomposition", {
        "INPUT": sbas, "N_COMPONENTS": 0, "OUTPUT": str(out / "pc.gpkg"),
        "COMPONENTS": str(out / "components.csv"), "TEMPORAL": str(out / "temporal.csv"),
        "DECOMPOSITION": str(out / "dec.npz"),
    })
    corrected = processing.run("subsidencelab:pcaerrorremoval", {
        "INPUT": sbas, "DECOMPOSITION": pca["DECOMPOSITION"], "POLYNOMIAL": 2,
        "OUTPUT": str(out / "corr.gpkg"),
    })
    return read_ps_file(sbas), read_ps_file(corrected["OUTPUT"], date_fields="D"), pca


def test_pca_chain_on_real_sbas_keeps_the_landslide_and_lowers_velocity_scatter(chain):
    raw, corrected, pca = chain
    assert corrected.n_points == raw.n_points == 608 and corrected.n_dates == raw.n_dates == 38
    assert 2 <= pca["K_USED"] == pca["SUGGESTED_K"] <= 10
    order = {v: i for i, v in enumerate(corrected.ids.tolist())}
    series = corrected.displacement_mm[[order[i] for i in raw.ids.tolist()]]

    v_raw, std_raw = velocity(raw.displacement_mm, raw.dates)
    v_cor, std_cor = velocity(series, raw.dates)
    assert np.corrcoef(v_raw, v_cor)[0, 1] > 0.97
    assert np.mean(std_cor) < 0.75 * np.mean(std_raw)

    stamps_velocity = raw.attributes["velocity_mm_per_year"]
    fast = stamps_velocity < np.percentile(stamps_velocity, 25)
    contrast_raw = v_raw[~fast].mean() - v_raw[fast].mean()
    contrast_cor = v_cor[~fast].mean() - v_cor[fast].mean()
    assert contrast_raw > 5.0  # mm/yr: the fast part moves away from the satellite
    assert abs(contrast_cor - contrast_raw) < 0.1 * contrast_raw
