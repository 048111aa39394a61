"""Colour scales for signed PS values (velocities, component maps), Qt-free."""

import numpy as np


def symmetric_limit(values, percentile=98.0) -> float:
    """Half-width of a colour range symmetric about 0: the ``percentile`` of |value|.

    Ignores NaN and the most extreme 2 % (outliers), so a 2 mm/yr stable area and a 150 mm/yr
    bowl both get a readable map; 1.0 when nothing is finite or everything is 0.
    """
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 1.0
    return float(np.percentile(finite, percentile)) or 1.0
