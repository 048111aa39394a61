"""The user's component classes, in the forms the PCA error removal takes, Qt-free.

The components dock lists a decomposition's components with their proposed classes
(``core.pca_diagnostics``) and lets the user override them. The error removal
(``pcaerrorremoval``) takes the choice either as its DEFORMATION_COMPONENTS /
ERROR_COMPONENTS texts (:func:`removal_parameters`) or as a decomposition file whose labels
are the overridden classes (:func:`save_with_classes`): with both texts empty it uses the file's
labels, deformation = ``deformation``, error = ``orbital`` and ``noise``, as it does for the
proposed classes.
"""

from typing import List, Sequence, Tuple

import numpy as np

from .error_removal import DEFORMATION_LABELS, ERROR_LABELS
from .pca import Decomposition
from .pca_diagnostics import CLASSES

# "keep": a component neither fitted as deformation nor removed (it stays in the series)
CHOICES = (*CLASSES, "keep")


def compact_numbers(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"`` (what the algorithm's component parameters read)."""
    numbers = sorted({int(n) for n in numbers})
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def removal_parameters(classes: Sequence[str]) -> Tuple[str, str]:
    """``(DEFORMATION_COMPONENTS, ERROR_COMPONENTS)`` texts for component ``classes`` (1-based)."""
    unknown = sorted({c for c in classes if c not in CHOICES})
    if unknown:
        raise ValueError(f"classes: unknown {unknown}; one of {', '.join(CHOICES)}")
    deformation = [i + 1 for i, c in enumerate(classes) if c in DEFORMATION_LABELS]
    error = [i + 1 for i, c in enumerate(classes) if c in ERROR_LABELS]
    return compact_numbers(deformation), compact_numbers(error)


def save_with_classes(source_path: str, classes: Sequence[str], path: str) -> str:
    """Write a copy of the decomposition at ``source_path`` whose labels are ``classes``."""
    dec = Decomposition.load(source_path)
    if len(classes) != dec.k:
        raise ValueError(f"classes: {len(classes)} classes for a decomposition of {dec.k} components")
    removal_parameters(classes)  # validates the names
    dec.labels = list(classes)
    dec.save(path)
    return path


def shares_of_maps(maps: np.ndarray) -> np.ndarray:
    """Variance share of each component among those given, from the maps ``PCk = S_k sigma_k``.

    With orthonormal S, ``sum_i PCk_i^2 = sigma_k^2``: the shares of a PC layer alone, without
    its decomposition file (relative to the k components written, not to all of them).
    """
    maps = np.asarray(maps, dtype=float)
    power = np.nansum(maps**2, axis=0)
    total = power.sum()
    return power / total if total > 0 else np.zeros_like(power)


def component_rows(dec: Decomposition) -> List[dict]:
    """One row per component: number, sigma, variance share, cumulative share, proposed class."""
    share, cumulative = dec.variance_share, dec.cumulative_share
    labels = list(dec.labels) + [""] * (dec.k - len(dec.labels))
    return [
        {"k": j + 1, "sigma": float(dec.sigma[j]), "share": float(share[j]),
         "cumulative": float(cumulative[j]), "proposed": labels[j]}
        for j in range(dec.k)
    ]  # fmt: skip
