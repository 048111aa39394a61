"""Bad inputs as a new user gives them (issue 9): each is a clear QgsProcessingException naming the
parameter, the field and the value (rows 1-based), or a warning where the run can go on. The
inputs are byte-identical afterwards and a failed or cancelled run leaves no output."""

import hashlib
import json

import numpy as np
import pytest
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsVectorLayer,
)

from subsidence_lab.core import ps_io
from subsidence_lab.core.pca import decompose
from subsidence_lab.core.psdata import PSDataset

X0, Y0 = 500_000.0, 4_000_000.0
N_SIDE, N_DATES = 8, 14
DATES = np.datetime64("2020-01-05") + 12 * np.arange(N_DATES)
DATE_NAMES = [f"D{str(d).replace('-', '')}" for d in DATES]


class Log(QgsProcessingFeedback):
    def __init__(self, cancel_above=None):
        super().__init__()
        self.infos, self.warnings = [], []
        self.cancel_above = cancel_above
        self.progressChanged.connect(self._progress)

    def pushInfo(self, info):
        self.infos.append(info)

    def pushWarning(self, warning):
        self.warnings.append(warning)

    def _progress(self, value):
        if self.cancel_above is not None and value > self.cancel_above and not self.isCanceled():
            self.cancel()


def _dataset(seed=0):
    """64 points on a 50 m grid, 14 dates: a slow bowl plus noise, pid 1001.., extra attributes."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(N_SIDE), np.arange(N_SIDE))
    x = X0 + 50.0 * gx.ravel()
    y = Y0 + 50.0 * gy.ravel()
    m = x.size
    years = (DATES - DATES[0]).astype(float) / 365.25
    rate = -20.0 * np.exp(-((x - x.mean()) ** 2 + (y - y.mean()) ** 2) / 150.0**2)
    series = rate[:, None] * years[None, :] + rng.normal(0, 1.0, (m, N_DATES))
    series -= series[:, :1]
    ids = np.arange(1001, 1001 + m)
    attributes = {
        "mp_type": np.array(["PS" if i % 3 else "DS" for i in range(m)], dtype=object),
        "temporal_coherence": np.round(rng.uniform(0.6, 1.0, m), 3),
        "height_ortho": np.round(rng.uniform(10, 40, m), 2),
        "mean_velocity": np.round(rate, 2),
    }
    return ids, x, y, series, attributes


def _geojson(path, ids, x, y, series, attributes, geometries=None):
    """A GeoJSON PS layer (EPSG:32650) with field ``pid``; ``geometries`` overrides points by row."""
    features = []
    for i in range(ids.size):
        props = {"pid": int(ids[i])}
        props.update({k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in attributes.items()})
        props.update({name: float(series[i, j]) for j, name in enumerate(DATE_NAMES)})
        geometry = {"type": "Point", "coordinates": [float(x[i]), float(y[i])]}
        if geometries and i in geometries:
            geometry = geometries[i]
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
        "features": features,
    }
    path.write_text(json.dumps(collection))
    return str(path)


def _gpkg(path, ids, x, y, series):
    ps = PSDataset(ids=ids, x=x, y=y, dates=DATES, displacement_mm=series, crs="EPSG:32650")
    return ps_io.write_ps_file(str(path), ps)


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _fails(alg, params, match, feedback=None):
    """Run ``alg``; it must raise a QgsProcessingException matching ``match``; returns the message."""
    import processing

    with pytest.raises(QgsProcessingException) as info:
        processing.run(
            f"subsidencelab:{alg}", params, context=QgsProcessingContext(), feedback=feedback or Log()
        )
    message = str(info.value)
    assert any(m in message for m in ([match] if isinstance(match, str) else match)), message
    return message


def _run(alg, params, feedback=None):
    import processing

    return processing.run(
        f"subsidencelab:{alg}", params, context=QgsProcessingContext(), feedback=feedback or Log()
    )


@pytest.fixture
def layer(tmp_path):
    ids, x, y, series, attributes = _dataset()
    path = _geojson(tmp_path / "ps.geojson", ids, x, y, series, attributes)
    return path, (ids, x, y, series, attributes)


def _decomposition(tmp_path, series, ids, k=3, dates=DATES):
    dec = decompose(series, k=k, dates=dates, ids=ids)
    path = tmp_path / "dec.npz"
    dec.save(str(path))
    return str(path)


# --- 1. values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1e30, np.inf, -np.inf])
@pytest.mark.parametrize("alg", ["preparepsdataset", "spatiotemporalfilter", "pcaerrorremoval"])
def test_huge_or_infinite_values_are_refused_naming_field_row_and_value(provider, tmp_path, alg, value):
    ids, x, y, series, _ = _dataset()
    bad = series.copy()
    bad[5, 7] = value
    src = _gpkg(tmp_path / "ps.gpkg", ids, x, y, bad)
    before = _digest(src)
    params = {"INPUT": src, "OUTPUT": str(tmp_path / "out.gpkg"), "POLYNOMIAL": 2}
    if alg == "pcaerrorremoval":  # with a decomposition file of the clean layer, as in the report
        params["DECOMPOSITION"] = _decomposition(tmp_path, series, ids)
    message = _fails(alg, params, "is not a displacement")
    assert message.startswith("INPUT:")
    assert DATE_NAMES[7] in message and "row 6" in message and "1006" in message
    assert ("1e+30" if value == 1e30 else "inf") in message
    assert "N_COMPONENTS" not in message
    assert _digest(src) == before
    assert not (tmp_path / "out.gpkg").exists()


# --- 2. duplicate ids --------------------------------------------------------------------------------


def _duplicated(tmp_path):
    ids, x, y, series, attributes = _dataset()
    dup = ids.copy()
    dup[9] = dup[3]  # row 10 repeats the id of row 4
    return _geojson(tmp_path / "dup.geojson", dup, x, y, series, attributes), ids, series


def test_duplicate_ids_are_not_paired_with_a_decomposition_file(provider, tmp_path):
    src, ids, series = _duplicated(tmp_path)
    before = _digest(src)
    dec = _decomposition(tmp_path, series, ids)
    params = {"INPUT": src, "DECOMPOSITION": dec, "OUTPUT": str(tmp_path / "o.gpkg"), "POLYNOMIAL": 2}
    message = _fails("pcaerrorremoval", params, "must be unique")
    assert "'pid'" in message and "1004" in message and "rows 4, 10" in message and "DECOMPOSITION" in message
    assert _digest(src) == before and not (tmp_path / "o.gpkg").exists()


def test_duplicate_reference_ids_are_refused_not_averaged(provider, tmp_path):
    src, _, _ = _duplicated(tmp_path)
    params = {"INPUT": src, "REFERENCE_IDS": "1004", "OUTPUT": str(tmp_path / "o.gpkg")}
    message = _fails("preparepsdataset", params, "held by 2 points")
    assert message.startswith("REFERENCE_IDS:") and "rows 4, 10" in message and "pid" in message


def test_duplicate_ids_are_reported(provider, tmp_path):
    src, _, _ = _duplicated(tmp_path)
    log = Log()
    _run("preparepsdataset", {"INPUT": src, "OUTPUT": str(tmp_path / "o.gpkg")}, log)
    assert any("1004" in w and "rows 4, 10" in w and "not unique" in w for w in log.warnings), log.warnings


# --- 3. geometry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("through_qgis", [False, True])
def test_a_null_geometry_is_refused(provider, tmp_path, through_qgis):
    ids, x, y, series, attributes = _dataset()
    src = _geojson(tmp_path / "ps.geojson", ids, x, y, series, attributes, geometries={6: None})
    before = _digest(src)
    value = QgsProcessingFeatureSourceDefinition(src, False, 10_000) if through_qgis else src
    message = _fails(
        "spatiotemporalfilter", {"INPUT": value, "OUTPUT": str(tmp_path / "o.gpkg")}, "has no point"
    )
    assert message.startswith("INPUT:") and "row 7" in message and "1007" in message
    assert _digest(src) == before and not (tmp_path / "o.gpkg").exists()


@pytest.mark.parametrize("through_qgis", [False, True])
def test_a_two_part_multipoint_is_refused_not_moved_to_its_centroid(provider, tmp_path, through_qgis):
    ids, x, y, series, attributes = _dataset()
    multi = {"type": "MultiPoint", "coordinates": [[X0, Y0], [X0 + 300.0, Y0 + 300.0]]}
    src = _geojson(tmp_path / "ps.geojson", ids, x, y, series, attributes, geometries={2: multi})
    value = QgsProcessingFeatureSourceDefinition(src, False, 10_000) if through_qgis else src
    message = _fails("spatiotemporalfilter", {"INPUT": value, "OUTPUT": str(tmp_path / "o.gpkg")}, "2 part")
    assert message.startswith("INPUT:") and "Multipart to Singleparts" in message


def test_a_one_part_multipoint_is_read_as_its_point(provider, tmp_path):
    ids, x, y, series, attributes = _dataset()
    multi = {"type": "MultiPoint", "coordinates": [[float(x[2]), float(y[2])]]}
    src = _geojson(tmp_path / "ps.geojson", ids, x, y, series, attributes, geometries={2: multi})
    out = _run("preparepsdataset", {"INPUT": src, "OUTPUT": str(tmp_path / "o.gpkg")})["OUTPUT"]
    got = {f["pid"]: f.geometry().asPoint() for f in QgsVectorLayer(out).getFeatures()}
    assert (got[1003].x(), got[1003].y()) == (x[2], y[2])


# --- 4. decomposition file ------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "text"])
def test_a_damaged_decomposition_file_is_a_clear_error(provider, layer, tmp_path, damage):
    src, (ids, _, _, series, _) = layer
    path = tmp_path / "dec.npz"
    with open(_decomposition(tmp_path, series, ids), "rb") as handle:
        good = handle.read()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "corrupted":
        middle = len(good) // 2
        path.write_bytes(
            good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 64]) + good[middle + 64 :]
        )
    else:
        path.write_text("pid,PC1\n1001,0.5\n")
    expected = "not a NumPy .npz archive" if damage == "text" else "truncated or corrupted"
    params = {"INPUT": src, "DECOMPOSITION": str(path), "OUTPUT": "TEMPORARY_OUTPUT", "POLYNOMIAL": 2}
    message = _fails("pcaerrorremoval", params, expected)
    assert message.startswith("DECOMPOSITION:") and "dec.npz" in message
    assert "pickled" not in message and "Traceback" not in message


def test_differing_dates_are_named(provider, layer, tmp_path):
    src, (ids, _, _, series, _) = layer
    other = DATES.copy()
    other[4] += 1
    path = _decomposition(tmp_path, series, ids, dates=other)
    params = {"INPUT": src, "DECOMPOSITION": path, "OUTPUT": "TEMPORARY_OUTPUT", "POLYNOMIAL": 2}
    message = _fails("pcaerrorremoval", params, "differ")
    assert f"only in the file: {other[4]}" in message and f"only in the layer: {DATES[4]}" in message


# --- 5. component lists ----------------------------------------------------------------------------------


def test_a_descending_component_range_is_refused(provider, layer, tmp_path):
    src, _ = layer
    params = {"INPUT": src, "ERROR_COMPONENTS": "6-3", "OUTPUT": str(tmp_path / "o.gpkg"), "POLYNOMIAL": 2}
    message = _fails("pcaerrorremoval", params, "descending range")
    assert message.startswith("ERROR_COMPONENTS:") and "'6-3'" in message and "3-6" in message


def test_a_fractional_number_of_components_is_refused(provider, layer, tmp_path):
    src, _ = layer
    params = {
        "INPUT": src,
        "N_COMPONENTS": 2.7,
        "OUTPUT": "TEMPORARY_OUTPUT",
        "COMPONENTS": "TEMPORARY_OUTPUT",
        "TEMPORAL": "TEMPORARY_OUTPUT",
        "DECOMPOSITION": str(tmp_path / "d.npz"),
    }
    message = _fails("pcadecomposition", params, "not a whole number")
    assert message.startswith("N_COMPONENTS:") and "2.7" in message
    assert not (tmp_path / "d.npz").exists()


# --- 6. validatebenchmarks ---------------------------------------------------------------------------------


def _stations(tmp_path, offsets, name="stations.geojson"):
    """Station points at (x, y) offsets from the grid corner, with D<date> series fields."""
    features = []
    for k, (dx, dy) in enumerate(offsets):
        props = {"name": f"S{k + 1}"}
        props.update({n: float(-0.5 * j) for j, n in enumerate(DATE_NAMES)})
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [X0 + dx, Y0 + dy]},
            }
        )
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": features,
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
            }
        )
    )
    return str(path)


def test_no_station_compared_is_an_error(provider, layer, tmp_path):
    src, _ = layer
    stations = _stations(tmp_path, [(100_000.0, 0.0), (0.0, 90_000.0)])
    params = {
        "INPUT": src,
        "STATIONS": stations,
        "STATION_ID_FIELD": "name",
        "OUTPUT": str(tmp_path / "v.gpkg"),
    }
    message = _fails("validatebenchmarks", params, "no station could be compared")
    assert message.startswith("STATIONS:") and "S1" in message and "RADIUS_M" in message
    assert not (tmp_path / "v.gpkg").exists()


def test_nearest_mode_has_a_distance_limit(provider, layer, tmp_path):
    src, _ = layer
    stations = _stations(tmp_path, [(5.0, 5.0), (100_000.0, 0.0)])
    log = Log()
    params = {
        "INPUT": src,
        "STATIONS": stations,
        "STATION_ID_FIELD": "name",
        "MODE": 0,
        "RADIUS_M": 100.0,
        "OUTPUT": str(tmp_path / "v.gpkg"),
    }
    out = _run("validatebenchmarks", params, log)["OUTPUT"]
    rows = {f["station_id"]: f for f in QgsVectorLayer(out).getFeatures()}
    assert rows["S1"]["n_pairs"] > 0
    assert rows["S2"]["n_pairs"] == 0 and rows["S2"]["n_ps"] == 0  # 100 km away: not compared
    assert any("S2" in w for w in log.warnings)


def test_a_series_table_given_as_stations_says_what_to_do(provider, layer, tmp_path):
    src, _ = layer
    table = tmp_path / "series.csv"
    table.write_text("name,date,value\nS1,2020-01-05,0.0\nS1,2020-01-17,-0.5\n")
    params = {"INPUT": src, "STATIONS": str(table), "STATION_ID_FIELD": "name", "OUTPUT": "TEMPORARY_OUTPUT"}
    message = _fails("validatebenchmarks", params, "no point geometry")
    assert message.startswith("STATIONS:") and "SERIES_TABLE" in message and "SERIES_DATE_FIELD" in message


# --- 7. outputs --------------------------------------------------------------------------------


def _pca_params(src, tmp_path, npz):
    return {
        "INPUT": src,
        "N_COMPONENTS": 3,
        "OUTPUT": str(tmp_path / "maps.gpkg"),
        "COMPONENTS": str(tmp_path / "components.gpkg"),
        "TEMPORAL": str(tmp_path / "temporal.gpkg"),
        "DECOMPOSITION": npz,
    }


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_failed_last_write_leaves_no_output(provider, layer, tmp_path):
    src, _ = layer
    (tmp_path / "taken.npz").mkdir()  # the .npz cannot be written: it is a folder
    before = _listing(tmp_path)
    _fails("pcadecomposition", _pca_params(src, tmp_path, str(tmp_path / "taken.npz")), "DECOMPOSITION:")
    assert _listing(tmp_path) == before  # no layer, table or temporary file left


def test_an_unwritable_destination_is_found_before_the_computation(provider, layer, tmp_path):
    src, _ = layer
    (tmp_path / "file.txt").write_text("not a folder")
    log = Log()
    before = _listing(tmp_path)
    message = _fails(
        "pcadecomposition",
        _pca_params(src, tmp_path, str(tmp_path / "file.txt" / "d.npz")),
        "DECOMPOSITION:",
        log,
    )
    assert "file.txt" in message
    assert not any("points" in line for line in log.infos), log.infos  # the layer was never read
    assert _listing(tmp_path) == before


def test_a_late_cancel_leaves_no_output(provider, layer, tmp_path):
    src, _ = layer
    before = _listing(tmp_path)
    log = Log(cancel_above=74.0)  # in the last step: tables and .npz being written
    with pytest.raises(QgsProcessingException, match="[Cc]ancel"):
        _run("pcadecomposition", _pca_params(src, tmp_path, str(tmp_path / "d.npz")), log)
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("ext", ["gpkg", "shp"])
def test_a_missing_folder_is_created_for_layers(provider, layer, tmp_path, ext):
    src, _ = layer
    out = tmp_path / "new" / "deeper" / f"filtered.{ext}"
    result = _run("spatiotemporalfilter", {"INPUT": src, "OUTPUT": str(out)})
    assert out.exists() and QgsVectorLayer(result["OUTPUT"]).featureCount() == N_SIDE * N_SIDE


def test_output_equal_to_input_is_refused(provider, tmp_path):
    ids, x, y, series, _ = _dataset()
    src = _gpkg(tmp_path / "ps.gpkg", ids, x, y, series)
    before = _digest(src)
    message = _fails("spatiotemporalfilter", {"INPUT": src, "OUTPUT": src}, "overwrite the input")
    assert message.startswith("OUTPUT:") and "INPUT" in message
    assert _digest(src) == before


# --- 9. attributes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["preparepsdataset", "spatiotemporalfilter", "pcaerrorremoval"])
def test_the_id_field_and_the_inputs_attributes_are_carried_through(provider, layer, tmp_path, alg):
    src, (ids, _, _, _, attributes) = layer
    before = _digest(src)
    out = _run(alg, {"INPUT": src, "OUTPUT": str(tmp_path / "o.gpkg"), "POLYNOMIAL": 2})["OUTPUT"]
    result = QgsVectorLayer(out)
    names = result.fields().names()
    assert "pid" in names and "id" not in names
    for name in attributes:
        assert name in names, (name, names)
    rows = {f["pid"]: f for f in result.getFeatures()}
    assert sorted(rows) == ids.tolist()
    for i, pid in enumerate(ids.tolist()):
        assert rows[pid]["mp_type"] == attributes["mp_type"][i]
        assert rows[pid]["temporal_coherence"] == pytest.approx(attributes["temporal_coherence"][i])
    assert _digest(src) == before


def test_the_inputs_attributes_can_be_dropped(provider, layer, tmp_path):
    src, _ = layer
    params = {"INPUT": src, "KEEP_ATTRIBUTES": False, "OUTPUT": str(tmp_path / "o.gpkg")}
    names = QgsVectorLayer(_run("spatiotemporalfilter", params)["OUTPUT"]).fields().names()
    assert names[:2] == ["fid", "pid"] and "mp_type" not in names and "velocity_mm_per_year" in names


def test_component_lists_are_parsed_in_core_for_the_docks_too():
    """core.components is Qt-free: the docks read "3-6" exactly as the algorithms do."""
    from subsidence_lab.core.components import parse_components, smooth_components

    assert parse_components(" 1, 3 - 5 7", "E") == [1, 3, 4, 5, 7]
    assert parse_components("", "E") is None
    for text, words in (("6-3", "descending"), ("0", "start at 1"), ("2,x", "cannot read"), ("9", "only 6")):
        with pytest.raises(ValueError, match=words):
            parse_components(text, "E", k=6)
    lag1 = {"lag1_autocorrelation": np.array([0.9, 0.1, 0.5, -0.2])}
    assert smooth_components(lag1, [2, 3, 4]) == [(3, 0.5)]
    assert smooth_components({}, [1]) == []
