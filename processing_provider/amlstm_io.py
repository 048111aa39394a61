"""The kit's AM-LSTM tables: reading a long series table (from ``wellbuffersampling`` or any
monthly deformation table) and a groundwater source into :class:`core.amlstm_data.SimulationData`,
and the training parameters shared by the simulation and prediction algorithms (Cao et al.)."""

import numpy as np
from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import compat
from ..core.amlstm import TrainingConfig
from ..core.amlstm_data import SimulationData, attach_groundwater, from_long_table, split_names
from ..core.groundwater_io import read_groundwater
from . import inputs

QIN_2017 = (
    'Qin et al. 2017, "A dual-stage attention-based recurrent neural network for time series prediction"'
)
INPUT = "INPUT"
ID_FIELD = "ID_FIELD"
DATE_FIELD = "DATE_FIELD"
TARGET_FIELD = "TARGET_FIELD"
VALUE_FIELD = "VALUE_FIELD"
GW_PREFIX = "GW_PREFIX"
GROUNDWATER = "GROUNDWATER"
GROUNDWATER_KIND = "GROUNDWATER_KIND"
KINDS = ("head", "depth")
FIELD_DEFAULTS = {
    ID_FIELD: "feature_id",
    DATE_FIELD: "date",
    TARGET_FIELD: "increment_mm",
    VALUE_FIELD: "value_mm",
}


def add_series_parameters(alg, with_target=True):
    """INPUT (long table), its id/date(/target/cumulative) fields, the gw_ prefix, GROUNDWATER."""
    alg.add(
        QgsProcessingParameterFeatureSource(INPUT, alg.tr("Series table"), [compat.SOURCE_VECTOR]),
        "A long table with one row per feature (well) and month: the series table of 'Buffer sampling "
        "around wells' (feature_id, date, increment_mm, value_mm, gw_<layer>) or any table of monthly "
        "deformation with the fields chosen below.",
    )
    fields = [
        (ID_FIELD, "Feature id field", "Identifies the feature (well) of each row."),
        (DATE_FIELD, "Date field", "Date of the row (YYYY-MM-DD text or a date field)."),
    ]
    if with_target:
        fields += [
            (TARGET_FIELD, "Monthly deformation field (mm)", "The target: the month's deformation (mm)."),
            (VALUE_FIELD, "Cumulative deformation field (mm)", "Used without a monthly field: differenced."),
        ]
    for name, label, help_text in fields:
        # Optional, the default name the fallback: QGIS 3.22 refuses a field default it has not yet
        # resolved against the parent layer ("Incorrect parameter value").
        default = FIELD_DEFAULTS[name]
        alg.add(
            QgsProcessingParameterField(
                name, alg.tr(label), defaultValue=default, parentLayerParameterName=INPUT, optional=True
            ),
            f"{help_text} Empty = {default}.",
        )
    alg.add(
        QgsProcessingParameterString(
            GW_PREFIX, alg.tr("Groundwater field prefix"), defaultValue="gw_", optional=True
        ),
        "Fields named <prefix><layer> hold the water level (m) of each aquifer layer, shallow to deep "
        "in field order. Ignored when a groundwater file is given.",
    )
    alg.add(
        QgsProcessingParameterFile(GROUNDWATER, alg.tr("Groundwater table (optional)"), optional=True),
        "A separate groundwater file (long or wide table, DINOloket CSV) whose well ids are the feature "
        "ids; monthly means are used.",
    )
    alg.add(
        QgsProcessingParameterEnum(
            GROUNDWATER_KIND, alg.tr("Groundwater values are"), options=list(KINDS), defaultValue=0
        ),
        "head: level above a datum (rises when water rises); depth: depth to water (turned into a head).",
        advanced=True,
    )


