"""subsidencelab:wellbuffersampling through processing.run on the synthetic study area (issue 10).

Expected members are found here by brute force (all distances), expected series from them with
``np.interp``, expected groundwater levels straight from the generator's records.
"""

import numpy as np
import pytest
from osgeo import ogr, osr
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer
from test_cancel import _CancelAfter

from subsidence_lab.core.ps_io import write_ps_file
from subsidence_lab.core.synthetic import LAYERS, groundwater_long_table, make_study_area

ALG = "subsidencelab:wellbuffersampling"
SERIES_FIELDS = ["feature_id", "date", "value_mm", "median_mm", "std_mm", "count", "increment_mm"]


class _Log(QgsProcessingFeedback):
    """Keeps the warnings and the info lines of a run."""

    def pushWarning(self, warning):
        self.lines.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info):
        self.lines.append(info)
        super().pushInfo(info)

    def __init__(self):
        super().__init__()
        self.lines = []


def _run(ps_path, wells_path, feedback=None, **params):
    """processing.run of the algorithm on a PS file and a wells file (well_id field)."""
    import processing

    base = {"INPUT": ps_path, "FEATURES": wells_path, "FEATURE_ID_FIELD": "well_id"}
    return processing.run(
        ALG, {**base, **params}, context=QgsProcessingContext(), feedback=feedback or QgsProcessingFeedback()
    )


def _files(folder):
    """The three destinations as GeoPackages in ``folder``."""
    return {name: str(folder / f"{name.lower()}.gpkg") for name in ("SERIES", "MEMBERS", "OUTPUT_FEATURES")}


def _null(v):
    return v is None or (hasattr(v, "isNull") and v.isNull())


