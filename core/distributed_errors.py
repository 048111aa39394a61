"""The error removal of METHODS.md section 3 on a dask array (``core/error_removal.py`` in blocks).

:func:`core.error_removal.remove_errors` and :func:`core.polynomial.fit_epoch_polynomials` hand a
dask array here. Every step is per point except two global ones:

* the per-date polynomial surfaces (step 4): least squares over the fit points, from the
  normal equations summed over blocks, ``sum_b A_b^T A_b`` (p x p) and ``sum_b A_b^T R_b``
  (p x n, gaps zero), with the per-date downdate ``sum_b A_gap^T A_gap`` (n x p x p) for the
  dates where fit points have gaps (as the in-memory code does). The coordinates are centred and
  scaled over the fit points first (mean and standard deviation: one dask reduction);
* the automatic stable area (median of the deformation-model velocity: the (m,) velocities are
  gathered) and, with a stable area, the error maps carried in from the stable points (a k-d
  tree of the stable points, built once and queried per block).

The in-memory code solves the dates without gaps by QR and this one by the normal equations:
with the scaled coordinates (condition number of A ~ 10) the two agree to ~1e-13 relative
(tests/test_distributed.py). The (m, n) results are lazy dask arrays: compute or store them.
"""

import numpy as np

from . import error_removal as er
from .distributed import Parts, run
from .noise_floor import remove_noise_floor_dask
from .polynomial import POLYNOMIAL_KINDS, POLYNOMIAL_TERMS, PolynomialFit


def _rows_like(values, X, dtype=np.float64):
    """A per-point array (numpy or dask) as a dask array with the row chunks of ``X``."""
    import dask.array as da

    if values is None:
        return None
    if hasattr(values, "dask"):
        return values.astype(dtype).rechunk((X.chunks[0],))
    return da.from_array(np.asarray(values, dtype=dtype), chunks=(X.chunks[0],))


def _columns(scaled, terms):
    xs, ys, zs = scaled
    columns = {"h": np.ones(xs.shape[0]), "x": xs, "y": ys}
    if "xy" in terms:
        columns.update(xy=xs * ys, x2=xs**2, y2=ys**2)
    if "z" in terms:
        columns.update(z=zs, z2=zs**2)
    return np.column_stack([columns[t] for t in terms])


def _design_block(x, y, z, centres, spreads, terms):
    scaled = [None if v is None else (v - c) / s for v, c, s in zip((x, y, z), centres, spreads)]
    return _columns(scaled, terms)


def _normal_block(r, x, y, z, mask, centres, spreads, terms):
    """One block's share of the normal equations over its fit points (module docstring)."""
    a = _design_block(x[mask], y[mask], None if z is None else z[mask], centres, spreads, terms)
    b = r[mask]
    gaps = np.isnan(b)
    rhs = a.T @ np.where(gaps, 0.0, b)
    p = a.shape[1]
    downdate = np.zeros((b.shape[1], p * p))
    with_gap = gaps.any(axis=1)
    if with_gap.any():
        outer = (a[with_gap, :, None] * a[with_gap, None, :]).reshape(-1, p * p)
        downdate = gaps[with_gap].T.astype(np.float64) @ outer
    return Parts(a.T @ a, rhs, downdate.reshape(-1, p, p), (~gaps).sum(axis=0))


def _surface_block(x, y, z=None, coefficients=None, centres=None, spreads=None, terms=()):
    return _design_block(x, y, z, centres, spreads, terms) @ coefficients.T


