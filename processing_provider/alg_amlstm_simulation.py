"""subsidencelab:amlstmsimulation -- AM-LSTM subsidence simulation from multi-layer groundwater
levels, against honest baselines (Cao et al.; input attention of Qin et al. 2017)."""

from dataclasses import replace

import numpy as np
from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)

from .. import compat
from ..core.amlstm_data import monthly_increments, on_grid
from . import amlstm_io, outputs
from .amlstm_io import QIN_2017, attention_columns, prediction_columns
from .base import CAO, SubsidenceAlgorithm
from .ps_io import read_ps

MEMBER_STARTS = {"cold": False, "warm": True, "auto": "auto"}  # -> simulate_points(warm_start=)


class AMLSTMSimulationAlgorithm(SubsidenceAlgorithm):
    _name = "amlstmsimulation"
    _display = "AM-LSTM subsidence simulation (groundwater layers)"
    _group_id = "groundwater"
    _group = "Groundwater"
    _help_anchor = "amlstmsimulation"
    _requires = ("torch",)
    _help = (
        "Simulates the monthly deformation of each feature (well buffer) from the water levels of several "
        "aquifer layers with an input-attention LSTM, after "
        + CAO
        + ", whose attention has the form of "
        + QIN_2017
        + " (eq. 8-10, with the tanh, so the weights follow the hidden state). The attention "
        "weights say which layer drives the deformation.\n\n"
        "Honest baselines on the same chronological split: the same network without attention (LSTM), a "
        "physical delayed-compaction model per layer fitted by least squares (optionally inelastic below "
        "the lowest past head), a linear model of the same windows the networks read (ridge regression, its "
        "penalty chosen on the validation months), a linear trend and persistence. The networks, the "
        "physical and the linear model simulate the test months from the water levels alone, so "
        "persistence repeats the last increment before the test months through them; the one-step "
        "persistence (last month's observed increment, which reads the test months) is reported beside "
        "it as persistence_1step. Every model gets RMSE, MAE, "
        "Nash-Sutcliffe efficiency and skill against persistence on the test months; the AM-LSTM row gives "
        "its RMSE gain over the LSTM in %, as Cao et al.'s Table 3. Each network is the mean of several "
        "initial weight draws.\n\n"
        "Inputs: the series table of 'Buffer sampling around wells' (feature_id, date, increment_mm, "
        "gw_<layer>) or any long table of monthly deformation, optionally a separate groundwater file; "
        "training parameters (Cao et al.: hidden size 16, up to 100 epochs, Adam, early stopping). Scalers "
        "use the training months only; seeds are fixed.\n\n"
        "Outputs: predictions (feature_id, date, observed_mm, amlstm_mm, lstm_mm, physical_mm, linear_mm, "
        "trend_mm, persistence_mm, persistence_1step_mm, split), metrics per feature and model, attention "
        "(mean per feature and layer, "
        "and per month), the model file (for 'AM-LSTM prediction from a saved model'), and optionally one "
        "AM-LSTM per PS point of the member layer with its predicted series as amlstm_<YYYYMMDD> fields.\n\n"
        "Needs PyTorch (CPU)."
    )
    CORE_ERRORS = {
        "window": "WINDOW",
        "hidden_size": "HIDDEN_SIZE",
        "batch_size": "BATCH_SIZE",
        "learning_rate": "LEARNING_RATE",
        "epochs": "EPOCHS",
        "patience": "PATIENCE",
        "train_fraction": "TRAIN_FRACTION",
        "validation_fraction": "VALIDATION_FRACTION",
        "groundwater": "GROUNDWATER",
        "heads_m": "GROUNDWATER",
        "layers": "GW_PREFIX",
        "feature_id": "INPUT",
        "point_feature": "MEMBERS",
        "warm_start": "MEMBERS_START",
        "ensemble": "ENSEMBLE",
    }

    def initAlgorithm(self, config=None):
        amlstm_io.add_series_parameters(self)
        amlstm_io.add_training_parameters(self)
        self.add(
            QgsProcessingParameterBoolean(
                "INELASTIC",
                self.tr("Physical baseline: inelastic below the lowest past head"),
                defaultValue=True,
            ),
            "A separate (usually larger) compressibility for head falling below its lowest past value.",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterFeatureSource(
                "MEMBERS", self.tr("Member PS points (optional)"), [compat.SOURCE_VECTOR_POINT], optional=True
            ),
            "The member points of 'Buffer sampling around wells' (PS id, feature_id, date fields): "
            "one AM-LSTM per point, trained in one batched computation on its own monthly deformation.",
        )
        self.add(
            QgsProcessingParameterField(
                "MEMBERS_FEATURE_FIELD",
                self.tr("Member feature id field"),
                defaultValue="feature_id",
                parentLayerParameterName="MEMBERS",
                optional=True,
            ),
            "The field of the member layer naming each point's feature (well).",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterEnum(
                "MEMBERS_START",
                self.tr("Per-PS networks start from"),
                options=list(MEMBER_STARTS),
                defaultValue=0,
            ),
            "cold: each point's network from its own initial weights (default; the most accurate against "
            "the synthetic truth on the wells measured). warm: from its well's trained AM-LSTM with a fifth "
            "of the epochs, about 4x faster (10 000 PS in about 1 min against 5 min here) but worse at some "
            "wells by 10-80 %. auto: warm only for wells whose network beats the linear trend and "
            "persistence on the validation months.",
            advanced=True,
        )
        outputs.add_table_output(
            self, "PREDICTIONS", "Predictions", "feature_id, date, observed and every model."
        )
        outputs.add_table_output(
            self, "METRICS", "Metrics", "Per feature and model: rmse_mm, mae_mm, nse, skill."
        )
        outputs.add_table_output(
            self, "ATTENTION", "Attention", "feature_id, layer, date (empty = mean), weight."
        )
        outputs.add_file_output(
            self, "MODEL", "Model file", "AM-LSTM model (*.pt)", "Weights, scalers, split."
        )
        self.add(
            QgsProcessingParameterFeatureSink(
                "MEMBERS_OUTPUT",
                self.tr("Member PS with predicted series"),
                compat.SOURCE_VECTOR_POINT,
                optional=True,
                createByDefault=False,
            ),
            "The member points (id, feature_id) with their simulated monthly deformation as "
            "amlstm_<YYYYMMDD> fields, for click-to-plot (needs the member layer).",
        )

    def compute(self, parameters, context, feedback):
        from ..core.amlstm_simulation import simulate

        data = amlstm_io.read_series(self, parameters, context, feedback)
        config = amlstm_io.training_config(self, parameters, context)
        inelastic = self.parameterAsBoolean(parameters, "INELASTIC", context)
        members = self.parameterAsSource(parameters, "MEMBERS", context)
        end = 60 if members is not None else 90
        feedback.pushInfo(f"{data.feature_ids.size} features, layers {', '.join(data.layers)}, {config}")
        result = simulate(data, config, inelastic, progress=self.progress(feedback, 5, end))
        point_series = None
        if members is not None:
            ps, point_series = self._train_points(parameters, context, feedback, result.model, data)
        months, ids = result.months, data.feature_ids
        results = {
            "PREDICTIONS": outputs.write_table(
                self,
                parameters,
                context,
                "PREDICTIONS",
                prediction_columns(ids, months, result.split, result.observed, result.predictions),
            ),
            "METRICS": outputs.write_table(
                self, parameters, context, "METRICS", _metric_columns(result.metrics)
            ),
            "ATTENTION": outputs.write_table(
                self,
                parameters,
                context,
                "ATTENTION",
                attention_columns(ids, data.layers, months, result.attention),
            ),
        }
        with outputs.atomic_file(self, parameters, context, "MODEL", ".pt") as (tmp, path):
            result.model.save(tmp)
        results["MODEL"] = path
        if point_series is not None and parameters.get("MEMBERS_OUTPUT") is not None:
            dated = replace(ps, dates=months, displacement_mm=point_series, date_fields=None)
            field = self.parameterAsString(parameters, "MEMBERS_FEATURE_FIELD", context) or "feature_id"
            results["MEMBERS_OUTPUT"] = outputs.write_ps(
                self,
                parameters,
                context,
                "MEMBERS_OUTPUT",
                dated,
                fields={"feature_id": ps.attributes[field]},
                series=point_series,
                series_prefix="amlstm_",
            )
        for row in result.metrics:
            if row["model"] == "amlstm":
                feedback.pushInfo(f"{row['feature_id']}: AM-LSTM gain over LSTM {row['gain_pct']:.1f} %")
        return results

    def _train_points(self, parameters, context, feedback, model, data):
        from ..core.amlstm_simulation import simulate_points

        ps = read_ps(self, parameters, context, feedback, input_name="MEMBERS", require_projected=False)
        field = self.parameterAsString(parameters, "MEMBERS_FEATURE_FIELD", context) or "feature_id"
        if field not in ps.attributes:
            raise ValueError(f"point_feature: the member layer has no field {field!r}")
        months, increments = monthly_increments(ps.displacement_mm, ps.dates)
        grid = on_grid(increments, months, data.months)
        start = list(MEMBER_STARTS)[self.parameterAsEnum(parameters, "MEMBERS_START", context)]
        feedback.pushInfo(
            f"Training one AM-LSTM per member point ({ps.n_points} points, batched, {start} start)"
        )
        series = simulate_points(
            model,
            data,
            ps.ids,
            np.asarray(ps.attributes[field]).astype(str),
            grid,
            self.progress(feedback, 60, 90),
            warm_start=MEMBER_STARTS[start],
        )
        return ps, series


def _metric_columns(rows):
    keys = ("rmse_mm", "mae_mm", "nse", "skill", "gain_pct")
    return [
        ("feature_id", "str", [r["feature_id"] for r in rows]),
        ("model", "str", [r["model"] for r in rows]),
    ] + [(k, "float", [r[k] for r in rows]) for k in keys]
