"""subsidencelab:pcaerrorremoval: outputs against the core, stable area from polygons/field, bad input."""

import numpy as np
import pytest
from osgeo import ogr, osr

from subsidence_lab.core import ps_io
from subsidence_lab.core.error_removal import remove_errors
from subsidence_lab.core.pca import decompose_ps
from subsidence_lab.core.synthetic import make_study_area
from subsidence_lab.core.validation import stable_area_rms

ALG = "subsidencelab:pcaerrorremoval"


@pytest.fixture(scope="module")
def area_files(tmp_path_factory):
    """1500 points x 40 dates with height and a 0/1 stable field; a decomposition file (k=10)."""
    area = make_study_area(seed=1, n_points=1500, n_dates=40, nan_fraction=0.02)
    folder = tmp_path_factory.mktemp("err_alg")
    stable = _outside_bowls(area)
    path = ps_io.write_ps_file(
        folder / "ps.gpkg", area.ps, fields={"height": area.ps.z, "is_stable": stable.astype(np.int64)}
    )
    no_z = ps_io.write_ps_file(folder / "ps_no_z.gpkg", area.ps)
    dec = decompose_ps(area.ps, k=10)
    dec_path = folder / "dec.npz"
    dec.save(dec_path)
    return area, stable, path, no_z, dec, dec_path, folder


def _outside_bowls(area, margin=1.0):
    ps = area.ps
    out = np.ones(ps.n_points, dtype=bool)
    for bowl in area.bowls:
        out &= np.hypot(ps.x - bowl["x"], ps.y - bowl["y"]) > margin * bowl["radius_m"]
    return out