def fit_polynomials_dask(residual, x, y, z=None, kind="quadratic_elevation", fit_mask=None, progress=None):
    """:func:`core.polynomial.fit_epoch_polynomials` of a dask (m, n) residual: ``surface_mm`` lazy."""
    import dask.array as da
    from dask import delayed

    if residual.ndim != 2:
        raise ValueError(f"residual_mm: expected an (points x dates) matrix, got shape {residual.shape}")
    m, n = residual.shape
    terms = POLYNOMIAL_TERMS.get(kind)
    if terms is None:
        raise ValueError(f"polynomial: expected one of {', '.join(POLYNOMIAL_KINDS)}, got {kind!r}")
    residual = residual.rechunk({1: -1})
    mask = _rows_like(np.ones(m, bool) if fit_mask is None else fit_mask, residual, bool)
    if mask.shape != (m,):
        raise ValueError(f"fit_mask: expected {m} values (one per point), got shape {mask.shape}")
    if not terms:
        return PolynomialFit(
            kind, (), np.zeros((n, 0)), da.zeros((m, n), chunks=residual.chunks), np.asarray(mask)
        )
    if "z" in terms and z is None:
        raise ValueError("z: the quadratic_elevation polynomial needs an elevation per point")
    coords = [_rows_like(v, residual) for v in (x, y, z if "z" in terms else None)]
    names = ("x", "y", "z")
    stats = []
    for values in coords:
        if values is not None:
            ref = values[mask]
            stats += [ref.mean(), ref.std(), da.isfinite(ref).all()]
    stats.append(mask.sum())
    values = run(stats, progress, (0.0, 0.1))
    p = len(terms)
    if int(values[-1]) < p:
        raise ValueError(
            f"fit_mask: {int(values[-1])} fit points cannot determine the {p} terms of the {kind} polynomial"
        )
    centres, spreads = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    for i, name in enumerate(n for n, v in zip(names, coords) if v is not None):
        mean, spread, finite = values[3 * i : 3 * i + 3]
        if not finite:
            raise ValueError(f"{name}: the fit points must have finite {name} values (found NaN/inf)")
        if spread == 0:
            raise ValueError(f"{name}: constant over the fit points, so its terms cannot be fitted")
        centres[i], spreads[i] = float(mean), float(spread)
    blocks = [
        b.ravel()
        for b in (
            residual.to_delayed(),
            *(c.to_delayed() for c in coords if c is not None),
            mask.to_delayed(),
        )
    ]
    zb = blocks[3] if coords[2] is not None else [None] * len(blocks[0])
    normal = delayed(_normal_block, pure=True)
    tasks = [
        normal(r, xb, yb, zz, mb, centres, spreads, terms)
        for r, xb, yb, zz, mb in zip(blocks[0], blocks[1], blocks[2], zb, blocks[-1])
    ]
    parts = run(tasks, progress, (0.1, 0.9))
    gram = sum(q[0] for q in parts)
    rhs = sum(q[1] for q in parts)
    downdate = sum(q[2] for q in parts)
    observed = sum(q[3] for q in parts)
    eig = np.linalg.eigvalsh(gram)
    if eig[0] < 1e-20 * eig[-1]:
        raise ValueError(f"fit_mask: the fit points do not determine the {kind} polynomial")
    short = np.flatnonzero(observed < p)
    if short.size:
        j = int(short[0])
        raise ValueError(
            f"residual_mm: epoch {j} has only {int(observed[j])} observed fit points, "
            f"fewer than the {p} terms of the {kind} polynomial"
        )
    coefficients = np.linalg.solve(gram[None, :, :] - downdate, rhs.T[:, :, None])[:, :, 0]
    given = [c for c in coords if c is not None]
    surface = da.map_blocks(
        _surface_block,
        *given,
        coefficients=coefficients,
        centres=centres,
        spreads=spreads,
        terms=terms,
        dtype=np.float64,
        chunks=(residual.chunks[0], (n,)),
        new_axis=1,
    )
    if progress is not None:
        progress(1.0, None)
    return PolynomialFit(kind, terms, coefficients, surface, mask)


def _stable_ground_dask(X, dates, x, y, z, polynomial, significance, margin_m):
    """:func:`core.stable_ground.automatic_stable_ground` from its sample of rows (gathered)."""
    from scipy.spatial import cKDTree

    from . import stable_ground as sg

    m = X.shape[0]
    sample = np.arange(m)
    if m > sg.SELECT_MAX_POINTS:
        sample = np.sort(np.random.default_rng(0).choice(m, sg.SELECT_MAX_POINTS, replace=False))
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    za = None if z is None else np.asarray(z, dtype=np.float64)
    sub = run([X[sample]])[0].astype(np.float64)
    ground = sg.automatic_stable_ground(
        sub,
        dates,
        xa[sample],
        ya[sample],
        None if za is None else za[sample],
        polynomial,
        significance,
        margin_m,
    )
    if sample.size == m:
        return ground
    mask = np.zeros(m, dtype=bool)
    mask[sample] = ground.mask
    nearest = cKDTree(sg._xy(xa[sample], ya[sample])).query(sg._xy(xa, ya), k=1)[1]
    moving = ground.moving[nearest]
    moving[sample] = ground.moving
    return sg.StableGround(
        mask, moving, ground.reference_velocity_mm_per_year, ground.margin_m, ground.relaxed, ground.usable
    )


