"""Layout of the :mod:`core.synthetic` study area: SAR dates, terrain (DEM), bowl and uplift
centres and shapes, wells and PS positions (METHODS.md section 6; choices in
:mod:`core.synthetic`'s docstring and the terrain constants below).
"""

import numpy as np

from .psdata import DAYS_PER_YEAR
from .synthetic_base import LAYERS, _rng


def _sar_dates(p):
    """Sorted unique dates on a repeat-cycle grid with missed acquisitions (irregular steps).

    ``revisit_days`` (24, RADARSAT-2) is halved (12, 6: Sentinel-1-like) while ``n_dates``
    scenes with ~12 % missed do not fit in ``span_years``; beyond that the span grows.
    """
    rng = _rng(p.seed, "dates")
    needed = int(np.ceil(p.n_dates * 1.12)) + 1  # at least ~12 % missed: steps always irregular
    revisit = p.revisit_days
    while revisit % 2 == 0 and revisit > 6 and p.span_years * DAYS_PER_YEAR / revisit + 1 < needed:
        revisit //= 2
    slots = max(int(round(p.span_years * DAYS_PER_YEAR / revisit)) + 1, needed)
    chosen = np.sort(rng.choice(np.arange(1, slots), size=p.n_dates - 1, replace=False))
    chosen = np.concatenate([[0], chosen])
    if np.unique(np.diff(chosen)).size < 2:
        # Every gap equal by chance: move the last acquisition one cycle later.
        chosen[-1] += 1
    start = np.datetime64(p.start_date, "D")
    return start + chosen.astype(np.int64) * revisit


# Terrain (METHODS 6 is silent; **[choice]**). Uplands cover about 40 % of the area as
# massifs of ~6 km, scored by ridges and valleys ~1.4 km apart that run along one trend; the
# rest is alluvial plain (with a few isolated hills) where the bowls are. A quadratic surface in
# (x, y) explains little of such relief (R^2 < 0.15 on seeds 0-49, ~0.05 typically), so the
# stratified atmosphere K_j z does not look like an orbital ramp and PCA can put it in its own
# component (METHODS 2, "Classifying components"); a DEM that is one tilted plain, or foothills
# along one edge of the scene, is ~0.85 quadratic and mixes the two.
_DEM_CELLS = 160  # grid of the upland pattern over the padded area (~190 m cells at 20 km)
_DEM_PAD = 0.25  # padding on each side, as a share of extent_m (no FFT wrap-around inside)
_UPLAND_SHARE = 0.45  # share of the area inside the massif outlines
_MASSIF_WAVELENGTH = 0.3  # share of extent_m
_MASSIF_FOOT = 0.4  # how gently the massifs rise (in standard deviations of their field)
_RIDGE_WAVELENGTH = 0.07  # spacing of ridges across their trend, share of extent_m
_RIDGE_ELONGATION = 3.0  # ridges are about this many times longer than their spacing
_RIDGE_RELIEF = 0.5  # share of the upland height cut by valleys
_PLAIN_BASE_M = 15.0


def _band_limited_field(rng, cells, cell_m, wavelength_m, rel_width, elongation, angle):
    """Gaussian random field, unit variance, with its power around ``wavelength_m`` across the
    direction ``angle`` (radians from x) and ``elongation`` times longer along it."""
    noise = rng.standard_normal((cells, cells))
    ky = np.fft.fftfreq(cells, d=cell_m)[:, None]
    kx = np.fft.rfftfreq(cells, d=cell_m)[None, :]
    k_across = kx * np.cos(angle) + ky * np.sin(angle)
    k_along = -kx * np.sin(angle) + ky * np.cos(angle)
    k = np.hypot(k_across, elongation * k_along)
    band = np.exp(-0.5 * ((k * wavelength_m - 1.0) / rel_width) ** 2)
    field_ = np.fft.irfft2(np.fft.rfft2(noise) * band, s=(cells, cells))
    return field_ / field_.std()