def _stable_polygons_wgs84(area, path):
    """One polygon: the area's square with a hole per bowl, written in EPSG:4326."""
    ps = area.ps
    x0, x1 = ps.x.min() - 100, ps.x.max() + 100
    y0, y1 = ps.y.min() - 100, ps.y.max() + 100
    polygon = ogr.Geometry(ogr.wkbPolygon)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]:
        ring.AddPoint_2D(x, y)
    polygon.AddGeometry(ring)
    for bowl in area.bowls:
        hole = ogr.Geometry(ogr.wkbLinearRing)
        for a in np.linspace(0, 2 * np.pi, 257):
            hole.AddPoint_2D(
                bowl["x"] + bowl["radius_m"] * np.cos(a), bowl["y"] + bowl["radius_m"] * np.sin(a)
            )
        polygon.AddGeometry(hole)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32650)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    for srs in (utm, wgs):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    polygon.Transform(osr.CoordinateTransformation(utm, wgs))
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("stable", wgs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(polygon)
    layer.CreateFeature(feature)
    ds = None
    return str(path)


def _read(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    names = [f.name() for f in layer.fields()]
    rows = [dict(zip(names, f.attributes())) for f in layer.getFeatures()]
    return names, rows


def _value(v):
    return np.nan if v is None or (hasattr(v, "isNull") and v.isNull()) else v


def _column(rows, name):
    return np.array([_value(r[name]) for r in rows], dtype=float)


def _series(rows, names, prefix, dates):
    wanted = [f"{prefix}{str(d).replace('-', '')}" for d in dates]
    assert all(w in names for w in wanted)
    return np.column_stack([_column(rows, w) for w in wanted])


def _run(params):
    import processing

    return processing.run(ALG, params)


def test_outputs_match_the_core_with_a_decomposition_file_and_a_stable_field(provider, area_files, tmp_path):
    area, stable, path, _, dec, dec_path, _ = area_files
    result = _run(
        {
            "INPUT": str(path),
            "DECOMPOSITION": str(dec_path),
            "DEFORMATION_COMPONENTS": "1,2",
            "ERROR_COMPONENTS": "4-10",
            "POLYNOMIAL": 3,
            "STABLE_FIELD": "is_stable",
            "WRITE_REMOVED": True,
            "OUTPUT": str(tmp_path / "corrected.gpkg"),
        }
    )
    ps = area.ps
    core = remove_errors(
        ps.displacement_mm,
        dec,
        x=ps.x,
        y=ps.y,
        z=ps.z,
        ids=ps.ids,
        deformation_components=[1, 2],
        error_components=list(range(4, 11)),
        polynomial="quadratic_elevation",
        fit_mask=stable,
    )
    names, rows = _read(result["OUTPUT"])
    ids = _column(rows, "id").astype(np.int64)
    order = np.argsort(ids)
    assert np.array_equal(ids[order], ps.ids)
    corrected = _series(rows, names, "D", ps.dates)[order]
    np.testing.assert_allclose(corrected, core.corrected_mm, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(
        _column(rows, "velocity_mm_per_year")[order], core.velocity_mm_per_year, atol=1e-9
    )
    np.testing.assert_allclose(
        _column(rows, "velocity_std_mm_per_year")[order], core.velocity_std_mm_per_year, atol=1e-9
    )
    np.testing.assert_allclose(_column(rows, "residual_rms_mm")[order], core.residual_rms_mm, atol=1e-9)
    assert np.array_equal(_column(rows, "stable")[order].astype(bool), stable)
    # The removed parts add up: observed - corrected = E + P + N (N: the noise-floor step).
    removed = sum(_series(rows, names, part, ps.dates)[order] for part in "EPN")
    ok = ~np.isnan(ps.displacement_mm)
    np.testing.assert_allclose((ps.displacement_mm - corrected)[ok], removed[ok], atol=1e-6)
    assert result["STABLE_RMS_BEFORE"] == pytest.approx(stable_area_rms(ps.displacement_mm, stable))
    assert result["STABLE_RMS_AFTER"] == pytest.approx(stable_area_rms(core.corrected_mm, stable))
    assert result["STABLE_RMS_AFTER"] < 0.6 * result["STABLE_RMS_BEFORE"]


def test_stable_polygons_in_another_crs_select_the_points_outside_the_bowls(provider, area_files, tmp_path):
    area, stable, path, _, _, _, folder = area_files
    polygons = _stable_polygons_wgs84(area, tmp_path / "stable.gpkg")
    result = _run(
        {
            "INPUT": str(path),
            "N_COMPONENTS": 6,
            "POLYNOMIAL": 1,
            "STABLE_AREA": polygons,
            "OUTPUT": str(tmp_path / "corrected.gpkg"),
        }
    )
    _, rows = _read(result["OUTPUT"])
    ids = _column(rows, "id").astype(np.int64)
    flag = _column(rows, "stable")[np.argsort(ids)].astype(bool)
    # 256-gon holes vs exact circles: only points hugging a bowl's rim may differ.
    rim = ~_outside_bowls(area, 0.995) & _outside_bowls(area, 1.005) | (
        _outside_bowls(area, 0.995) & ~_outside_bowls(area, 1.005)
    )
    assert np.array_equal(flag[~rim], stable[~rim])
    assert stable.sum() > 300


def test_bad_inputs_name_the_parameter(provider, area_files, tmp_path):
    from qgis.core import QgsProcessingException

    area, _, path, _, dec, _, _ = area_files
    with pytest.raises(QgsProcessingException, match="ERROR_COMPONENTS"):
        _run({"INPUT": str(path), "ERROR_COMPONENTS": "3,x", "OUTPUT": str(tmp_path / "a.gpkg")})
    other = decompose_ps(area.ps.subset(np.arange(area.ps.n_points - 1)), k=4)
    other_path = tmp_path / "other.npz"
    other.save(other_path)
    with pytest.raises(QgsProcessingException, match="DECOMPOSITION.*ids"):
        _run({"INPUT": str(path), "DECOMPOSITION": str(other_path), "OUTPUT": str(tmp_path / "c.gpkg")})
    with pytest.raises(QgsProcessingException, match="ERROR_COMPONENTS.*also listed"):
        _run(
            {
                "INPUT": str(path),
                "N_COMPONENTS": 4,
                "DEFORMATION_COMPONENTS": "1",
                "ERROR_COMPONENTS": "1,2",
                "OUTPUT": str(tmp_path / "d.gpkg"),
            }
        )


def test_a_smooth_component_listed_as_error_is_warned_about(provider, area_files, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class Capture(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):
            self.warnings.append(text)

    _, _, path, _, _, dec_path, _ = area_files
    feedback = Capture()
    processing.run(
        ALG,
        {
            "INPUT": str(path),
            "DECOMPOSITION": str(dec_path),
            "DEFORMATION_COMPONENTS": "2",
            "ERROR_COMPONENTS": "1",  # PC1 is the secular subsidence: smooth in time
            "POLYNOMIAL": 1,
            "OUTPUT": str(tmp_path / "out.gpkg"),
        },
        feedback=feedback,
    )
    assert any("component 1 is removed as error" in w for w in feedback.warnings)
    assert not any("component 2 " in w for w in feedback.warnings)


def test_elevation_from_a_dem_is_sampled_at_the_points(provider, area_files, tmp_path):
    import processing
    from osgeo import gdal

    from subsidence_lab.core.raster_sampling import sample_raster

    area, stable, _, no_z, dec, dec_path, _ = area_files
    ps = area.ps
    x0, y0 = ps.x.min() - 500, ps.y.max() + 500
    cols, rows = int((ps.x.max() - x0) / 200) + 6, int((y0 - ps.y.min()) / 200) + 6
    cx = x0 + 100 + 200 * np.arange(cols)
    cy = y0 - 100 - 200 * np.arange(rows)
    grid = 20 + 40 * np.sin((cx[None, :] - x0) / 4000.0) + 0.004 * (y0 - cy[:, None])
    dem_path = str(tmp_path / "dem.tif")
    ds = gdal.GetDriverByName("GTiff").Create(dem_path, cols, rows, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((x0, 200.0, 0.0, y0, 0.0, -200.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32650)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(grid.astype(np.float32))
    ds = None
    result = processing.run(
        ALG,
        {
            "INPUT": str(no_z),
            "DECOMPOSITION": str(dec_path),
            "DEFORMATION_COMPONENTS": "1,2",
            "ERROR_COMPONENTS": "5-10",
            "POLYNOMIAL": 3,
            "DEM": dem_path,
            "OUTPUT": str(tmp_path / "out.gpkg"),
        },
    )
    z = sample_raster(dem_path, ps.x, ps.y, "EPSG:32650")
    core = remove_errors(
        ps.displacement_mm,
        dec,
        x=ps.x,
        y=ps.y,
        z=z,
        ids=ps.ids,
        deformation_components=[1, 2],
        error_components=list(range(5, 11)),
        polynomial="quadratic_elevation",
        fit_mask="auto",  # the algorithm's default without a stable area
    )
    _, rows = _read(result["OUTPUT"])
    order = np.argsort(_column(rows, "id"))
    np.testing.assert_array_equal(_column(rows, "stable")[order], core.fit_mask.astype(int))
    np.testing.assert_allclose(
        _column(rows, "velocity_mm_per_year")[order], core.velocity_mm_per_year, atol=1e-9
    )
