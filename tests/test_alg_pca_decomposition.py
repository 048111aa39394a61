"""subsidencelab:pcadecomposition: outputs against the core decomposition, DEM option, bad input."""

import numpy as np
import pytest
from osgeo import gdal, osr

from subsidence_lab.core import ps_io
from subsidence_lab.core.pca import Decomposition, decompose_ps
from subsidence_lab.core.pca_diagnostics import DIAGNOSTIC_NAMES, elevation_correlation
from subsidence_lab.core.raster_sampling import sample_raster
from subsidence_lab.core.synthetic import make_study_area

ALG = "subsidencelab:pcadecomposition"


@pytest.fixture(scope="module")
def area_file(tmp_path_factory):
    """A small synthetic area (1500 points x 40 dates, 2 % gaps) as GeoPackage with a height field."""
    area = make_study_area(seed=3, n_points=1500, n_dates=40, nan_fraction=0.02)
    folder = tmp_path_factory.mktemp("pca_alg")
    path = ps_io.write_ps_file(folder / "ps.gpkg", area.ps, fields={"height": area.ps.z})
    return area, path


def _dem(path, area, nodata_corner=True):
    """A 100 m DEM over the area, z = 0.01 x + 0.02 y (local metres), optional nodata block."""
    x0, y0 = area.ps.x.min() - 500, area.ps.y.max() + 500
    cols = int((area.ps.x.max() - x0) / 100) + 6
    rows = int((y0 - area.ps.y.min()) / 100) + 6
    cx = x0 + 50 + 100 * np.arange(cols)
    cy = y0 - 50 - 100 * np.arange(rows)
    grid = 0.01 * (cx[None, :] - x0) + 0.02 * (y0 - cy[:, None]) + 10.0
    if nodata_corner:
        grid[:5, :5] = -9999.0
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((x0, 100.0, 0.0, y0, 0.0, -100.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32650)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(-9999.0)
    band.WriteArray(grid.astype(np.float32))
    ds = None
    return x0, y0


def _read(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    names = [f.name() for f in layer.fields()]
    rows = [dict(zip(names, f.attributes())) for f in layer.getFeatures()]
    return names, rows


def _run(params):
    import processing

    return processing.run(ALG, params)


def test_outputs_match_the_core_decomposition_and_chain_through_the_file(provider, area_file, tmp_path):
    area, path = area_file
    result = _run(
        {
            "INPUT": str(path),
            "N_COMPONENTS": 5,
            "OUTPUT": str(tmp_path / "pc.gpkg"),
            "COMPONENTS": str(tmp_path / "components.gpkg"),
            "TEMPORAL": str(tmp_path / "temporal.gpkg"),
            "DECOMPOSITION": str(tmp_path / "dec.npz"),
        }
    )
    ref = decompose_ps(area.ps, k=5)
    assert result["K_USED"] == 5 and result["SUGGESTED_K"] == ref.suggested_k

    names, rows = _read(result["OUTPUT"])
    assert [n for n in names if n.startswith("PC")] == ["PC1", "PC2", "PC3", "PC4", "PC5"]
    assert not any(n.startswith("D20") for n in names)  # only id + component maps are written
    by_id = {int(r["id"]): r for r in rows}
    maps = ref.component_maps_mm()
    got = np.array([[by_id[int(i)][f"PC{j + 1}"] for j in range(5)] for i in area.ps.ids])
    assert np.allclose(got, maps, rtol=1e-9, atol=1e-9)

    names, rows = _read(result["COMPONENTS"])
    expected = {"component", "label", "sigma_mm", "variance_share", "cumulative_share", *DIAGNOSTIC_NAMES}
    assert expected <= set(names)
    rows.sort(key=lambda r: r["component"])
    assert [r["label"] for r in rows] == ref.labels and ref.labels[0] == "deformation"
    assert np.allclose([r["sigma_mm"] for r in rows], ref.sigma)
    assert np.allclose([r["cumulative_share"] for r in rows], ref.cumulative_share)
    # The height field was detected, so the elevation correlation is there.
    assert np.allclose([r["elevation_correlation"] for r in rows], ref.diagnostics["elevation_correlation"])

    names, rows = _read(result["TEMPORAL"])
    assert names[1:] == ["date", "T1", "T2", "T3", "T4", "T5"]  # after the GeoPackage fid
    rows.sort(key=lambda r: r["date"].toString("yyyy-MM-dd"))
    assert [r["date"].toString("yyyy-MM-dd") for r in rows] == [str(d) for d in area.ps.dates]
    assert np.allclose([[r[f"T{j + 1}"] for j in range(5)] for r in rows], ref.temporal)

    back = Decomposition.load(result["DECOMPOSITION"])
    assert np.allclose(back.spatial, ref.spatial) and np.allclose(back.mean_mm, ref.mean_mm)
    assert back.labels == ref.labels and np.array_equal(back.ids, area.ps.ids)
    assert np.array_equal(back.dates, area.ps.dates)


def test_zero_components_uses_the_suggestion(provider, area_file, tmp_path):
    area, path = area_file
    result = _run(
        {
            "INPUT": str(path),
            "N_COMPONENTS": 0,
            "OUTPUT": "TEMPORARY_OUTPUT",
            "COMPONENTS": "TEMPORARY_OUTPUT",
            "TEMPORAL": "TEMPORARY_OUTPUT",
            "DECOMPOSITION": "TEMPORARY_OUTPUT",
        }
    )
    ref = decompose_ps(area.ps, k=None)
    assert result["K_USED"] == result["SUGGESTED_K"] == ref.k
    assert "noise floor" in result["SUGGESTION"]
    assert result["DECOMPOSITION"].endswith(".npz")
    assert Decomposition.load(result["DECOMPOSITION"]).k == ref.k
    table = result["COMPONENTS"]  # temporary outputs come back as layers
    assert table.featureCount() == ref.k
    assert sorted(f["label"] for f in table.getFeatures()) == sorted(ref.labels)
    assert result["TEMPORAL"].featureCount() == area.ps.n_dates
    names = [f.name() for f in result["OUTPUT"].fields()]
    # the id, the input's other fields (carried through by default), then the component maps
    assert names == ["id", "height"] + [f"PC{j + 1}" for j in range(ref.k)]


def test_dem_raster_gives_the_elevation_correlation(provider, area_file, tmp_path):
    area, path = area_file
    dem = tmp_path / "dem.tif"
    _dem(dem, area)
    result = _run(
        {
            "INPUT": str(path),
            "N_COMPONENTS": 4,
            "DEM": str(dem),
            "OUTPUT": str(tmp_path / "pc.gpkg"),
            "COMPONENTS": str(tmp_path / "components.gpkg"),
            "TEMPORAL": str(tmp_path / "temporal.gpkg"),
            "DECOMPOSITION": str(tmp_path / "dec.npz"),
        }
    )
    z = sample_raster(str(dem), area.ps.x, area.ps.y, "EPSG:32650")
    ref = decompose_ps(area.ps, k=4)
    expected = elevation_correlation(ref.spatial, z)
    assert not np.allclose(expected, ref.diagnostics["elevation_correlation"])  # the DEM, not the field
    _, rows = _read(result["COMPONENTS"])
    rows.sort(key=lambda r: r["component"])
    assert np.allclose([r["elevation_correlation"] for r in rows], expected)


def test_sample_raster_values_crs_nodata_and_outside(area_file, tmp_path):
    area, _ = area_file
    dem = tmp_path / "dem.tif"
    x0, y0 = _dem(dem, area)
    px = np.array([x0 + 1050.0, x0 + 2230.0, x0 + 120.0, x0 - 5000.0])
    py = np.array([y0 - 1550.0, y0 - 990.0, y0 - 120.0, y0])
    z = sample_raster(str(dem), px, py, "EPSG:32650")
    # Pixel centres of the cells the points fall in.
    assert z[0] == pytest.approx(0.01 * 1050 + 0.02 * 1550 + 10.0)
    assert z[1] == pytest.approx(0.01 * 2250 + 0.02 * 950 + 10.0)
    assert np.isnan(z[2]) and np.isnan(z[3])  # nodata corner, outside the raster
    # The same points given in WGS84 land on the same pixels.
    utm, geo = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32650)
    geo.ImportFromEPSG(4326)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    geo.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_geo = osr.CoordinateTransformation(utm, geo)
    lonlat = np.array(to_geo.TransformPoints(np.column_stack([px[:2], py[:2]])))
    zg = sample_raster(str(dem), lonlat[:, 0], lonlat[:, 1], "EPSG:4326")
    assert np.allclose(zg, z[:2])
    with pytest.raises(ValueError, match="band: 2 out of range"):
        sample_raster(str(dem), px, py, "EPSG:32650", band=2)
    with pytest.raises(ValueError, match="cannot open"):
        sample_raster(str(tmp_path / "missing.tif"), px, py, "EPSG:32650")


def test_bad_input_is_refused_with_the_parameter_named(provider, area_file, tmp_path):
    from qgis.core import QgsProcessingException

    area, path = area_file
    outputs = {
        "OUTPUT": str(tmp_path / "pc.gpkg"),
        "COMPONENTS": str(tmp_path / "components.gpkg"),
        "TEMPORAL": str(tmp_path / "temporal.gpkg"),
        "DECOMPOSITION": str(tmp_path / "dec.npz"),
    }
    with pytest.raises(QgsProcessingException, match="N_COMPONENTS: 41 components asked"):
        _run({"INPUT": str(path), "N_COMPONENTS": 41, **outputs})
    two = ps_io.write_ps_file(tmp_path / "two.gpkg", area.ps.subset(np.arange(2)))
    with pytest.raises(QgsProcessingException, match="INPUT: .*at least 3 points"):
        _run({"INPUT": str(two), "N_COMPONENTS": 2, **outputs})
    assert not (tmp_path / "dec.npz").exists()  # nothing half-written
