"""Inputs shared by ``pcadecomposition`` and ``pcaerrorremoval``: elevation (a DEM or a field)
for the diagnostics and the elevation terms, and the decomposition step itself, so both read a
DEM and report a bad number of components the same way.
"""

import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterBand, QgsProcessingParameterRasterLayer

from ..core.pca import decompose
from ..core.raster_sampling import sample_raster

DEM = "DEM"
DEM_BAND = "DEM_BAND"


def add_dem_parameters(alg, help_text):
    """Add the optional DEM raster and its band (``DEM``, ``DEM_BAND``) to ``alg``."""
    dem = QgsProcessingParameterRasterLayer(DEM, alg.tr("DEM (elevation raster)"), optional=True)
    dem.setHelp(alg.tr(help_text))
    alg.addParameter(dem)
    band = QgsProcessingParameterBand(
        DEM_BAND, alg.tr("DEM band"), defaultValue=1, parentLayerParameterName=DEM, optional=True
    )
    band.setHelp(alg.tr("Band of the DEM holding the elevation (default 1)."))
    alg.addParameter(band)


def elevation(alg, parameters, context, ps, feedback):
    """(m,) elevation in metres: the DEM sampled at the points (nearest pixel) when given, else
    the layer's elevation field (``ps.z``, may be None). Points off the DEM or on nodata get NaN
    (a warning); a DEM that no point falls on is an error."""
    dem = alg.parameterAsRasterLayer(parameters, DEM, context)
    if dem is None:
        return ps.z
    if dem.providerType() != "gdal":
        raise QgsProcessingException(f"{DEM}: layer {dem.name()!r} is not a GDAL raster file")
    band = alg.parameterAsInt(parameters, DEM_BAND, context) or 1
    try:
        z = sample_raster(dem.source(), ps.x, ps.y, ps.crs or dem.crs().toWkt(), band=band)
    except ValueError as exc:
        raise QgsProcessingException(f"{DEM}: {exc}") from exc
    outside = int(np.sum(~np.isfinite(z)))
    if outside == z.size:
        raise QgsProcessingException(f"{DEM}: no point falls on a valid pixel of {dem.name()!r}")
    if outside:
        feedback.pushWarning(f"{DEM}: {outside} points fall outside the DEM or on nodata")
    return z


def decompose_points(ps, k, z, k_name, progress=None, input_name="INPUT"):
    """PCA of the layer's series (METHODS 2) with Processing errors naming the parameter at fault:
    ``k_name`` for a bad number of components (0 = the suggestion), ``input_name`` otherwise."""
    if k > ps.n_dates:
        raise QgsProcessingException(
            f"{k_name}: {k} components asked but the layer has only {ps.n_dates} dates"
        )
    try:
        return decompose(ps.displacement_mm, k=k or None, dates=ps.dates, ids=ps.ids, x=ps.x, y=ps.y, z=z,
                         progress=progress)
    except ValueError as exc:
        where = k_name if str(exc).startswith("k:") else input_name
        raise QgsProcessingException(f"{where}: {exc}") from exc
