"""PCA and error removal on dask arrays: the same numbers as in memory, locally and on a
LocalCluster of 2 worker processes on the loopback interface; a killed worker; cancel."""

import os
import signal
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")  # a Debian package on both supported releases
distributed = pytest.importorskip("distributed")

from subsidence_lab.core.error_removal import remove_errors  # noqa: E402
from subsidence_lab.core.pca import decompose  # noqa: E402
from subsidence_lab.core.synthetic import make_study_area  # noqa: E402
from subsidence_lab.core.synthetic_urban import make_urban_area  # noqa: E402

TOL = 1e-10


def relative(a, b):
    """max |a - b| / max |b| over the finite values; the NaN pattern must be the same."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    ok = np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok])) / np.max(np.abs(b[ok])))


def test_local_threads_give_the_in_memory_numbers_on_the_urban_generator():
    """The second generator (clustered city, date-independent errors), with a given stable
    mask, a plane and k = 10; dask's local threads (no cluster: it runs before the cluster fixture exists)."""
    urban = make_urban_area(seed=1, n_points=1200, n_dates=30)
    (ref, ref_removal), (dec, removal) = _both(
        urban.ps, {"k": 10}, {"polynomial": "plane", "fit_mask": urban.stable_mask}, chunks=400
    )
    _assert_same(ref, ref_removal, dec, removal)


@pytest.fixture(scope="module")
def area():
    return make_study_area(seed=3, n_points=2000, n_dates=36, nan_fraction=0.04)


@pytest.fixture(scope="module")
def cluster(dask_scheduler):
    """A client of the session's 2-process LocalCluster, the default client for this module."""
    client = distributed.Client(dask_scheduler)
    yield None, client
    client.close()


def _both(ps, dec_kwargs, removal_kwargs, chunks):
    """(in-memory decomposition, removal), (dask decomposition, removal) of ``ps``."""
    common = {"dates": ps.dates, "x": ps.x, "y": ps.y, "z": ps.z}
    ref = decompose(ps.displacement_mm, ids=ps.ids, **common, **dec_kwargs)
    ref_removal = remove_errors(ps.displacement_mm, ref, ids=ps.ids, **common, **removal_kwargs)
    lazy = da.from_array(ps.displacement_mm, chunks=(chunks, -1))
    dec = decompose(lazy, ids=ps.ids, **common, **dec_kwargs)
    removal = remove_errors(lazy, dec, ids=ps.ids, **common, **removal_kwargs)
    return (ref, ref_removal), (dec, removal)


def _assert_same(ref, ref_removal, dec, removal):
    assert dec.k == ref.k and dec.labels == ref.labels
    assert dec.impute_iterations == ref.impute_iterations and dec.n_points_with_gaps == ref.n_points_with_gaps
    for name in ("mean_mm", "sigma", "temporal", "spatial", "all_sigma"):
        assert relative(getattr(dec, name), getattr(ref, name)) < TOL, name
    for name in (
        "corrected_mm",
        "polynomial_mm",
        "error_components_mm",
        "velocity_mm_per_year",
        "velocity_std_mm_per_year",
        "residual_rms_mm",
    ):
        assert relative(getattr(removal, name), getattr(ref_removal, name)) < TOL, name
    assert relative(removal.polynomial_coefficients, ref_removal.polynomial_coefficients) < TOL
    assert np.array_equal(np.asarray(removal.fit_mask), ref_removal.fit_mask)


def test_cluster_gives_the_in_memory_numbers(area, cluster):
    """Acceptance 1: decomposition (gaps imputed) and error removal (automatic stable area,
    quadratic + elevation surface) on 2 worker processes equal the in-memory path to 1e-10."""
    (ref, ref_removal), (dec, removal) = _both(
        area.ps, {"k": 8}, {"polynomial": "quadratic_elevation", "fit_mask": "auto"}, chunks=300
    )
    assert ref.n_points_with_gaps > 0 and ref.impute_iterations > 1
    _assert_same(ref, ref_removal, dec, removal)
    # And against the truth, not only against itself: the correction lowers the stable-area RMS.
    stable = area.stable_mask
    before = np.sqrt(np.nanmean(area.ps.displacement_mm[stable] ** 2))
    after = np.sqrt(np.nanmean(np.asarray(removal.corrected_mm)[stable] ** 2))
    assert after < 0.8 * before


def _worker_pids(client):
    return client.run(os.getpid)


def test_a_worker_killed_mid_job_gives_the_right_result_or_a_clear_error(area, cluster):
    """A worker is killed while the imputation's fill lives on it: dask recomputes what was lost
    (or stops with KilledWorker); the result is never a wrong one."""
    _, client = cluster
    ps = area.ps
    ref = decompose(ps.displacement_mm, k=6, dates=ps.dates, classify=False)
    killed = []

    def progress(fraction, message=None):
        if fraction >= 0.45 and not killed:  # pass 1 done: its kept rows sit on the workers
            pid = next(iter(_worker_pids(client).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    lazy = da.from_array(ps.displacement_mm, chunks=(250, -1))
    try:
        dec = decompose(lazy, k=6, dates=ps.dates, classify=False, progress=progress)
    except distributed.KilledWorker as exc:  # allowed: a clear error, no result
        assert "worker" in str(exc).lower() or exc.args
    else:
        assert killed
        assert relative(dec.sigma, ref.sigma) < TOL
        assert relative(dec.spatial, ref.spatial) < TOL
    # The nanny restarts the worker: the cluster is usable again (bounded wait).
    deadline = time.monotonic() + 60
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(client.scheduler_info()["workers"]) == 2


class CancelledError(Exception):
    pass


def test_cancel_stops_the_cluster_work(area, cluster):
    """The progress callback raises (the user cancelled): the call stops with that exception and
    the scheduler drops the job's tasks (none left processing or waiting)."""
    _, client = cluster
    ps = area.ps
    lazy = da.from_array(ps.displacement_mm + 1.0, chunks=(100, -1))  # new keys: nothing cached

    def progress(fraction, message=None):
        raise CancelledError()

    with pytest.raises(CancelledError):
        decompose(lazy, k=4, dates=ps.dates, classify=False, progress=progress)

    def busy(dask_scheduler):
        return sum(
            ts.state in ("processing", "waiting", "no-worker", "queued")
            for ts in dask_scheduler.tasks.values()
        )

    deadline = time.monotonic() + 20
    while client.run_on_scheduler(busy) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.run_on_scheduler(busy) == 0
    assert threading.active_count() < 50  # no runaway polling threads left behind


def test_the_cluster_listens_on_the_loopback_interface_only(cluster):
    """Scheduler and workers (their comms and HTTP servers) accept connections on 127.0.0.1 only."""
    import psutil

    _, client = cluster
    pids = set(client.run(os.getpid).values()) | {client.run_on_scheduler(os.getpid)}
    def inet(pid):  # psutil >= 6 renamed connections() (deprecated) to net_connections()
        process = psutil.Process(pid)
        listing = getattr(process, "net_connections", None) or process.connections
        return listing(kind="inet")

    sockets = [c for pid in pids for c in inet(pid)]
    listening = [c.laddr.ip for c in sockets if c.status == "LISTEN"]
    assert listening and set(listening) == {"127.0.0.1"}, listening