def _wells(path, area, epsg=32650, far=True, duplicate=False):
    """Wells as a GeoPackage point layer (``well_id``, ``name``), optionally in another CRS."""
    gw = area.groundwater
    ids = (
        [str(w) for w in gw.well_ids]
        + (["FAR"] if far else [])
        + ([str(gw.well_ids[0])] if duplicate else [])
    )
    xs = list(gw.x) + ([gw.x[0] + 50000] if far else []) + ([gw.x[1]] if duplicate else [])
    ys = list(gw.y) + ([gw.y[0]] if far else []) + ([gw.y[1]] if duplicate else [])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32650)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(utm, srs)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("wells", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("well_id", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for well, x, y in zip(ids, xs, ys):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("well_id", well)
        feature.SetField("name", f"well {well}")
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(float(x), float(y))
        point.Transform(transform)
        feature.SetGeometry(point)
        layer.CreateFeature(feature)
    ds = None
    return str(path), ids


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wells")
    area = make_study_area(seed=3, n_points=3000, n_dates=54, nan_fraction=0.02)
    ps_path = write_ps_file(str(folder / "ps.gpkg"), area.ps)
    table = groundwater_long_table(area)
    lines = ["well_id,date,layer,level"]
    lines += [
        f"{w},{d},{lay},{float(v)!r}"
        for w, d, lay, v in zip(*(table[k] for k in ("well_id", "date", "layer", "level_m")))
    ]
    gw_path = folder / "groundwater.csv"
    gw_path.write_text("\n".join(lines) + "\n")
    return area, str(ps_path), str(gw_path), folder


def _rows(path):
    layer = QgsVectorLayer(path, "out", "ogr")
    assert layer.isValid(), path
    names = [f.name() for f in layer.fields()]
    return names, [dict(zip(names, f.attributes())) for f in layer.getFeatures()], layer


def test_series_members_and_features_on_the_synthetic_area(provider, study):
    area, ps_path, gw_path, folder = study
    wells_path, ids = _wells(folder / "wells.gpkg", area)
    log = _Log()
    out = folder / "run1"
    result = _run(ps_path, wells_path, log, RADIUS_M=300, GROUNDWATER=gw_path, **_files(out))
    ps, gw = area.ps, area.groundwater
    names, rows, _ = _rows(result["SERIES"])
    assert names[1:] == SERIES_FIELDS + [f"gw_{layer}" for layer in gw.layers]  # names[0] is the fid
    t = (ps.dates - ps.dates[0]).astype(float)
    by_well = {}
    for row in rows:
        by_well.setdefault(row["feature_id"], []).append(row)
    assert sorted(by_well) == sorted(ids)
    brute_counts = {}
    for w, (wx, wy) in zip(gw.well_ids.tolist(), zip(gw.x, gw.y)):
        members = np.flatnonzero(np.hypot(ps.x - wx, ps.y - wy) <= 300.0)
        brute_counts[str(w)] = members.size
        seen = ~np.isnan(ps.displacement_mm[members])
        mean = np.where(seen, ps.displacement_mm[members], 0).sum(axis=0) / seen.sum(axis=0)
        months = np.array([r["date"] for r in by_well[str(w)]], dtype="datetime64[D]")
        assert np.all(months.astype("datetime64[M]").astype("datetime64[D]") == months)
        expected = np.interp((months - ps.dates[0]).astype(float), t, mean)
        value = np.array([np.nan if _null(r["value_mm"]) else r["value_mm"] for r in by_well[str(w)]])
        assert np.mean(np.isfinite(value)) > 0.8
        ok = np.isfinite(value)
        np.testing.assert_allclose(value[ok], expected[ok], atol=1e-6)
        increment = np.array(
            [np.nan if _null(r["increment_mm"]) else r["increment_mm"] for r in by_well[str(w)]]
        )
        assert np.isnan(increment[0])
        both = ok[1:] & ok[:-1]
        np.testing.assert_allclose(increment[1:][both], np.diff(expected)[both], atol=1e-6)
        # Groundwater of each layer at each month, straight from the records.
        j = gw.well_ids.tolist().index(w)
        for layer_index, layer in enumerate(gw.layers):
            position = np.searchsorted(gw.dates, months)
            np.testing.assert_allclose(
                [r[f"gw_{layer}"] for r in by_well[str(w)]], gw.levels_m[j, layer_index, position], atol=1e-9
            )
    assert all(r["count"] == 0 and _null(r["value_mm"]) for r in by_well["FAR"])
    assert any("FAR" in line and "no PS point within 300 m" in line for line in log.lines)
    assert any("overlap" in line for line in log.lines)
    # Members: one row per (PS, well) membership, with the PS id, distance and date fields.
    names, rows, layer = _rows(result["MEMBERS"])
    assert {"id", "feature_id", "distance_m", f"D{str(ps.dates[-1]).replace('-', '')}"} <= set(names)
    assert len(rows) == sum(brute_counts.values())
    for row in rows[:50]:
        i = int(row["id"]) - 1 if ps.ids[0] == 1 else list(ps.ids).index(row["id"])
        j = gw.well_ids.tolist().index(row["feature_id"])
        assert row["distance_m"] == pytest.approx(np.hypot(ps.x[i] - gw.x[j], ps.y[i] - gw.y[j]), abs=1e-6)
    # Features: input attributes kept, counts and velocities added.
    names, rows, layer = _rows(result["OUTPUT_FEATURES"])
    assert {"well_id", "name", "feature_id", "ps_count", "mean_velocity_mm_per_year"} <= set(names)
    counts = {r["feature_id"]: r["ps_count"] for r in rows}
    assert counts == {**brute_counts, "FAR": 0}
    assert all(r["name"] == f"well {r['well_id']}" for r in rows)


def test_geographic_features_give_the_same_members(provider, study):
    area, ps_path, _, folder = study
    wells_path, _ = _wells(folder / "wells_4326.gpkg", area, epsg=4326, far=False)
    log = _Log()
    temporary = dict.fromkeys(_files(folder), "TEMPORARY_OUTPUT")
    result = _run(ps_path, wells_path, log, MONTHLY=False, **temporary)
    ps, gw = area.ps, area.groundwater
    layer = result["OUTPUT_FEATURES"]
    layer = layer if isinstance(layer, QgsVectorLayer) else QgsVectorLayer(layer, "f", "ogr")
    counts = {f["feature_id"]: f["ps_count"] for f in layer.getFeatures()}
    expected = {
        str(w): int(np.sum(np.hypot(ps.x - x, ps.y - y) <= 300.0)) for w, x, y in zip(gw.well_ids, gw.x, gw.y)
    }
    assert counts == expected
    assert any("reprojected features from EPSG:4326" in line for line in log.lines)
    assert layer.crs().authid() == "EPSG:4326"  # the features keep their own CRS


def test_duplicate_ids_fail_naming_them_and_write_nothing(provider, study):
    area, ps_path, _, folder = study
    wells_path, _ = _wells(folder / "wells_dup.gpkg", area, duplicate=True)
    out = folder / "dup"
    with pytest.raises(
        QgsProcessingException,
        match=rf"FEATURE_ID_FIELD: field 'well_id'.*duplicate ids '{area.groundwater.well_ids[0]}'",
    ):
        _run(ps_path, wells_path, **_files(out))
    assert not out.exists() or not any(out.iterdir())


def test_a_groundwater_table_without_the_wells_is_refused(provider, study, tmp_path):
    area, ps_path, _, folder = study
    wells_path, _ = _wells(folder / "wells_gw.gpkg", area, far=False)
    table = tmp_path / "other.csv"
    table.write_text("well_id,date,unconfined\nX1,2012-01-01,-3.0\n")
    with pytest.raises(
        QgsProcessingException, match="GROUNDWATER: groundwater: no feature id matches a well id"
    ):
        _run(ps_path, wells_path, GROUNDWATER=str(table), **_files(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


def test_cancel_leaves_no_output(provider, study, tmp_path):
    area, ps_path, gw_path, folder = study
    wells_path, _ = _wells(tmp_path / "wells.gpkg", area)
    before = sorted(p.name for p in tmp_path.iterdir())
    feedback = _CancelAfter(25)
    with pytest.raises(QgsProcessingException):
        _run(ps_path, wells_path, feedback, GROUNDWATER=gw_path, **_files(tmp_path))
    assert feedback.isCanceled()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_qgis_process_chain_from_the_sample_study_area(qgis_process, tmp_path):
    """Headless, from the installed ZIP: samplestudyarea's wells and groundwater table go straight in."""
    made = {
        name: tmp_path / f"{name.lower()}.gpkg"
        for name in ("OUTPUT_PS", "OUTPUT_WELLS", "OUTPUT_GROUNDWATER")
    }
    qgis_process(
        "run", "subsidencelab:samplestudyarea", "--", "SEED=2", "N_POINTS=1500", "N_DATES=54",
        *(f"{name}={path}" for name, path in made.items()), f"OUTPUT_TRUTH={tmp_path / 'truth.npz'}",
    )  # fmt: skip
    outputs = _files(tmp_path / "sampled")
    result = qgis_process(
        "run", "subsidencelab:wellbuffersampling", "--", f"INPUT={made['OUTPUT_PS']}",
        f"FEATURES={made['OUTPUT_WELLS']}", "FEATURE_ID_FIELD=well_id",
        f"GROUNDWATER={made['OUTPUT_GROUNDWATER']}",
        *(f"{name}={path}" for name, path in outputs.items()),
        json_output=True,
    )  # fmt: skip
    assert set(result["results"]) >= set(outputs)
    names, rows, _ = _rows(outputs["SERIES"])
    gw_names = [n for n in names if n.startswith("gw_")]
    assert names[1:8] == SERIES_FIELDS and gw_names == [f"gw_{layer}" for layer in LAYERS]
    # Every well is in the groundwater table: each sampled month with a value has its levels.
    with_value = [r for r in rows if not _null(r["value_mm"])]
    assert with_value and all(not _null(r[name]) for r in with_value for name in gw_names)
