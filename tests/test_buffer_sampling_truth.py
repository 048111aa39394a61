"""Buffer sampling scored against the truth of both synthetic generators (issue 10, acceptance 2).

For every well of :mod:`core.synthetic` and of :mod:`core.synthetic_urban` (built differently:
clustered city, outages, date-independent errors): the members are found here by brute force
(all distances), the truth at each date is the mean of the true vertical series of the members
observed at that date, and the noise level is the RMS of observed minus true vertical
displacement of those members (the generator's errors where the well is: the atmosphere is
correlated over kilometres, so it does not average out within 300 m).

* The sampled series stays within the noise level of the truth, and with the truth as input
  it *is* the members' mean (to rounding).
* Monthly increments: the truth's are from the members' complete true mean interpolated here
  with ``np.interp`` to the first of each month; the sampled increments of the truth equal
  them wherever the gap limit leaves a month, and those of the observed series stay within
  the noise level of a difference of two values (sqrt(2) times the noise level).
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

    return make_study_area(seed=4, n_points=5000, n_dates=54, nan_fraction=0.02)


def _urban_area():
    from subsidence_lab.core.synthetic_urban import make_urban_area

    return make_urban_area(seed=2, n_points=5000, n_dates=60, nan_fraction=0.02)


GENERATORS = {"study_area": _study_area, "urban_area": _urban_area}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def generated(request):
    area = GENERATORS[request.param]()
    gw = area.groundwater
    return los_to_vertical(area.ps), area.deformation_vertical_mm, gw.x, gw.y, gw.well_ids


def _months_of(dates):
    first = dates[0].astype("datetime64[M]")
    if first.astype("datetime64[D]") < dates[0]:
        first += 1
    return np.arange(first, dates[-1].astype("datetime64[M]") + 1).astype("datetime64[D]")


def test_well_series_match_the_members_truth(generated):
    ps, truth, wx, wy, ids = generated
    geometries = [FeatureGeometry.point(x, y) for x, y in zip(wx, wy)]
    observed = sample_buffers(ps.x, ps.y, ps.displacement_mm, ps.dates, geometries, ids, RADIUS_M)
    gappy_truth = np.where(np.isnan(ps.displacement_mm), np.nan, truth)
    clean = sample_buffers(ps.x, ps.y, gappy_truth, ps.dates, geometries, ids, RADIUS_M)
    complete = sample_buffers(ps.x, ps.y, truth, ps.dates, geometries, ids, RADIUS_M)
    t = (ps.dates - ps.dates[0]).astype(float)
    months = _months_of(ps.dates)
    tm = (months - ps.dates[0]).astype(float)
    monthly_obs = feature_series(observed, monthly=True)
    monthly_truth = feature_series(complete, monthly=True)
    assert monthly_obs.dates.tolist() == months.tolist()
    checked = 0
    for i, (x, y) in enumerate(zip(wx, wy)):
        members = np.flatnonzero(np.hypot(ps.x - x, ps.y - y) <= RADIUS_M)
        assert observed.member_ps[observed.member_feature == i].tolist() == members.tolist()
        if members.size == 0:
            assert observed.ps_count[i] == 0 and np.all(np.isnan(observed.value_mm[i]))
            continue
        checked += 1
        seen = ~np.isnan(ps.displacement_mm[members])
        true_mean = np.where(seen, truth[members], 0.0).sum(axis=0) / seen.sum(axis=0)
        np.testing.assert_allclose(clean.value_mm[i], true_mean, atol=1e-9)
        noise_level = float(np.sqrt(np.nanmean((ps.displacement_mm[members] - truth[members]) ** 2)))
        error = observed.value_mm[i] - true_mean
        assert np.sqrt(np.mean(error**2)) <= noise_level, (ids[i], members.size)
        true_increment = np.diff(np.interp(tm, t, truth[members].mean(axis=0)))
        kept = ~np.isnan(monthly_truth.increment_mm[i, 1:])
        assert kept.mean() > 0.8
        np.testing.assert_allclose(monthly_truth.increment_mm[i, 1:][kept], true_increment[kept], atol=1e-9)
        # An increment is the difference of two values: its noise level is sqrt(2) times theirs
        # when the errors are independent from date to date (urban generator).
        increment_error = monthly_obs.increment_mm[i, 1:] - true_increment
        assert np.sqrt(np.nanmean(increment_error**2)) <= np.sqrt(2) * noise_level
    assert checked >= 5
    # Not vacuous: some well sits in a subsidence bowl, sinking far more than any noise level.
    area_noise = float(np.sqrt(np.nanmean((ps.displacement_mm - truth) ** 2)))
    assert np.nanmin(np.nansum(monthly_truth.increment_mm, axis=1)) < -10 * area_noise