def _dem_function(p):
    """A DEM z(x, y) in metres, 0..``relief_m``: alluvial plain, upland massifs with ridges and
    valleys along one trend, a few isolated hills (see the terrain constants above).

    The upland pattern comes from two band-limited random fields on a grid (FFT-filtered),
    sampled bilinearly, so the DEM is cheap at any number of points and the same for every
    ``n_points``.
    """
    rng = _rng(p.seed, "dem")
    ext = p.extent_m
    cells = _DEM_CELLS
    pad = _DEM_PAD * ext
    cell = (ext + 2 * pad) / cells
    trend = rng.uniform(0, np.pi)  # ridges of a fold belt share one trend
    massif = _band_limited_field(rng, cells, cell, _MASSIF_WAVELENGTH * ext, 0.5, 1.5, trend)
    ridges = _band_limited_field(rng, cells, cell, _RIDGE_WAVELENGTH * ext, 0.35, _RIDGE_ELONGATION, trend)
    inside = slice(int(pad / cell), cells - int(pad / cell))
    outline = np.quantile(massif[inside, inside], 1.0 - _UPLAND_SHARE)

    def upland_height(massif_value, ridges_value):
        rise = np.clip((massif_value - outline) / _MASSIF_FOOT, 0.0, None)
        upland = 1.0 - np.exp(-rise * rise)  # gentle foot, broad upland surface
        crests = (1.0 - np.abs(np.tanh(ridges_value))) ** 1.5  # sharp crests, wide valleys
        return upland * (1.0 - _RIDGE_RELIEF + _RIDGE_RELIEF * crests)

    top = p.relief_m - 20.0  # highest upland summit inside the area; the plain adds ~15 m
    scale = top / upland_height(massif[inside, inside], ridges[inside, inside]).max()
    hills = [
        (
            rng.uniform(0.08, 0.92) * ext,
            rng.uniform(0.08, 0.92) * ext,
            rng.uniform(300, 800),
            rng.uniform(30, 90),
        )
        for _ in range(5)
    ]
    tilt = rng.uniform(-6, 6, 2)  # the plain slopes gently (alluvial fan)

    def dem(x, y):
        u = np.asarray(x, float) - p.origin_x_m
        v = np.asarray(y, float) - p.origin_y_m
        fx = np.clip((u + pad) / cell, 0.0, cells - 1.000001)
        fy = np.clip((v + pad) / cell, 0.0, cells - 1.000001)
        ix = np.minimum(fx.astype(np.int64), cells - 2)
        iy = np.minimum(fy.astype(np.int64), cells - 2)
        wx = fx - ix
        wy = fy - iy

        def bilinear(grid):
            # The smooth fields are interpolated and the sharp shaping applied at the points,
            # so range fronts and crests have no grid steps.
            return (
                grid[iy, ix] * (1 - wx) * (1 - wy)
                + grid[iy, ix + 1] * wx * (1 - wy)
                + grid[iy + 1, ix] * (1 - wx) * wy
                + grid[iy + 1, ix + 1] * wx * wy
            )

        z = scale * upland_height(bilinear(massif), bilinear(ridges))
        # Isolated hills stand on the plain; on the uplands they fade out (no clipped tops).
        plain = np.clip(1.0 - z / top, 0.0, 1.0)
        z += _PLAIN_BASE_M + tilt[0] * u / ext + tilt[1] * v / ext
        for hx, hy, hs, hh in hills:
            z += plain * hh * np.exp(-0.5 * ((u - hx) ** 2 + (v - hy) ** 2) / hs**2)
        return np.clip(z, 0.0, p.relief_m)

    return dem


def _place_features(p, dem):
    """Bowl centres (in the plain, supports not overlapping) and the uplift centre."""
    rng = _rng(p.seed, "bowls")
    ext = p.extent_m
    sigmas = rng.uniform(*p.bowl_sigma_range_m, size=p.n_bowls) * ext / 20000.0
    supports = sigmas * p.bowl_support_sigmas
    uplift_support = p.uplift_sigma_m * p.bowl_support_sigmas * ext / 20000.0
    margin = 0.12 * ext
    centres = []
    for _attempt in range(4000):
        centres = []
        radii = list(supports) + [uplift_support]
        for r in radii:
            for _ in range(200):
                cx, cy = rng.uniform(margin, ext - margin, size=2)
                if dem(cx + p.origin_x_m, cy + p.origin_y_m) > 80.0:
                    continue  # subsidence bowls and rebound belong to the alluvial plain
                if all(np.hypot(cx - ox, cy - oy) > r + orr + 0.03 * ext for ox, oy, orr in centres):
                    centres.append((cx, cy, r))
                    break
            else:
                break
        if len(centres) == len(radii):
            break
    else:  # pragma: no cover - the plain is always large enough at the default sizes
        raise ValueError("extent_m: too small to place the bowls without overlap")
    bowls = []
    for i, (cx, cy, r) in enumerate(centres):
        kind = "subsidence" if i < p.n_bowls else "uplift"
        sigma = sigmas[i] if kind == "subsidence" else p.uplift_sigma_m * ext / 20000.0
        bowls.append(
            {
                "x": float(cx + p.origin_x_m),
                "y": float(cy + p.origin_y_m),
                "radius_m": float(r),
                "sigma_m": float(sigma),
                "axis_ratio": float(rng.uniform(0.65, 1.0)),
                "azimuth_deg": float(rng.uniform(0, 180)),
                "kind": kind,
                "rate_mm_per_year": float(
                    rng.uniform(*p.bowl_rate_range_mm_per_year)
                    if kind == "subsidence"
                    else rng.uniform(*p.uplift_rate_range_mm_per_year)
                ),
                "well_id": "",
            }
        )
    return bowls


