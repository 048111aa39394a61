"""core.stable_ground and the reference of core.error_removal on hand-made scenes with known truth."""

import numpy as np
import pytest

from subsidence_lab.core.error_removal import remove_errors
from subsidence_lab.core.pca import decompose
from subsidence_lab.core.ps_ops import velocity
from subsidence_lab.core.stable_ground import (
    automatic_stable_ground,
    removed_trend_check,
    select_stable_ground,
    self_report,
)

DATES = np.datetime64("2018-01-03") + np.cumsum(np.r_[0, np.tile([12, 12, 24], 20)])[:60]
YEARS = (DATES - DATES[0]).astype(np.int64) / 365.25


def _scene(seed=0, m=3000, regional_mm_per_year=0.0, noise_mm=1.5):
    """A bowl (-40 mm/yr) with a fringe (-1.5 mm/yr at the bowl's edge, fading to 0 at 3 km), a
    majority of points on subsiding ground, date-independent ramps and noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 12_000, m)
    y = rng.uniform(0, 12_000, m)
    # Two thirds of the points crowd the bowl (a city over the pumped aquifer).
    crowd = rng.random(m) < 0.66
    x[crowd] = 4000 + rng.normal(0, 900, crowd.sum())
    y[crowd] = 5000 + rng.normal(0, 900, crowd.sum())
    r = np.hypot(x - 4000, y - 5000)
    core = np.where(r < 1200, (1 - (r / 1200) ** 2) ** 2, 0.0)
    fringe = np.where(r < 3000, (1 - (r / 3000) ** 2) ** 2, 0.0)
    rate = -40.0 * core - 1.5 * fringe
    truth = np.outer(rate + regional_mm_per_year, YEARS)
    xc, yc = (x - 6000) / 6000, (y - 6000) / 6000
    ramps = np.outer(xc, rng.normal(0, 2, YEARS.size)) + np.outer(yc, rng.normal(0, 2, YEARS.size))
    errors = ramps + rng.normal(0, noise_mm, (m, YEARS.size))
    errors[:, 0] = 0.0
    return x, y, truth, truth + errors, rate, fringe


def test_significance_and_margin_keep_the_fringe_out_where_a_fixed_rule_does_not():
    x, y, truth, observed, rate, fringe = _scene()
    ground = automatic_stable_ground(observed, DATES, x, y, polynomial="plane")
    truly_stable = fringe == 0
    assert ground.usable and not ground.relaxed
    # What it keeps of the fringe is its fading tail: < 0.3 mm/yr, 0.02 on average.
    assert truly_stable[ground.mask].mean() > 0.8
    assert np.mean(np.abs(rate[ground.mask]) > 0.3) < 0.01
    assert np.abs(rate[ground.mask]).mean() < 0.02
    assert ground.mask[truly_stable].mean() > 0.9  # and nearly all of the stable ground is used
    # The fixed "within 2 mm/yr of the median" rule takes the fringe as stable ground.
    v, _ = velocity(observed, DATES)
    fixed = np.abs(v - np.median(v)) < 2.0
    assert truly_stable[fixed].mean() < 0.6 and np.abs(rate[fixed]).mean() > 0.3
    # The reference velocity is the stable ground's, not the median of a mostly subsiding city.
    assert abs(ground.reference_velocity_mm_per_year) < 0.2 < abs(np.median(v))


def test_selection_rejects_bad_input_and_falls_back_when_nothing_is_stable():
    x, y, _, observed, _, _ = _scene(m=400)
    v, se = velocity(observed, DATES)
    with pytest.raises(ValueError, match="significance"):
        select_stable_ground(v, se, x, y, significance=0)
    with pytest.raises(ValueError, match="velocity"):
        select_stable_ground(np.full(v.size, np.nan), se, x, y)
    everything_moves = select_stable_ground(np.linspace(-50, 50, v.size), np.full(v.size, 0.1), x, y)
    assert everything_moves.relaxed and not everything_moves.usable


def test_the_trend_check_flags_a_trend_put_into_moving_points_only():
    x, y, _, _, rate, fringe = _scene()
    stable = fringe == 0
    moving = rate < -5
    fast = rate < -10
    clean = np.outer(0.01 * x / 1000, YEARS)  # a ramp trend: stable ground has it too
    check = removed_trend_check(clean, DATES, stable, moving, x, y, fast_mask=fast)
    assert not check.warn and abs(check.excess_median) < 0.1
    np.testing.assert_allclose(check.removed_velocity_mm_per_year, 0.01 * x / 1000, atol=1e-9)
    harmful = clean + np.outer(np.where(moving, 0.8, 0.0), YEARS)  # the bowls made shallower
    check = removed_trend_check(harmful, DATES, stable, moving, x, y, fast_mask=fast)
    assert check.warn and check.excess_median == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize("regional", [0.0, 3.0])
def test_reference_is_kept_unless_indistinguishable_from_error_and_zero_only_when_asked(regional):
    x, y, truth, observed, rate, fringe = _scene(regional_mm_per_year=regional)
    ids = np.arange(1, x.size + 1)
    dec = decompose(observed, k=6, dates=DATES, ids=ids, x=x, y=y)
    runs = {
        reference: remove_errors(observed, dec, x=x, y=y, ids=ids, polynomial="plane", fit_mask="auto",
                                 reference=reference)
        for reference in ("auto", "input", "stable")
    }
    true_v = rate + regional
    stable_ground = runs["auto"].fit_mask
    for name, run in runs.items():
        shift = np.median(run.velocity_mm_per_year[stable_ground] - true_v[stable_ground])
        expected = -regional if name == "stable" else 0.0
        assert shift == pytest.approx(expected, abs=0.25), name
        assert run.reference_velocity_mm_per_year == pytest.approx(regional, abs=0.25)
    # A 3 mm/yr regional motion is far above the scatter of the stable ground's level: kept.
    assert runs["auto"].reference_kept == (regional > 0)
    assert runs["input"].reference_kept and not runs["stable"].reference_kept
    with pytest.raises(ValueError, match="reference"):
        remove_errors(observed, dec, x=x, y=y, ids=ids, fit_mask="auto", reference="zero")
    lines, warnings, check = self_report(observed, runs["stable"], DATES, x, y)
    text = " ".join(lines + warnings)
    assert "Velocity change at the" in text and "Trend of the removed parts" in text
    assert ("zero on the stable ground" in text) == (regional > 0) or "Reference" in text
    assert check.removed_velocity_mm_per_year.shape == (x.size,)
