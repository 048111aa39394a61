"""The (m, n) arithmetic of :func:`core.error_removal.remove_errors`, row block by row block.

Why: at 200k points x 150 dates every (m, n) float array is 240 MB; building the deformation
model, the error components, the surfaces and the screen whole, then combining them, was a
third of the run in allocations and memory traffic (issue 8). The removed parts are low-rank
products (maps x temporal functions, design x coefficients, sparse screen weights x the
stable points' residual), so each block of rows is built in the CPU cache, combined into the
corrected series and its velocity, and dropped. The same per-element operations run in the
same order as on whole arrays, so the results are the same numbers.

:class:`Parts` holds the factors; the (m, n) parts themselves are built only when read
(:class:`Deferred`, e.g. to write the removed parts as fields).
"""

import numpy as np

from .ps_ops import velocity as ps_velocity
from .row_blocks import map_row_blocks

BLOCK_ROWS = 4096
THREADS = 2


class Deferred:
    """An (m, n) array computed by ``build()`` when first read (see :func:`deferred_fields`)."""

    def __init__(self, build):
        self.build = build


class _DeferredField:
    """Data descriptor: stores the value; a :class:`Deferred` is built, and kept, on first read."""

    def __init__(self, name):
        self.key = "_deferred_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.key]
        if isinstance(value, Deferred):
            value = obj.__dict__[self.key] = value.build()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.key] = value


def deferred_fields(*names):
    """Class decorator (after ``@dataclass``): these fields may be given as :class:`Deferred`."""

    def decorate(cls):
        for name in names:
            setattr(cls, name, _DeferredField(name))
        return cls

    return decorate


class Parts:
    """The factors of the removed parts (module doc); each method gives the rows asked for.

    Args:
        observed: (m, n) X; mean_mm: (n,) mu.
        deformation: ``(maps (m, d), temporal (d, n))`` of D, or None (no component).
        errors: ``(maps (m, e), temporal (e, n))`` of the error components, or None.
        subtract_deformation: fit on R2 = X - mu - E - D (no stable area) rather than X - mu - E.
    """

    def __init__(self, observed, mean_mm, deformation, errors, subtract_deformation):
        self.observed = observed
        self.mean_mm = mean_mm
        self.deformation_factors = deformation
        self.error_factors = errors
        self.subtract_deformation = subtract_deformation and deformation is not None
        self.design = self.coefficients = None  # the surfaces, once fitted (None: no surface)
        self.screen = None  # (weights (m, s) sparse, stable residual (s, n), denominator (m, 1))

    def _zeros(self, rows):
        return np.zeros((np.arange(self.observed.shape[0])[rows].size, self.observed.shape[1]))

    def deformation(self, rows=slice(None)):
        if self.deformation_factors is None:
            return self._zeros(rows)
        maps, temporal = self.deformation_factors
        return maps[rows] @ temporal

    def errors(self, rows=slice(None)):
        if self.error_factors is None:
            return self._zeros(rows)
        maps, temporal = self.error_factors
        return maps[rows] @ temporal

    def polynomial(self, rows=slice(None)):
        if self.design is None:
            return self._zeros(rows)
        return self.design[rows] @ self.coefficients.T

    def screen_rows(self, rows=slice(None)):
        weights, stable_residual, denominator = self.screen
        return (weights[rows] @ stable_residual) / denominator[rows]

    def surface(self, rows=slice(None)):
        """The removed surface: polynomial, plus the residual screen when there is one."""
        surface = self.polynomial(rows)
        return surface if self.screen is None else surface + self.screen_rows(rows)

    def mean_removed(self, rows):
        """(n,) mean over ``rows`` of errors + surface, from the factors (no (rows, n) array)."""
        out = np.zeros(self.observed.shape[1])
        if self.error_factors is not None:
            maps, temporal = self.error_factors
            out += maps[rows].mean(axis=0) @ temporal
        if self.design is not None:
            out += self.design[rows].mean(axis=0) @ self.coefficients.T
        if self.screen is not None:
            weights, stable_residual, denominator = self.screen
            share = weights[rows].multiply(1.0 / denominator[rows]).sum(axis=0)
            out += np.asarray(share).ravel() / np.arange(self.observed.shape[0])[rows].size @ stable_residual
        return out

    def residual(self, rows, out=None):
        """``(X - mu - E [- D])[rows]`` (written into ``out`` when given)."""
        out = np.subtract(self.observed[rows], self.mean_mm[None, :], out=out)
        if self.error_factors is not None:
            out -= self.errors(rows)
        if self.subtract_deformation:
            out -= self.deformation(rows)
        return out

    def fit_residual(self, fit_rows):
        """The residual on the fit rows, zero at the gaps, and the gap mask: built in row blocks."""
        out = np.empty((fit_rows.size, self.observed.shape[1]))
        for start in range(0, fit_rows.size, BLOCK_ROWS):
            self.residual(fit_rows[start : start + BLOCK_ROWS], out=out[start : start + BLOCK_ROWS])
        gaps = np.isnan(out)
        out[gaps] = 0.0
        return out, gaps

    def remove_polynomial(self, residual, gaps, fit_rows):
        """``residual -= polynomial[fit_rows]`` in place, in row blocks; zeros kept at the gaps."""
        for start in range(0, fit_rows.size, BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            residual[rows] -= self.polynomial(fit_rows[rows])
            residual[rows][gaps[rows]] = 0.0
        return residual

    def _corrected_block(self, rows, offset):
        out = self.residual(rows)
        if self.design is not None:
            out -= self.polynomial(rows)
        if self.screen is not None:
            out -= self.screen_rows(rows)
        if self.subtract_deformation:
            out += self.deformation(rows)
        out += offset[None, :]
        out[np.isnan(self.observed[rows])] = np.nan
        return out

    def corrected(self, offset, dates):
        """``(corrected, velocity, velocity_std, residual_rms)``: every block corrected and its line fitted.

        corrected = X - mu - E [- D] - polynomial - screen [+ D] + offset, NaN at the gaps of X.
        """
        m, n = self.observed.shape
        corrected = np.empty((m, n))
        lines = np.empty((3, m))

        def run(start):
            rows = slice(start, min(m, start + BLOCK_ROWS))
            block = corrected[rows] = self._corrected_block(rows, offset)
            lines[:, rows] = ps_velocity(block, dates, residual_rms=True)

        map_row_blocks(run, m, BLOCK_ROWS, THREADS)
        return corrected, lines[0], lines[1], lines[2]
