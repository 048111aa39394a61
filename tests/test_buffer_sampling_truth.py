"""Buffer sampling scored against the truth of the synthetic generators (issue 10, acceptance 2).

For every well: the members are found here by brute force (all distances), the truth is the
mean of the members' true vertical series, and the noise level is the RMS of observed minus
true vertical displacement of those members (the generator's errors where the well is; the
atmosphere is correlated over kilometres, so it does not average out within 300 m). The
sampled series must stay within it, and with a noise-free input it must be the members' mean
exactly; the monthly increments likewise, against the truth interpolated here with
``np.interp``.
"""

import numpy as np
import pytest

from subsidence_lab.core.buffer_sampling import sample_buffers
from subsidence_lab.core.feature_geometry import FeatureGeometry
from subsidence_lab.core.monthly import feature_series
from subsidence_lab.core.ps_ops import los_to_vertical

RADIUS_M = 300.0


def _study_area():
    from subsidence_lab.core.synthetic import make_study_area

    area = make_study_area(seed=4, n_points=5000, n_dates=54, nan_fraction=0.02)
    observed = los_to_vertical(area.ps)
    gw = area.groundwater
    return observed, area.deformation_vertical_mm, gw.x, gw.y, gw.well_ids


GENERATORS = {"study_area": _study_area}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def generated(request):
    return GENERATORS[request.param]()


def _months_of(dates):
    first = dates[0].astype("datetime64[M]")
    if first.astype("datetime64[D]") < dates[0]:
        first += 1
    return np.arange(first, dates[-1].astype("datetime64[M]") + 1).astype("datetime64[D]")


def test_well_series_match_the_members_truth(generated):
    ps, truth, wx, wy, ids = generated
    geometries = [FeatureGeometry.point(x, y) for x, y in zip(wx, wy)]
    observed = sample_buffers(ps.x, ps.y, ps.displacement_mm, ps.dates, geometries, ids, RADIUS_M)
    clean = sample_buffers(ps.x, ps.y, truth, ps.dates, geometries, ids, RADIUS_M)
    t = (ps.dates - ps.dates[0]).astype(float)
    months = _months_of(ps.dates)
    tm = (months - ps.dates[0]).astype(float)
    monthly_obs = feature_series(observed, monthly=True)
    monthly_clean = feature_series(clean, monthly=True)
    assert monthly_obs.dates.tolist() == months.tolist()
    checked = 0
    for i, (x, y) in enumerate(zip(wx, wy)):
        members = np.flatnonzero(np.hypot(ps.x - x, ps.y - y) <= RADIUS_M)
        assert observed.member_ps[observed.member_feature == i].tolist() == members.tolist()
        if members.size == 0:
            continue
        checked += 1
        true_mean = truth[members].mean(axis=0)
        noise_level = float(np.sqrt(np.nanmean((ps.displacement_mm[members] - truth[members]) ** 2)))
        np.testing.assert_allclose(clean.value_mm[i], true_mean, atol=1e-9)
        error = observed.value_mm[i] - true_mean
        assert np.sqrt(np.mean(error**2)) <= noise_level, (ids[i], members.size)
        true_monthly = np.interp(tm, t, true_mean)
        true_increment = np.diff(true_monthly)
        np.testing.assert_allclose(monthly_clean.increment_mm[i, 1:], true_increment, atol=1e-9)
        increment_error = monthly_obs.increment_mm[i, 1:] - true_increment
        assert np.sqrt(np.nanmean(increment_error**2)) <= noise_level
    assert checked >= 5
    # Not vacuous: some well sits in a subsidence bowl, sinking far more than any noise level.
    area_noise = float(np.sqrt(np.nanmean((ps.displacement_mm - truth) ** 2)))
    assert np.nanmin(np.nansum(monthly_clean.increment_mm, axis=1)) < -10 * area_noise