def read_series(alg, parameters, context, feedback, with_target=True) -> SimulationData:
    """The series table (and groundwater) of ``alg`` as SimulationData."""
    source = alg.parameterAsSource(parameters, INPUT, context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, INPUT))
    names = source.fields().names()

    def field(name, required=True):
        value = alg.parameterAsString(parameters, name, context) or (
            FIELD_DEFAULTS[name] if required or FIELD_DEFAULTS[name] in names else ""
        )
        if value and value not in names:
            raise QgsProcessingException(f"{name}: field {value!r} not in the table ({', '.join(names)})")
        if required and not value:
            raise QgsProcessingException(f"{name}: choose a field of the table")
        return value

    id_field, date_field = field(ID_FIELD), field(DATE_FIELD)
    target = field(TARGET_FIELD, False) if with_target else ""
    value = "" if target or not with_target else field(VALUE_FIELD, False)
    if with_target and not (target or value):
        raise QgsProcessingException(
            f"{TARGET_FIELD}: choose the monthly or the cumulative deformation field"
        )
    gw_file = alg.parameterAsFile(parameters, GROUNDWATER, context)
    prefix = alg.parameterAsString(parameters, GW_PREFIX, context) or ""
    gw_fields = [] if gw_file or not prefix else [n for n in names if n.lower().startswith(prefix.lower())]
    if not gw_file and not gw_fields:
        raise QgsProcessingException(
            f"{GW_PREFIX}: no field starts with {prefix!r} and no groundwater file was given ({GROUNDWATER})"
        )
    wanted = [id_field, date_field, *(f for f in (target, value) if f), *gw_fields]
    columns = {n: [] for n in wanted}
    total = max(source.featureCount(), 1)
    for row, feature in enumerate(source.getFeatures(), start=1):
        if feedback is not None and feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user.")
        for n in wanted:
            columns[n].append(feature[n])
        if feedback is not None and row % 5000 == 0:
            feedback.setProgress(5.0 * row / total)
    if not columns[id_field]:
        raise QgsProcessingException(f"{INPUT}: the table has no rows")
    ids = np.array([str(v) for v in columns[id_field]])
    dates = np.array([inputs.attribute_date(v, date_field, i + 1) for i, v in enumerate(columns[date_field])])
    sign = -1.0 if KINDS[alg.parameterAsEnum(parameters, GROUNDWATER_KIND, context)] == "depth" else 1.0
    heads = {n[len(prefix) :]: sign * _floats(columns[n], n) for n in gw_fields}
    targets = _targets(ids, dates, columns, target, value) if with_target else np.full(ids.size, np.nan)
    data = _from_rows(ids, dates, targets, heads)
    if gw_file:
        try:
            records = read_groundwater(gw_file)
        except ValueError as exc:
            raise QgsProcessingException(f"{GROUNDWATER}: {exc}") from exc
        if KINDS[alg.parameterAsEnum(parameters, GROUNDWATER_KIND, context)] == "depth":
            records.kind = "depth"
        data = attach_groundwater(data, records)
    return data


def _floats(values, field):
    return np.array([inputs.attribute_float(v, field, i + 1) for i, v in enumerate(values)])


def _targets(ids, dates, columns, target, value):
    if target:
        return _floats(columns[target], target)
    cumulative = _floats(columns[value], value)
    out = np.full(ids.size, np.nan)
    months = dates.astype("datetime64[M]").astype(np.int64)
    for fid in np.unique(ids):
        rows = np.flatnonzero(ids == fid)
        rows = rows[np.argsort(months[rows], kind="stable")]
        step = np.diff(months[rows])
        diff = np.diff(cumulative[rows])
        out[rows[1:]] = np.where(step == 1, diff, np.nan)  # only whole-month steps are monthly
    return out


def _from_rows(ids, dates, targets, heads):
    return from_long_table(ids, dates, targets, heads)


# --- training parameters -------------------------------------------------------------------------

