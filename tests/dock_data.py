"""Hand-built PS layers and linked outputs for the dock tests (the algorithms are not run).

Field names follow what the buffer-sampling and AM-LSTM algorithms write (members layer,
series / predictions / attention tables), so the dock is tested against that contract.
"""

import numpy as np
from qgis.core import QgsFeature, QgsVectorLayer
from qgis.PyQt.QtCore import QCoreApplication, QEvent

from subsidence_lab.core import gpkg_writer
from subsidence_lab.core.dates import date_field_name

CRS = "EPSG:32650"
N_SIDE = 6  # 36 PS on a 100 m grid
DATES = np.arange("2019-01-05", "2021-01-05", 24, dtype="datetime64[D]")  # 31 dates
WELL = "W7"
WELL_MEMBERS = (3, 4, 9)  # PS ids inside the well's buffer
MONTHS = np.arange("2019-01", "2021-01", dtype="datetime64[M]").astype("datetime64[D]")
GW_LAYERS = ("unconfined", "confined1")
ATTENTION = {"unconfined": 0.3, "confined1": 0.7}


def dispose(widget):
    """Tear a dock down and delete it now: a deferred delete left pending would run at exit,
    after the QGIS application is gone, and crash the test process."""
    widget.teardown()
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def ps_arrays(seed=0):
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(N_SIDE), np.arange(N_SIDE))
    x = 500000.0 + 100.0 * gx.ravel()
    y = 4400000.0 + 100.0 * gy.ravel()
    m = x.size
    years = (DATES - DATES[0]).astype(float) / 365.25
    velocity = rng.uniform(-40, 5, m)
    observed = velocity[:, None] * years[None, :] + rng.normal(0, 3, (m, DATES.size))
    observed[:, 0] = 0.0
    ids = np.arange(1, m + 1)
    return ids, x, y, observed, velocity


def write_ps_gpkg(path, ids, x, y, series, extra=()):
    names = [date_field_name(d) for d in DATES]
    columns = [("pid", "int", ids)] + list(extra)
    return gpkg_writer.write_points_gpkg(str(path), x, y, CRS, columns, series=(names, series))


def layer(path, name):
    lyr = QgsVectorLayer(str(path), name, "ogr")
    assert lyr.isValid(), path
    return lyr


def table(name, spec, rows):
    """A memory table without geometry: ``spec`` like ``feature_id:string&field=date:date``."""
    fields = "&".join(f"field={s}" for s in spec)
    lyr = QgsVectorLayer(f"None?{fields}", name, "memory")
    assert lyr.isValid()
    features = []
    for row in rows:
        feature = QgsFeature(lyr.fields())
        feature.setAttributes([v.item() if isinstance(v, np.generic) else v for v in row])
        features.append(feature)
    assert lyr.dataProvider().addFeatures(features)[0]
    return lyr


def well_series_rows():
    rng = np.random.default_rng(5)
    increments = rng.normal(-2.0, 0.5, MONTHS.size)
    value = np.cumsum(increments)
    levels = {layer: 20 - 0.1 * np.arange(MONTHS.size) + i for i, layer in enumerate(GW_LAYERS)}
    rows = [
        (WELL, str(d), float(value[i]), float(increments[i]), 3, *(float(levels[g][i]) for g in GW_LAYERS))
        for i, d in enumerate(MONTHS)
    ]
    return rows, value, increments, levels


def well_prediction_rows(increments, first=12):
    rng = np.random.default_rng(6)
    rows, predicted = [], {"amlstm": [], "lstm": [], "physical": []}
    for i in range(first, MONTHS.size):
        p = {k: increments[i] + rng.normal(0, 0.3) for k in predicted}
        for k in predicted:
            predicted[k].append(p[k])
        split = "test" if i >= MONTHS.size - 4 else "train"
        predicted_now = (p["amlstm"], p["lstm"], p["physical"])
        rows.append((WELL, str(MONTHS[i]), float(increments[i]), *predicted_now, split))
    return rows, {k: np.array(v) for k, v in predicted.items()}


def build_linked(tmp_path, ids, x, y, observed):
    """Corrected layer, members layer (+ per-PS AM-LSTM for PS 3), series/predictions/attention tables."""
    corrected = observed - 0.5 * observed.mean(axis=0)[None, :] - 1.0
    corrected_layer = layer(
        write_ps_gpkg(tmp_path / "ps_corrected.gpkg", ids, x, y, corrected,
                      extra=[("velocity_mm_per_year", "float", np.zeros(ids.size)),
                             ("residual_rms_mm", "float", np.zeros(ids.size))]),  # fmt: skip
        "corrected",
    )
    member_rows = [i - 1 for i in WELL_MEMBERS]
    wells = np.array([WELL] * len(member_rows), object)
    members_path = gpkg_writer.write_points_gpkg(
        str(tmp_path / "members.gpkg"), x[member_rows], y[member_rows], CRS,
        [("pid", "int", ids[member_rows]), ("feature_id", "str", wells),
         ("distance_m", "float", np.array([50.0, 120.0, 260.0]))],
        series=([date_field_name(d) for d in DATES], observed[member_rows]),
    )  # fmt: skip
    members = layer(members_path, "members")
    # the AM-LSTM simulation's member output: id, feature_id, amlstm_<YYYYMMDD> = monthly increments
    months = MONTHS[12:]
    increments_ps = np.random.default_rng(7).normal(-1.0, 0.4, (len(member_rows), months.size))
    am_names = [f"amlstm_{str(d).replace('-', '')}" for d in months]
    am_path = gpkg_writer.write_points_gpkg(
        str(tmp_path / "amlstm_members.gpkg"), x[member_rows], y[member_rows], CRS,
        [("id", "int", ids[member_rows]), ("feature_id", "str", wells)], series=(am_names, increments_ps),
    )  # fmt: skip
    am_members = layer(am_path, "amlstm members")
    series_rows, value, increments, levels = well_series_rows()
    gw_spec = [f"gw_{g}:double" for g in GW_LAYERS]
    series_spec = ["feature_id:string", "date:date", "value_mm:double", "increment_mm:double",
                   "count:integer"]  # fmt: skip
    series_table = table("series", series_spec + gw_spec, series_rows)
    prediction_rows, predicted = well_prediction_rows(increments)
    prediction_spec = ["feature_id:string", "date:date", "observed_mm:double", "amlstm_mm:double",
                       "lstm_mm:double", "physical_mm:double", "split:string"]  # fmt: skip
    predictions = table("predictions", prediction_spec, prediction_rows)
    attention_rows = [(WELL, g, None, w) for g, w in ATTENTION.items()]
    attention_rows += [(WELL, g, str(MONTHS[-1]), 0.5) for g in GW_LAYERS]
    attention = table("attention", ["feature_id:string", "layer:string", "date:date", "weight:double"],
                      attention_rows)  # fmt: skip
    truth = {
        "corrected": corrected, "ps_months": months, "ps_increments": increments_ps[0], "well_mean": value,
        "increments": increments, "levels": levels, "predicted_well": predicted,
    }  # fmt: skip
    return (corrected_layer, members, am_members, series_table, predictions, attention), truth
