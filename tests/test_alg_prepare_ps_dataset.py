"""subsidencelab:preparepsdataset: detection, conversion, re-referencing, resampling (issue 3)."""

import numpy as np
import pytest

from subsidence_lab.core import ps_io, ps_ops
from subsidence_lab.core.psdata import PSDataset


def _dataset(m=12, n=8, seed=5):
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2019-01-07") + np.cumsum(rng.integers(10, 40, n)) - 20
    t = (dates - dates[0]).astype(float) / 365.25
    rates = rng.uniform(-30, 5, m)
    series = np.round(rates[:, None] * t[None, :] + rng.normal(0, 1, (m, n)), 3)
    series[:, 0] = 0.0
    series[4, 5] = np.nan
    return PSDataset(
        ids=np.arange(1, m + 1),
        x=np.round(4_400_000 + rng.uniform(0, 3000, m), 1),
        y=np.round(3_100_000 + rng.uniform(0, 3000, m), 1),
        dates=dates.astype("datetime64[D]"),
        displacement_mm=series,
        z=rng.uniform(0, 50, m),
        incidence_deg=rng.uniform(30, 42, m),
        crs="EPSG:3035",
    )


@pytest.fixture()
def egms_csv(tmp_path):
    ps = _dataset()
    fields = {"pid": ps.ids, "height": ps.z, "incidence_angle": ps.incidence_deg}
    return ps, ps_io.write_ps_file(tmp_path / "egms.csv", ps, fields=fields, series_prefix="")


def test_vertical_and_rereferenced_values(provider, egms_csv, tmp_path):
    import processing

    ps, path = egms_csv
    out = str(tmp_path / "prepared.gpkg")
    result = processing.run(
        "subsidencelab:preparepsdataset",
        {"INPUT": path, "DIRECTION": 1, "REFERENCE_IDS": "2, 3", "OUTPUT": out},
    )
    back = ps_io.read_ps_file(result["OUTPUT"])
    expected = ps.displacement_mm / np.cos(np.deg2rad(ps.incidence_deg))[:, None]
    expected = expected - expected[1:3].mean(axis=0)
    np.testing.assert_allclose(back.displacement_mm, expected, atol=1e-9)
    np.testing.assert_array_equal(back.dates, ps.dates)
    np.testing.assert_array_equal(back.ids, ps.ids)
    assert back.direction == "vertical"
    velocity, std_error = ps_ops.velocity(expected, ps.dates)
    np.testing.assert_allclose(back.attributes["velocity_mm_per_year"], velocity)
    np.testing.assert_allclose(back.attributes["velocity_std_error_mm_per_year"], std_error)
    np.testing.assert_array_equal(back.attributes["n_valid_dates"], (~np.isnan(expected)).sum(axis=1))
    np.testing.assert_allclose(back.z, ps.z)


def test_monthly_with_reference_area(provider, egms_csv, tmp_path):
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    ps, path = egms_csv
    area = QgsVectorLayer("Polygon?crs=EPSG:3035", "ref", "memory")
    inside = np.argsort(ps.x)[:3]
    x0, x1 = ps.x[inside].min() - 1, ps.x[inside].max() + 1
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt(f"POLYGON(({x0} 0, {x1} 0, {x1} 9e6, {x0} 9e6, {x0} 0))"))
    area.dataProvider().addFeatures([feature])
    out = str(tmp_path / "monthly.gpkg")
    result = processing.run(
        "subsidencelab:preparepsdataset",
        {"INPUT": path, "REFERENCE_AREA": area, "MONTHLY": True, "OUTPUT": out},
    )
    back = ps_io.read_ps_file(result["OUTPUT"])
    months, monthly = ps_ops.resample_monthly(
        ps.displacement_mm - ps.displacement_mm[inside].mean(axis=0), ps.dates
    )
    np.testing.assert_array_equal(back.dates, months)
    assert np.all(back.dates.astype("datetime64[M]").astype("datetime64[D]") == back.dates)  # first of month
    np.testing.assert_allclose(back.displacement_mm, monthly, atol=1e-9)
    assert back.direction == "LOS"


def test_no_date_fields_is_a_clear_error_and_input_untouched(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    path = tmp_path / "nodates.csv"
    path.write_text("pid,easting,northing,mean_velocity\n1,4400000,3100000,-3.5\n")
    before = path.read_bytes()
    with pytest.raises(QgsProcessingException, match="fields seen: pid, easting, northing, mean_velocity"):
        processing.run(
            "subsidencelab:preparepsdataset", {"INPUT": str(path), "OUTPUT": str(tmp_path / "o.gpkg")}
        )
    assert path.read_bytes() == before
    assert not (tmp_path / "o.gpkg").exists()


def test_qgis_process_on_egms_csv_writes_every_point_and_date(qgis_process, egms_csv, tmp_path):
    from qgis.core import QgsVectorLayer

    ps, path = egms_csv
    out = tmp_path / "from_qgis_process.gpkg"
    result = qgis_process(
        "run", "subsidencelab:preparepsdataset", "--", f"INPUT={path}", f"OUTPUT={out}", json_output=True
    )
    assert "OUTPUT" in result["results"]
    layer = QgsVectorLayer(str(out), "prepared", "ogr")
    assert layer.isValid() and layer.featureCount() == ps.n_points
    assert layer.crs().authid() == "EPSG:3035"
    date_fields = [f.name() for f in layer.fields() if f.name().startswith("D") and f.name()[1:].isdigit()]
    assert date_fields == [f"D{str(d).replace('-', '')}" for d in ps.dates]
    back = ps_io.read_ps_file(str(out))
    np.testing.assert_allclose(back.displacement_mm, ps.displacement_mm, atol=1e-9)
    np.testing.assert_allclose(back.x, ps.x)
