"""Row blocks of an (m, n) matrix shared by threads: the one helper the blocked passes use."""

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
