"""The noise-floor step (core.noise_floor) against a planted truth: white noise out, every
velocity and annual cycle unchanged, a shape shared by neighbours kept."""

import numpy as np

from subsidence_lab.core.error_removal import remove_errors
from subsidence_lab.core.noise_floor import remove_noise_floor
from subsidence_lab.core.pca import decompose
from subsidence_lab.core.ps_ops import velocity
from subsidence_lab.core.psdata import years_since_first
from subsidence_lab.core.synthetic_urban import make_urban_area


def _planted(seed=0, m=1600, n=45):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 8000, m), rng.uniform(0, 8000, m)
    dates = np.datetime64("2018-01-03") + np.sort(rng.choice(np.arange(1, 1400), n - 1, replace=False))
    dates = np.concatenate([[np.datetime64("2018-01-03")], dates]).astype("datetime64[D]")
    t = years_since_first(dates)
    rate = rng.normal(0, 3, m)
    amp, phase = rng.uniform(0, 3, m), rng.uniform(0, 2 * np.pi, m)
    annual = np.sin(2 * np.pi * t + phase[:, None]) - np.sin(phase[:, None])
    truth = rate[:, None] * t + amp[:, None] * annual
    # A bowl whose motion stops and restarts (non-linear), shared by every point within 1.2 km.
    bowl = np.exp(-0.5 * (np.hypot(x - 4000, y - 4000) / 600) ** 2) * (np.hypot(x - 4000, y - 4000) < 1200)
    shape = np.where(t < 1.2, -20 * t, np.where(t < 2.2, -24.0, -24 - 25 * (t - 2.2)))
    truth += np.outer(bowl, shape)
    noise = rng.normal(0, 1.5, (m, n)) * rng.lognormal(0, 0.25, m)[:, None]
    noise[:, 0] = 0.0
    observed = truth + noise
    gaps = rng.random((m, n)) < 0.03
    gaps[:, 0] = False
    observed[gaps] = np.nan
    return observed, truth, dates, x, y, bowl


def test_white_noise_goes_velocities_and_annual_cycles_stay_and_a_shared_shape_is_kept():
    observed, truth, dates, x, y, bowl = _planted()
    before = observed.copy()
    out = remove_noise_floor(observed, dates, x, y)
    assert out.applied and np.array_equal(observed, before, equal_nan=True)  # input untouched
    assert np.array_equal(np.isnan(out.series_mm), np.isnan(observed))
    np.testing.assert_array_equal(out.series_mm[:, 0], observed[:, 0])  # the reference date is kept
    np.testing.assert_allclose(out.series_mm + out.noise_mm, observed, atol=1e-9)
    # Every velocity, gaps or not, exactly as before.
    np.testing.assert_allclose(velocity(out.series_mm, dates)[0], velocity(observed, dates)[0], atol=1e-9)
    # The annual cycle of complete series is untouched.
    t = years_since_first(dates)
    full = ~np.isnan(observed).any(axis=1)
    design = np.column_stack([np.ones_like(t), t, np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])[1:]
    fit = [np.linalg.lstsq(design, s[full, 1:].T, rcond=None)[0][2:] for s in (observed, out.series_mm)]
    np.testing.assert_allclose(fit[1], fit[0], atol=1e-9)
    # Against the truth: the noise (RMS ~1.5 mm) is mostly gone ...
    err_in = np.sqrt(np.nanmean((observed - truth) ** 2))
    err_out = np.sqrt(np.nanmean((out.series_mm - truth) ** 2))
    assert err_out < 0.6 * err_in, (err_in, err_out)
    # ... and the bowl's stop-and-go shape is kept where the bowl is strong.
    core = bowl > 0.5
    t_line = np.column_stack([np.ones_like(t), t])

    def nonlinear_error(series):
        diff = np.nan_to_num(series[core] - truth[core])
        return np.sqrt(np.mean((diff - diff @ t_line @ np.linalg.pinv(t_line)) ** 2))

    assert nonlinear_error(out.series_mm) < 0.6 * nonlinear_error(observed)
    # The bowl's mean series (a levelling station there) is no worse than without the step.
    mean_error = [np.sqrt(np.mean(np.nanmean(s[core] - truth[core], axis=0) ** 2))
                  for s in (observed, out.series_mm)]
    assert mean_error[1] <= mean_error[0], mean_error


