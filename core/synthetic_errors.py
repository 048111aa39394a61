"""Error screens of the :mod:`core.synthetic` study area: the turbulent atmosphere (FFT-filtered
Gaussian random field) and the gaps (METHODS.md sections 3 and 6).
"""

import numpy as np

from .synthetic_base import _rng


def _turbulent_field(p, x, y, dates):
    """Spatially correlated turbulent delay (LOS mm), (m, n), column 0 zero.

    A white Gaussian field per epoch on a padded grid, low-pass filtered in the Fourier
    domain with a Gaussian kernel (correlation length ``turbulent_correlation_m``),
    normalised to a per-epoch standard deviation and bilinearly sampled at the points.
    """
    rng = _rng(p.seed, "turbulent")
    n = dates.size
    pad = 1.5 * p.turbulent_correlation_m
    size_m = p.extent_m + 2 * pad
    cells = 128
    cell = size_m / cells
    noise = rng.standard_normal((n, cells, cells))
    kx = np.fft.fftfreq(cells, d=cell)
    ky = np.fft.rfftfreq(cells, d=cell)
    scale = p.turbulent_correlation_m / 2.0
    kernel = np.exp(-2 * (np.pi * scale) ** 2 * (kx[:, None] ** 2 + ky[None, :] ** 2))
    grid = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(cells, cells))
    grid -= grid.mean(axis=(1, 2), keepdims=True)
    grid /= grid.std(axis=(1, 2), keepdims=True)
    # Some epochs are much more turbulent than others (summer convection).
    epoch_std = p.turbulent_mm * rng.lognormal(-0.18, 0.6, n)
    epoch_std[0] = 0.0
    grid *= epoch_std[:, None, None]
    fx = (x - (p.origin_x_m - pad)) / cell
    fy = (y - (p.origin_y_m - pad)) / cell
    ix = np.clip(np.floor(fx).astype(np.int64), 0, cells - 2)
    iy = np.clip(np.floor(fy).astype(np.int64), 0, cells - 2)
    wx = (fx - ix)[None, :]
    wy = (fy - iy)[None, :]
    flat = grid.reshape(n, -1)
    i00 = iy * cells + ix
    out = (
        flat[:, i00] * (1 - wx) * (1 - wy)
        + flat[:, i00 + 1] * wx * (1 - wy)
        + flat[:, i00 + cells] * (1 - wx) * wy
        + flat[:, i00 + cells + 1] * wx * wy
    )
    return np.ascontiguousarray(out.T)


def _nan_mask(p, m, n, rng):
    """Exactly round(nan_fraction * m * (n - 1)) gaps in columns >= 1, weighted towards a few
    bad epochs and low-coherence points (Efraimidis-Spirakis weighted sampling)."""
    mask = np.zeros((m, n), dtype=bool)
    count = int(round(p.nan_fraction * m * (n - 1)))
    if count == 0:
        return mask
    epoch_w = rng.lognormal(0.0, 0.7, n - 1)
    point_w = rng.lognormal(0.0, 0.5, m)
    keys = np.log(rng.random((m, n - 1)))
    keys /= point_w[:, None]
    keys /= epoch_w[None, :]
    flat = np.argpartition(keys.ravel(), keys.size - count)[keys.size - count :]
    sub = mask[:, 1:].copy()
    sub.ravel()[flat] = True
    mask[:, 1:] = sub
    return mask


# --------------------------------------------------------------------------- main