DRIVERS = ("change", "level")
TRAINING = (  # name, label, type, default, minimum, maximum, help, advanced
    (
        "WINDOW",
        "Window (months)",
        "int",
        12,
        2,
        120,
        "Months of groundwater levels per simulated month.",
        False,
    ),
    ("HIDDEN_SIZE", "LSTM hidden size", "int", 16, 1, 512, "Cao et al.: 16.", False),
    ("BATCH_SIZE", "Batch size", "int", 8, 1, 4096, "Cao et al. compared 8, 16, 32, 64 and 128.", False),
    ("LEARNING_RATE", "Learning rate (Adam)", "float", 0.005, 1e-6, 0.9, "Adam step size.", True),
    ("EPOCHS", "Epochs (at most)", "int", 100, 1, 10000, "Cao et al.: up to 100.", False),
    (
        "PATIENCE",
        "Early-stopping patience (epochs)",
        "int",
        15,
        1,
        10000,
        "Stop a network after this many epochs without a better validation loss; its best weights are kept.",
        True,
    ),
    (
        "TRAIN_FRACTION",
        "Training share of the months",
        "float",
        0.7,
        0.05,
        0.95,
        "Chronological split: the first months train, the next validate, the last test.",
        True,
    ),
    (
        "VALIDATION_FRACTION",
        "Validation share of the months",
        "float",
        0.15,
        0.0,
        0.9,
        "Months after the training part, for early stopping.",
        True,
    ),
    (
        "ENSEMBLE",
        "Initial weight draws per network (ensemble)",
        "int",
        5,
        1,
        100,
        "Each network (AM-LSTM and LSTM alike) is the mean of this many networks trained from their own "
        "initial weights; the attention is averaged over them. With 9-10 test months one draw decides "
        "nothing: single-draw gains swung from -210 % to +68 % between seeds. 1 = a single network.",
        True,
    ),
    (
        "SEED",
        "Random seed",
        "int",
        0,
        0,
        2**31 - 1,
        "Fixed seed: the same run gives the same networks.",
        True,
    ),
)


def add_training_parameters(alg):
    for name, label, kind, default, lo, hi, help_text, advanced in TRAINING:
        number = compat.NUMBER_INTEGER if kind == "int" else compat.NUMBER_DOUBLE
        alg.add(
            QgsProcessingParameterNumber(
                name, alg.tr(label), type=number, defaultValue=default, minValue=lo, maxValue=hi
            ),
            help_text,
            advanced=advanced,
        )
    alg.add(
        QgsProcessingParameterEnum(
            "DRIVERS", alg.tr("Groundwater input"), options=list(DRIVERS), defaultValue=0
        ),
        "change: each window's levels minus its first month's (default: the networks then extrapolate to "
        "heads below the training range); level: the levels themselves, as Cao et al.",
        advanced=True,
    )


def training_config(alg, parameters, context) -> TrainingConfig:
    values = {}
    for name, _, kind, *_ in TRAINING:
        if kind == "int":
            values[name.lower()] = alg.parameterAsInt(parameters, name, context)
        else:
            values[name.lower()] = alg.parameterAsDouble(parameters, name, context)
    values["drivers"] = DRIVERS[alg.parameterAsEnum(parameters, "DRIVERS", context)]
    return TrainingConfig(**values)


# --- output tables -------------------------------------------------------------------------------


def prediction_columns(ids, months, split, observed, predictions):
    """Long predictions table: feature_id, date, split, observed_mm and one column per model."""
    w, n = observed.shape
    columns = [
        ("feature_id", "str", np.repeat(np.asarray(ids).astype(str), n)),
        ("date", "str", np.tile(np.asarray(months, dtype="datetime64[D]").astype(str), w)),
        ("observed_mm", "float", observed.reshape(-1)),
    ]
    columns += [(f"{name}_mm", "float", predictions[name].reshape(-1)) for name in predictions]
    if split is not None:
        columns.append(("split", "str", np.tile(split_names(split), w)))
    return columns


def attention_columns(ids, layers, months, attention):
    """feature_id, layer, date ('' for the mean over all windows and steps), weight."""
    w, n, _, n_layers = attention.shape
    mean = attention.mean(axis=(1, 2))  # (W, L)
    last = attention[:, :, -1, :]  # (W, N, L): the step of the window's own month
    ids = np.asarray(ids).astype(str)
    dates = np.asarray(months, dtype="datetime64[D]").astype(str)
    fid = np.concatenate([np.repeat(ids, n_layers), np.repeat(ids, n * n_layers)])
    layer = np.concatenate([np.tile(layers, w), np.tile(layers, w * n)])
    date = np.concatenate([np.full(w * n_layers, ""), np.tile(np.repeat(dates, n_layers), w)])
    weight = np.concatenate([mean.reshape(-1), last.reshape(-1)])
    return [
        ("feature_id", "str", fid),
        ("layer", "str", layer),
        ("date", "str", date),
        ("weight", "float", weight),
    ]
