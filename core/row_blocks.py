"""Row blocks of an (m, n) matrix shared by threads, and one background worker: the helpers the
blocked passes and the overlapped steps use."""

from concurrent.futures import ThreadPoolExecutor


def map_row_blocks(function, m, block_rows, threads=2):
    """``[function(start) for start in range(0, m, block_rows)]``, in order.

    **[choice]** With more than two blocks they are shared by ``threads`` threads: numpy
    releases the GIL in its array work, and each block only writes its own rows (or returns
    its result), so the results do not depend on the threads.
    """
    starts = range(0, m, block_rows)
    if threads <= 1 or len(starts) <= 2:
        return [function(start) for start in starts]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, starts))


_background = []


def in_background(function, *args):
    """``function(*args)`` started on the plugin's one background worker thread: a future.

    **[choice]** For work that needs only its inputs and whose result is wanted later (the
    input's own velocities, the neighbour search of the noise floor): it runs while the
    caller's single-threaded numpy stretches leave the second core idle. One worker, so such
    jobs queue instead of adding threads.
    """
    if not _background:
        _background.append(ThreadPoolExecutor(1, thread_name_prefix="subsidence-lab-background"))
    return _background[0].submit(function, *args)
