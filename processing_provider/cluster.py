"""The kit's Dask cluster: the "Dask scheduler" parameter, the client session, and the hand-over
of arrays to ``core`` (which computes block by block on whatever client is the default).

Declaring (in ``initAlgorithm``)::

    cluster.add_scheduler_parameter(self)                  # DASK_SCHEDULER, advanced

Running (in ``compute``)::

    with cluster.session(self, parameters, context, feedback) as client:   # None when empty
        matrix = cluster.as_dask(ps.displacement_mm) if client else ps.displacement_mm
        result = core_function(matrix, ..., progress=self.progress(feedback))
        arrays = cluster.gather(self, result, ("spatial",), feedback)      # numpy, with cancel

Empty address: today's in-process numpy code (layers fit in memory; for stacks dask's local
threads). Given: ``distributed.Client(address)`` becomes the default client for the run, so
every ``core`` task goes to that cluster; progress comes from its futures and cancel cancels
them (``core/distributed.py``); the client is closed at the end, the cluster keeps running.
"""

from contextlib import contextmanager

import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterString

DASK_SCHEDULER = "DASK_SCHEDULER"
CONNECT_TIMEOUT_S = 20
# Rows per block when a layer held in memory is handed to the cluster (~50 MB of float64 at 300 dates).
LAYER_BLOCK_ROWS = 20_000


def add_scheduler_parameter(alg, name=DASK_SCHEDULER):
    alg.add(
        QgsProcessingParameterString(
            name, alg.tr("Dask scheduler (e.g. tcp://host:8786; empty = this computer)"), optional=True
        ),
        "Address of a running Dask scheduler. The work is split into blocks of points and sent to "
        "its workers (they need the plugin's core package, see the README, 'Running on a Dask "
        "cluster'); progress and cancel come from the cluster. Empty: computed in this QGIS process.",
        advanced=True,
    )


def scheduler_address(alg, parameters, context, name=DASK_SCHEDULER):
    return (alg.parameterAsString(parameters, name, context) or "").strip()


@contextmanager
def session(alg, parameters, context, feedback, name=DASK_SCHEDULER):
    """A ``distributed.Client`` connected to the scheduler of parameter ``name`` (None when empty)."""
    address = scheduler_address(alg, parameters, context, name)
    if not address:
        yield None
        return
    missing = {m: why for m in ("dask", "distributed") if (why := _import_failure(m))}
    if missing:
        from .base import install_message

        raise QgsProcessingException(f"{name}: {install_message(missing)}")
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=True)
    except (OSError, TimeoutError, ValueError) as exc:
        raise QgsProcessingException(
            f"{name}: cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s ({exc})"
        ) from exc
    try:
        workers = client.scheduler_info().get("workers", {})
        if not workers:
            raise QgsProcessingException(f"{name}: the Dask scheduler at {address} has no worker")
        threads = sum(w.get("nthreads", 1) for w in workers.values())
        feedback.pushInfo(f"Dask scheduler {address}: {len(workers)} workers, {threads} threads.")
        yield client
    finally:
        client.close()


def _import_failure(module):
    from .base import import_failure

    return import_failure(module)


def as_dask(matrix, rows=LAYER_BLOCK_ROWS):
    """An in-memory (m, n) matrix as a dask array of blocks of ``rows`` points x all dates."""
    import dask.array as da

    return da.from_array(np.asarray(matrix), chunks=(min(rows, max(len(matrix), 1)), -1))


def gather(alg, result, names, feedback, start=0.0, end=100.0):
    """Compute the lazy (dask) attributes ``names`` of ``result`` in one job and set them as numpy
    (progress and cancel from the futures); numpy attributes are left as they are."""
    lazy = [n for n in names if hasattr(getattr(result, n), "dask")]
    if lazy:
        from ..core.distributed import run

        values = run([getattr(result, n) for n in lazy], alg.progress(feedback, start, end))
        for n, value in zip(lazy, values):
            setattr(result, n, np.asarray(value))
    return result
