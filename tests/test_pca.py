"""core.pca: the Gram-matrix decomposition against a dense SVD, signs, gaps, bad input (METHODS.md 2)."""

import numpy as np
import pytest

from subsidence_lab.core.pca import Decomposition, decompose, suggest_k


def _dates(n, step_days=12):
    return np.datetime64("2018-01-03") + np.arange(n) * step_days


def _planted(m=600, n=40, rank=4, noise=0.05, seed=0, offset=50.0):
    """Rank-``rank`` signal (distinct sigma) + white noise + a large common offset per date."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n)
    curves = np.column_stack([t, np.sin(2 * np.pi * t), np.cos(6 * t), np.cos(6 * np.pi * t)][:rank])
    maps = rng.normal(size=(m, rank)) * np.array([20.0, 8.0, 4.0, 2.0][:rank])
    x = maps @ curves.T + noise * rng.normal(size=(m, n)) + offset * t
    return x


def _full_rank(m=300, n=25, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)) @ np.diag(np.linspace(10, 1, n)) + 1000.0


def test_full_k_reproduces_x_and_matches_numpy_svd():
    x = _full_rank()
    n = x.shape[1]
    dec = decompose(x, k=n, chunk_rows=64, classify=False)
    recon = dec.reconstruct() + dec.mean_mm
    assert np.linalg.norm(recon - x) / np.linalg.norm(x) < 1e-8
    assert np.allclose(dec.mean_mm, x.mean(axis=0), rtol=0, atol=1e-10)
    assert np.abs(dec.spatial.T @ dec.spatial - np.eye(n)).max() < 1e-8
    assert np.abs(dec.temporal.T @ dec.temporal - np.eye(n)).max() < 1e-10
    u, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    assert np.allclose(dec.sigma, s, rtol=1e-10, atol=0)
    assert np.allclose(dec.all_sigma, s, rtol=1e-10, atol=0)
    signs = np.sign(np.sum(u * dec.spatial, axis=0))
    assert np.allclose(dec.spatial, u * signs, atol=1e-8)
    assert np.allclose(dec.temporal, vt.T * signs, atol=1e-8)
    assert np.allclose(dec.variance_share, s**2 / np.sum(s**2))
    assert dec.cumulative_share[-1] == pytest.approx(1.0)


def test_large_mean_does_not_cost_digits():
    """The shifted one-pass centring keeps SVD accuracy when the mean dwarfs the spread."""
    x = _full_rank(seed=3) + 1e7
    dec = decompose(x, k=5, chunk_rows=50, classify=False)
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    assert np.allclose(dec.sigma, s[:5], rtol=1e-9, atol=0)


def test_chunk_size_and_float32_do_not_change_the_result():
    x = _planted()
    a = decompose(x, k=4, chunk_rows=37, classify=False)
    b = decompose(x, k=4, chunk_rows=100_000, classify=False)
    assert np.allclose(a.spatial, b.spatial, atol=1e-10)
    assert np.allclose(a.temporal, b.temporal, atol=1e-12)
    c = decompose(x.astype(np.float32), k=4, classify=False)
    assert np.allclose(c.sigma, a.sigma, rtol=1e-5)


def test_signs_are_stable_across_runs_and_row_order():
    x = _planted(seed=4)
    dates = _dates(x.shape[1])
    a = decompose(x, k=4, dates=dates, classify=False)
    b = decompose(x, k=4, dates=dates, classify=False)
    assert np.array_equal(a.temporal, b.temporal) and np.array_equal(a.spatial, b.spatial)
    order = np.random.default_rng(5).permutation(x.shape[0])
    c = decompose(x[order], k=4, dates=dates, ids=np.arange(x.shape[0])[order], classify=False)
    assert np.allclose(c.temporal, a.temporal, atol=1e-9)
    assert np.allclose(c.spatial, a.spatial[order], atol=1e-9)
    # Rule 2.5: a trending T correlates positively with time; a flat one has max |S| positive.
    t = np.arange(x.shape[1])
    for j in range(4):
        r = np.corrcoef(a.temporal[:, j], t)[0, 1]
        if abs(r) >= 0.01:
            assert r > 0
        else:
            assert a.spatial[np.argmax(np.abs(a.spatial[:, j])), j] > 0
    # Flipping the data flips nothing in T's sign convention: T stays positively trending.
    d = decompose(-x, k=1, dates=dates, classify=False)
    assert np.corrcoef(d.temporal[:, 0], t)[0, 1] > 0
    assert np.allclose(d.spatial[:, 0], -a.spatial[:, 0], atol=1e-9)


def test_suggested_k_finds_the_planted_rank():
    x = _planted(m=800, n=50, rank=4, noise=0.2, seed=6)
    dec = decompose(x, k=None, classify=False)
    assert dec.suggested_k == 4
    assert dec.k == 4
    assert "noise floor" in dec.suggestion_reason
    k, reason = suggest_k(dec.all_sigma, 800, 50)
    assert k == 4 and "k = 4" in reason


def test_ten_percent_gaps_stay_close_to_the_gap_free_decomposition():
    """Tolerance (stated): with 10 % of the values missing at random, the leading components'
    sigma within 1 %, their T within 0.01 (after sign), and the rank-k reconstruction within
    5 % RMS of the signal of the gap-free decomposition; gap cells are filled, never NaN."""
    x = _planted(m=1000, n=40, rank=3, noise=0.1, seed=7)
    dates = _dates(40)
    full = decompose(x, k=3, dates=dates, classify=False)
    gappy = x.copy()
    gappy[np.random.default_rng(8).random(x.shape) < 0.10] = np.nan
    dec = decompose(gappy, k=3, dates=dates, classify=False)
    assert dec.n_points_with_gaps > 900 and dec.impute_iterations >= 1
    assert "imputation" in dec.nan_method
    assert np.allclose(dec.sigma, full.sigma, rtol=0.01)
    assert np.abs(dec.temporal - full.temporal).max() < 0.01
    diff = (dec.reconstruct() + dec.mean_mm) - (full.reconstruct() + full.mean_mm)
    assert np.sqrt(np.mean(diff**2)) < 0.05 * np.sqrt(np.mean(full.reconstruct() ** 2))
    assert np.isfinite(dec.spatial).all()


def test_all_nan_rows_are_left_out_and_marked():
    x = _planted(m=200, n=20, seed=9)
    x[[3, 50]] = np.nan
    dec = decompose(x, k=3, classify=False)
    assert dec.n_points_fit == 198
    assert np.isnan(dec.spatial[[3, 50]]).all()
    assert np.isnan(dec.reconstruct()[3]).all()
    keep = np.ones(200, bool)
    keep[[3, 50]] = False
    ref = decompose(x[keep], k=3, classify=False)
    assert np.allclose(dec.spatial[keep], ref.spatial, atol=1e-10)


def test_constant_point_series_is_kept_but_all_points_alike_is_an_error():
    x = _planted(m=100, n=15, seed=10)
    x[0] = 0.0  # a reference point: legitimate, stays in the fit
    dec = decompose(x, k=2, classify=False)
    assert np.isfinite(dec.spatial[0]).all()
    same = np.tile(np.linspace(0, -30, 15), (50, 1))
    with pytest.raises(ValueError, match="no variation between points"):
        decompose(same, k=2)


@pytest.mark.parametrize(
    ("shape", "k", "match"),
    [
        ((50, 10), 11, "only 10 dates"),
        ((2, 10), 1, "at least 3 points"),
        ((50, 2), 1, "at least 3 dates"),
        ((50, 10), 0, "at least 1"),
        ((50, 10), 2.5, "whole number"),
    ],
)
def test_bad_shapes_and_k_are_refused(shape, k, match):
    x = np.random.default_rng(0).normal(size=shape)
    with pytest.raises(ValueError, match=match):
        decompose(x, k=k)


def test_rank_deficient_k_infinite_values_and_empty_dates_are_refused():
    x = _planted(m=100, n=12, rank=2, noise=0.0, seed=11)
    with pytest.raises(ValueError, match="rank-deficient"):
        decompose(x, k=5)
    y = _planted(m=100, n=12, seed=12)
    y[5, 3] = np.inf
    with pytest.raises(ValueError, match="infinite value at point 5"):
        decompose(y, k=2)
    z = _planted(m=100, n=12, seed=12)
    z[:, 4] = np.nan
    with pytest.raises(ValueError, match="2018-02-20"):
        decompose(z, k=2, dates=_dates(12))
    w = _planted(m=100, n=12, seed=12)
    w[2:] = np.nan
    with pytest.raises(ValueError, match="only 2 points have any value"):
        decompose(w, k=1)
    with pytest.raises(ValueError, match="ids"):
        decompose(_planted(m=50, n=12), k=1, ids=np.arange(3))


def test_reconstruct_selected_components():
    x = _planted(seed=13)
    dec = decompose(x, k=4, classify=False)
    part = dec.reconstruct([1, 3])
    manual = np.outer(dec.spatial[:, 0] * dec.sigma[0], dec.temporal[:, 0]) + np.outer(
        dec.spatial[:, 2] * dec.sigma[2], dec.temporal[:, 2]
    )
    assert np.allclose(part, manual)
    assert np.allclose(dec.component_maps_mm()[:, 1], dec.spatial[:, 1] * dec.sigma[1])
    with pytest.raises(ValueError, match="out of range"):
        dec.reconstruct([0])
    with pytest.raises(ValueError, match="out of range"):
        dec.reconstruct([5])


def test_save_and_load_round_trip(tmp_path):
    x = _planted(m=120, n=20, seed=14)
    x[4, 7] = np.nan
    ids = np.array([f"PS{i:04d}" for i in range(120)], dtype=object)
    xy = np.random.default_rng(1).uniform(0, 1000, size=(2, 120))
    dec = decompose(x, k=3, dates=_dates(20), ids=ids, x=xy[0], y=xy[1])
    path = tmp_path / "dec.npz"
    dec.save(path)
    back = Decomposition.load(path)
    for name in ("mean_mm", "spatial", "sigma", "temporal", "all_sigma"):
        assert np.array_equal(getattr(back, name), getattr(dec, name)), name
    assert np.array_equal(back.dates, dec.dates)
    assert back.ids.tolist() == ids.tolist()
    assert back.labels == dec.labels and len(back.labels) == 3
    assert back.suggested_k == dec.suggested_k and back.suggestion_reason == dec.suggestion_reason
    assert back.n_points_with_gaps == 1 and back.nan_method == dec.nan_method
    assert set(back.diagnostics) == set(dec.diagnostics)
    assert np.allclose(back.diagnostics["morans_i"], dec.diagnostics["morans_i"])
    assert np.allclose(back.reconstruct(), dec.reconstruct())
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        Decomposition.load(bad)


def test_progress_is_reported_up_to_one():
    seen = []
    decompose(_planted(m=300, n=10), k=2, chunk_rows=50, progress=lambda f, message=None: seen.append(f))
    assert seen[-1] == 1.0 and len(seen) > 5
    assert all(b >= a for a, b in zip(seen, seen[1:]))


def test_synthetic_area_with_ten_percent_gaps_stays_close_to_gap_free():
    """Acceptance 3 on the synthetic study area (same truth, 0 % vs 10 % gaps; 98 % of the
    points then have a gap). Stated tolerance: sigma_1..3 within 1 %, T_1..3 within 0.01,
    S_1..3 correlation > 0.99, mu + deformation components within 1 mm RMS, same labels."""
    from subsidence_lab.core.pca import decompose_ps
    from subsidence_lab.core.synthetic import make_study_area

    full = decompose_ps(make_study_area(seed=0, nan_fraction=0.0).ps, k=6)
    gappy_ps = make_study_area(seed=0, nan_fraction=0.10).ps
    assert 0.09 < np.isnan(gappy_ps.displacement_mm).mean() < 0.11
    gappy = decompose_ps(gappy_ps, k=6)
    assert np.allclose(gappy.sigma[:3], full.sigma[:3], rtol=0.01)
    assert np.abs(gappy.temporal[:, :3] - full.temporal[:, :3]).max() < 0.01
    for j in range(3):
        assert np.corrcoef(gappy.spatial[:, j], full.spatial[:, j])[0, 1] > 0.99
    a = full.mean_mm + full.reconstruct([1, 2])
    b = gappy.mean_mm + gappy.reconstruct([1, 2])
    assert np.sqrt(np.mean((a - b) ** 2)) < 1.0
    assert gappy.labels == full.labels


def test_gap_interpolation_in_time_fills_between_and_beyond_observations():
    from subsidence_lab.core.pca import _interpolate_gaps

    t = np.array([0.0, 1.0, 3.0, 4.0, 6.0])
    rows = np.array(
        [
            [np.nan, 2.0, np.nan, 6.0, np.nan],
            [1.0, np.nan, np.nan, np.nan, 9.0],
            [0.0, 1.0, 2.0, 3.0, 4.0],
        ]
    )
    out = _interpolate_gaps(rows.copy(), t)
    assert np.allclose(out[0], [2.0, 2.0, 4.0 + 2.0 / 3.0, 6.0, 6.0])
    assert np.allclose(out[1], [1.0, 1.0 + 8.0 / 6.0, 1.0 + 8.0 * 3.0 / 6.0, 1.0 + 8.0 * 4.0 / 6.0, 9.0])
    assert np.array_equal(out[2], rows[2])