def _bowl_shape(bowl, x, y):
    """Elliptical Gaussian tapered to exactly 0 at ``radius_m`` along the major axis; 1 at the centre."""
    az = np.deg2rad(bowl["azimuth_deg"])
    dx = np.asarray(x) - bowl["x"]
    dy = np.asarray(y) - bowl["y"]
    a = dx * np.cos(az) + dy * np.sin(az)
    b = (-dx * np.sin(az) + dy * np.cos(az)) / bowl["axis_ratio"]
    rho2 = (a * a + b * b) / bowl["sigma_m"] ** 2
    cut2 = (bowl["radius_m"] / bowl["sigma_m"]) ** 2
    floor = np.exp(-0.5 * cut2)
    return np.where(rho2 < cut2, (np.exp(-0.5 * rho2) - floor) / (1.0 - floor), 0.0)


def _place_wells(p, bowls):
    """A well near every bowl centre (so its buffer samples the bowl), one near the uplift,
    the others spread over the area (mostly stable ground)."""
    rng = _rng(p.seed, "wells")
    ext = p.extent_m
    xs, ys, intensity = [], [], []
    for bowl in bowls:
        dist = rng.uniform(80, 300)
        ang = rng.uniform(0, 2 * np.pi)
        xs.append(bowl["x"] + dist * np.cos(ang))
        ys.append(bowl["y"] + dist * np.sin(ang))
        intensity.append(rng.uniform(0.8, 1.2) if bowl["kind"] == "subsidence" else 0.15)
    for _ in range(p.n_wells - len(bowls)):
        for _try in range(500):
            wx = p.origin_x_m + rng.uniform(0.08, 0.92) * ext
            wy = p.origin_y_m + rng.uniform(0.08, 0.92) * ext
            if all(np.hypot(wx - ox, wy - oy) > 0.12 * ext for ox, oy in zip(xs, ys)):
                break
        xs.append(wx)
        ys.append(wy)
        intensity.append(rng.uniform(0.1, 0.35))
    screens = np.empty((p.n_wells, len(LAYERS)))
    depth_ranges = ((15, 40), (60, 100), (120, 180), (220, 300))
    for j, (lo, hi) in enumerate(depth_ranges):
        screens[:, j] = np.round(rng.uniform(lo, hi, size=p.n_wells), 1)
    well_ids = np.array([f"W{i + 1:02d}" for i in range(p.n_wells)])
    return well_ids, np.array(xs), np.array(ys), np.array(intensity), screens


def _points(p, well_x, well_y, rng):
    """PS positions: towns around the wells and a few more, plus sparse rural points."""
    ext = p.extent_m
    n_extra_towns = 4
    town_x = np.concatenate(
        [well_x + rng.normal(0, 250, well_x.size), p.origin_x_m + rng.uniform(0.1, 0.9, n_extra_towns) * ext]
    )
    town_y = np.concatenate(
        [well_y + rng.normal(0, 250, well_y.size), p.origin_y_m + rng.uniform(0.1, 0.9, n_extra_towns) * ext]
    )
    town_sigma = rng.uniform(0.04, 0.08, town_x.size) * ext
    town_weight = rng.uniform(0.5, 1.5, town_x.size)
    m = p.n_points
    n_urban = int(round(p.urban_fraction * m))
    town = rng.choice(town_x.size, size=n_urban, p=town_weight / town_weight.sum())
    x = np.empty(m)
    y = np.empty(m)
    x[:n_urban] = town_x[town] + rng.normal(size=n_urban) * town_sigma[town]
    y[:n_urban] = town_y[town] + rng.normal(size=n_urban) * town_sigma[town]
    x[n_urban:] = p.origin_x_m + rng.uniform(0, ext, m - n_urban)
    y[n_urban:] = p.origin_y_m + rng.uniform(0, ext, m - n_urban)
    outside = (x < p.origin_x_m) | (x > p.origin_x_m + ext) | (y < p.origin_y_m) | (y > p.origin_y_m + ext)
    x[outside] = p.origin_x_m + rng.uniform(0, ext, outside.sum())
    y[outside] = p.origin_y_m + rng.uniform(0, ext, outside.sum())
    # Sorted north to south, west to east, as PS exports usually are.
    order = np.lexsort((x, -np.round(y, -2)))
    return x[order], y[order]