def fit_polynomials_robust_dask(residual, x, y, z, kind, fit_mask, progress=None, cutoff=None):
    """:func:`core.polynomial.fit_epoch_polynomials_robust`: a first fit on the fit points, the
    points fitted worst (RMS over the dates above median + cutoff x 1.4826 MAD) left out, refit."""
    import dask.array as da

    from . import polynomial as poly

    cutoff = poly.ROBUST_CUTOFF if cutoff is None else cutoff
    m = residual.shape[0]
    terms = POLYNOMIAL_TERMS.get(kind)
    mask = np.ones(m, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    if not terms or mask.shape != (m,) or mask.sum() <= 2 * len(terms):
        return fit_polynomials_dask(residual, x, y, z, kind, fit_mask, progress)
    first = fit_polynomials_dask(residual, x, y, z, kind, mask)
    rows = np.flatnonzero(mask)
    with np.errstate(invalid="ignore"):
        rms = run(
            [da.sqrt(da.nanmean((residual[rows] - first.surface_mm[rows]) ** 2, axis=1))],
            progress,
            (0.0, 0.3),
        )[0]
    centre = np.nanmedian(rms)
    scale = 1.4826 * np.nanmedian(np.abs(rms - centre))
    bad = ~(rms <= centre + cutoff * max(scale, 1e-9))
    if bad.any() and (~bad).sum() > 2 * len(terms):
        mask = mask.copy()
        mask[rows[bad]] = False
    sub = None if progress is None else (lambda f, msg=None: progress(0.3 + 0.7 * f, msg))
    return fit_polynomials_dask(residual, x, y, z, kind, mask, sub)


def _screen_block(x, y, tree, stable_rows, values, length_m, neighbours, shrink, first_row):
    """One block of :func:`core.residual_screen.residual_screen`; with ``length_m`` None the
    distances to the last neighbour (for the global median that sets the length)."""
    xy = np.column_stack([x, y])
    count = int(min(neighbours + 1, values.shape[0]))
    distance, index = tree.query(xy, k=count)
    distance, index = distance.reshape(-1, count), index.reshape(-1, count)
    if length_m is None:
        return distance[:, -1]
    weight = np.exp(-0.5 * (distance / length_m) ** 2)
    weight[stable_rows[index] == (first_row + np.arange(xy.shape[0]))[:, None]] = 0.0
    numerator = np.einsum("uj,ujn->un", weight, values[index])
    return numerator / (weight.sum(axis=1)[:, None] + shrink)


def _residual_screen_dask(corrected, x, y, mask):
    """:func:`core.residual_screen.residual_screen` (its first output) as a lazy (m, n) array."""
    import dask.array as da
    from dask import delayed
    from scipy.spatial import cKDTree

    from . import residual_screen as rs

    stable_rows = np.flatnonzero(mask)
    values, sx, sy = run([corrected[stable_rows], x[stable_rows], y[stable_rows]])
    shared = [
        delayed(v, pure=False)
        for v in (cKDTree(np.column_stack([sx, sy])), stable_rows, np.nan_to_num(values, nan=0.0))
    ]
    starts = np.concatenate([[0], np.cumsum(x.chunks[0])[:-1]]).astype(np.int64)
    pairs = list(zip(x.to_delayed().ravel(), y.to_delayed().ravel(), starts))
    block = delayed(_screen_block)
    last = run([block(xb, yb, *shared, None, rs.NEIGHBOURS, rs.SHRINK, s) for xb, yb, s in pairs])
    length_m = float(np.clip(np.median(np.concatenate(last)), rs.MIN_LENGTH_M, rs.MAX_LENGTH_M))
    n = corrected.shape[1]
    parts = [
        da.from_delayed(
            block(xb, yb, *shared, length_m, rs.NEIGHBOURS, rs.SHRINK, s), shape=(rows, n), dtype=np.float64
        )
        for (xb, yb, s), rows in zip(pairs, x.chunks[0])
    ]
    return da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def _interpolate_block(maps, x, y, stable, tree, source_maps, neighbours):
    x, y, stable = x[:, 0], y[:, 0], stable[:, 0]
    out = maps.copy()
    target = ~stable
    if target.any():
        count = int(min(neighbours, source_maps.shape[0]))
        distance, index = tree.query(np.column_stack([x[target], y[target]]), k=count)
        distance, index = distance.reshape(-1, count), index.reshape(-1, count)
        weight = 1.0 / np.maximum(distance, 1e-6) ** 2
        weight /= weight.sum(axis=1, keepdims=True)
        out[target] = np.einsum("uj,ujk->uk", weight, source_maps[index])
    return out


def _from_stable(maps, x, y, mask):
    """:func:`core.error_removal.interpolate_from_stable` with a k-d tree of the stable points."""
    import dask.array as da
    from scipy.spatial import cKDTree

    from . import residual_screen as rs

    if x is None or y is None:
        raise ValueError("x, y: coordinates are needed to carry the error maps from the stable area")
    source = mask & da.isfinite(maps).all(axis=1)
    sx, sy, smaps = run([x[source], y[source], maps[source]])
    if sx.size == 0:
        raise ValueError("fit_mask: no stable point has a finite error-component map")
    tree = cKDTree(np.column_stack([sx, sy]))
    maps = maps.rechunk({1: -1})
    return da.map_blocks(
        _interpolate_block,
        maps,
        x[:, None],
        y[:, None],
        mask[:, None],
        tree,
        smaps,
        rs.ERROR_MAP_NEIGHBOURS,
        dtype=np.float64,
        chunks=maps.chunks,
    )


def remove_errors_dask(
    X,
    dec,
    dates,
    x,
    y,
    z,
    ids,
    deformation_components,
    error_components,
    polynomial,
    fit_mask,
    progress,
    reference="auto",
    significance=None,
    screen=True,
    margin_m=None,
    noise_floor=True,
):
    """:func:`core.error_removal.remove_errors` of a dask (m, n) array (module docstring).

    The decomposition's S may be numpy (rows matched to ``ids``) or a dask array in X's row order."""
    import dask.array as da

    from .stable_ground import SIGNIFICANCE

    X = X.rechunk({1: -1})
    m, n = X.shape
    if polynomial not in POLYNOMIAL_KINDS:
        raise ValueError(f"polynomial: expected one of {', '.join(POLYNOMIAL_KINDS)}, got {polynomial!r}")
    temporal, sigma, mean_mm = (
        np.asarray(a, dtype=np.float64) for a in (dec.temporal, dec.sigma, dec.mean_mm)
    )
    if temporal.shape[0] != n or mean_mm.shape != (n,):
        raise ValueError(f"decomposition: it has {temporal.shape[0]} dates, the series {n}")
    dates = np.asarray(dec.dates if dates is None else dates, dtype="datetime64[D]")
    if dec.dates is not None and not np.array_equal(np.asarray(dec.dates, dtype="datetime64[D]"), dates):
        raise ValueError("dates: the decomposition's dates differ from the series' dates")
    spatial = dec.spatial
    if not hasattr(spatial, "dask"):
        spatial = er.align_spatial(dec, None if ids is None or hasattr(ids, "dask") else ids)
    if spatial.shape[0] != m:
        raise ValueError(f"decomposition: it has {spatial.shape[0]} points, the series {m}")
    spatial = (
        _rows_like(spatial, X).rechunk({1: -1})
        if hasattr(spatial, "dask")
        else da.from_array(np.asarray(spatial, dtype=np.float64), chunks=(X.chunks[0], -1))
    )
    labels = list(getattr(dec, "labels", None) or [])
    d_list = er._components(
        er.default_components(labels, er.DEFORMATION_LABELS)
        if deformation_components is None
        else deformation_components,
        sigma.size,
        "deformation_components",
    )
    e_list = er._components(
        er.default_components(labels, er.ERROR_LABELS) if error_components is None else error_components,
        sigma.size,
        "error_components",
    )
    if set(d_list) & set(e_list):
        raise ValueError(
            f"error_components: component(s) {sorted(set(d_list) & set(e_list))} are also "
            "listed as deformation"
        )
    if reference not in er.REFERENCES:
        raise ValueError(f"reference: expected one of {', '.join(er.REFERENCES)}, got {reference!r}")
    d_idx, e_idx = np.asarray(d_list, dtype=int) - 1, np.asarray(e_list, dtype=int) - 1
    ground = None
    if isinstance(fit_mask, str) and fit_mask != "auto":
        raise ValueError(f"fit_mask: expected None, 'auto' or one value per point, got {fit_mask!r}")
    if isinstance(fit_mask, str):
        if x is None or y is None:
            raise ValueError("x, y: coordinates are needed to find the stable ground")
        ground = _stable_ground_dask(X, dates, x, y, z, polynomial, significance or SIGNIFICANCE, margin_m)
        fit_mask = ground.mask if ground.usable else None
    stable_reference = fit_mask is not None
    mask = np.asarray(fit_mask, bool) if stable_reference else np.ones(m, dtype=bool)
    if mask.shape != (m,) or not mask.any():
        raise ValueError(f"fit_mask: expected {m} values (one per point), some true; got shape {mask.shape}")
    t = er.years_since_first(dates)
    xd, yd = _rows_like(x, X), _rows_like(y, X)
    zero = da.zeros((m, n), chunks=X.chunks)
    deformation = (
        (spatial[:, d_idx] * sigma[d_idx]) @ er._line_fit(temporal[:, d_idx], t).T if d_idx.size else zero
    )
    errors = zero
    if e_idx.size:
        maps = spatial[:, e_idx] * sigma[e_idx]
        if stable_reference:
            own = mask | ~ground.moving if ground is not None else mask
            maps = _from_stable(maps, xd, yd, _rows_like(own, X, bool))
        errors = maps @ temporal[:, e_idx].T
    observed = X.astype(np.float64)
    residual = observed - mean_mm[None, :]
    residual = residual - errors
    if not stable_reference:
        residual = residual - deformation
    sub = None if progress is None else (lambda f, msg=None: progress(0.1 + 0.8 * f, msg))
    poly = fit_polynomials_robust_dask(residual, x, y, z, polynomial, mask, progress=sub)
    corrected = residual - poly.surface_mm
    surface = poly.surface_mm
    level_velocity, kept = float("nan"), False
    if stable_reference and screen and polynomial != "none":
        screen_mm = _residual_screen_dask(corrected, xd, yd, mask)
        corrected = corrected - screen_mm
        surface = surface + screen_mm
    if stable_reference:
        rows = np.flatnonzero(mask)
        level = mean_mm + run([(errors[rows] + surface[rows]).mean(axis=0)])[0]
        level_velocity, level_se = er._slope(level, t)
        kept = reference == "input" or (
            reference == "auto" and abs(level_velocity) > er.REFERENCE_SIGNIFICANCE * level_se
        )
    if polynomial == "none":
        offset = mean_mm.copy()
    elif stable_reference:
        offset = level_velocity * t if kept else np.zeros(n)
    else:
        offset = er._line_fit(mean_mm[:, None], t)[:, 0]
    if not stable_reference:
        corrected = corrected + deformation
    corrected = corrected + offset[None, :]
    corrected = da.where(da.isnan(observed), np.nan, corrected)
    lines = da.map_blocks(_velocity_block, corrected, dates, dtype=np.float64, chunks=(X.chunks[0], (3,)))
    noise = None
    if noise_floor and x is not None and y is not None:  # core.noise_floor
        corrected, noise = remove_noise_floor_dask(corrected, dates, x, y)
    if progress is not None:
        progress(1.0, None)
    return er.ErrorRemovalResult(
        corrected, deformation, errors, surface, mean_mm - offset, lines[:, 0], lines[:, 1], lines[:, 2],
        d_list, e_list, polynomial, poly.coefficients, mask, reference=reference,
        reference_velocity_mm_per_year=level_velocity, reference_kept=bool(kept), stable_ground=ground,
        noise_mm=noise,
    )


def _velocity_block(corrected, dates):
    return np.column_stack(er.linear_velocity(corrected, dates))