def test_short_series_are_left_alone():
    observed, _truth, dates, x, y, _bowl = _planted(m=300, n=8)
    out = remove_noise_floor(observed, dates, x, y)
    assert not out.applied
    assert np.array_equal(out.series_mm, observed, equal_nan=True) and not out.noise_mm.any()


def test_remove_errors_without_the_step_differs_by_the_noise_only():
    area = make_urban_area(seed=1, n_points=1200, n_dates=40)
    ps = area.ps
    dec = decompose(ps.displacement_mm, k=None, dates=ps.dates, ids=ps.ids, x=ps.x, y=ps.y, z=ps.z)
    common = {"x": ps.x, "y": ps.y, "z": ps.z, "ids": ps.ids, "fit_mask": "auto"}
    with_step = remove_errors(ps.displacement_mm, dec, **common)
    without = remove_errors(ps.displacement_mm, dec, noise_floor=False, **common)
    assert without.noise_mm is None and with_step.noise_mm is not None
    np.testing.assert_allclose(with_step.corrected_mm + with_step.noise_mm, without.corrected_mm, atol=1e-9)
    # Velocity, its standard error and the residual RMS are those of the series before the step.
    for name in ("velocity_mm_per_year", "velocity_std_mm_per_year", "residual_rms_mm"):
        assert np.array_equal(getattr(with_step, name), getattr(without, name), equal_nan=True), name
    # Against the truth on stable ground: the step lowers the error.
    truth = area.truth["deformation"] + area.truth["seasonal_deformation"]
    stable = area.stable_mask
    rms = [np.sqrt(np.nanmean((r.corrected_mm - truth)[stable] ** 2)) for r in (with_step, without)]
    assert rms[0] < 0.75 * rms[1], rms


def test_dask_gives_the_in_memory_series_with_modes_from_a_row_sample(monkeypatch):
    """Above GRAM_MAX_ROWS both versions take the modes from the same evenly spaced rows."""
    import dask.array as da

    from subsidence_lab.core import noise_floor

    monkeypatch.setattr(noise_floor, "GRAM_MAX_ROWS", 500)
    monkeypatch.setattr(noise_floor, "BLOCK_ROWS", 300)
    observed, truth, dates, x, y, _bowl = _planted(seed=1, m=1500, n=30)
    memory = remove_noise_floor(observed, dates, x, y)
    lazy = da.from_array(observed, chunks=(400, -1))
    series, noise = noise_floor.remove_noise_floor_dask(lazy, dates, x, y)
    series, noise = da.compute(series, noise, scheduler="synchronous")
    scale = np.nanmax(np.abs(observed))
    assert np.array_equal(np.isnan(series), np.isnan(memory.series_mm))
    assert np.nanmax(np.abs(series - memory.series_mm)) < 1e-10 * scale
    assert np.nanmax(np.abs(noise - memory.noise_mm)) < 1e-10 * scale
    # And the sampled modes still take the noise out.
    assert np.sqrt(np.nanmean((series - truth) ** 2)) < 0.7 * np.sqrt(np.nanmean((observed - truth) ** 2))


def test_a_signal_one_point_alone_carries_is_shrunk_but_mostly_kept():
    """What the help says: an event at a single structure (a one-year 8 mm step at one PS, noise
    1.5 mm, no neighbour sharing it) keeps most of its shape (about 80 %), not all of it; its
    neighbours' noise still goes."""
    rng = np.random.default_rng(0)
    m, n = 3000, 60
    x, y = rng.uniform(0, 5000, m), rng.uniform(0, 5000, m)
    dates = (np.datetime64("2018-01-01") + np.arange(n) * 24).astype("datetime64[D]")
    t = years_since_first(dates)
    noise = rng.normal(0, 1.5, (m, n))
    noise[:, 0] = 0.0
    step = np.where((t > 2.5) & (t < 3.5), -8.0, 0.0)
    observed = noise.copy()
    observed[0] += step
    out = remove_noise_floor(observed, dates, x, y).series_mm
    design = np.column_stack([np.ones(n), t, np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])

    def non_linear(series):
        return series - design @ np.linalg.lstsq(design, series, rcond=None)[0]

    kept = np.ptp(non_linear(out[0])) / np.ptp(non_linear(step))
    assert 0.6 < kept < 0.95, kept
    assert np.sqrt(np.mean(out[1:] ** 2)) < 0.6 * np.sqrt(np.mean(noise[1:] ** 2))
