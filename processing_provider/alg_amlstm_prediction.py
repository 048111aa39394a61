"""subsidencelab:amlstmprediction -- monthly deformation from new groundwater levels with a model
file saved by amlstmsimulation (Cao et al.)."""

import os

import numpy as np
from qgis.core import QgsProcessingException, QgsProcessingParameterFile

from . import amlstm_io, outputs
from .amlstm_io import attention_columns, prediction_columns
from .base import CAO, SubsidenceAlgorithm


class AMLSTMPredictionAlgorithm(SubsidenceAlgorithm):
    _name = "amlstmprediction"
    _display = "AM-LSTM prediction from a saved model"
    _group_id = "groundwater"
    _group = "Groundwater"
    _help_anchor = "amlstmsimulation"
    _requires = ("torch",)
    _help = (
        "Simulates monthly deformation from new groundwater levels with a model file written by 'AM-LSTM "
        "subsidence simulation' (" + CAO + "): the saved AM-LSTM, LSTM, physical and linear baselines of "
        "each feature, with the saved window, scalers and layer names.\n\n"
        "Inputs: a long table with the feature id, the date and the gw_<layer> fields (or a separate "
        "groundwater file whose well ids are the model's feature ids); the model file. A deformation "
        "field, when the table has one, is copied as observed_mm.\n\n"
        "Outputs: predictions (feature_id, date, observed_mm, amlstm_mm, lstm_mm, physical_mm, linear_mm) "
        "for every month with a full window of levels, and the attention table."
    )
    CORE_ERRORS = {"layers": "MODEL", "feature_id": "INPUT", "groundwater": "INPUT", "model file": "MODEL"}

    def initAlgorithm(self, config=None):
        amlstm_io.add_series_parameters(self)
        self.add(
            QgsProcessingParameterFile("MODEL", self.tr("Model file"), extension="pt"),
            "The .pt file written by 'AM-LSTM subsidence simulation'.",
        )
        outputs.add_table_output(self, "PREDICTIONS", "Predictions", "feature_id, date and every model (mm).")
        outputs.add_table_output(
            self, "ATTENTION", "Attention", "feature_id, layer, date (empty = mean), weight."
        )

    def compute(self, parameters, context, feedback):
        from ..core.amlstm_simulation import SimulationModel

        path = self.parameterAsFile(parameters, "MODEL", context)
        if not path or not os.path.isfile(path):
            raise QgsProcessingException(f"MODEL: no model file at {path!r}")
        model = SimulationModel.load(path)
        has_target = bool(
            self.parameterAsString(parameters, amlstm_io.TARGET_FIELD, context)
            or self.parameterAsString(parameters, amlstm_io.VALUE_FIELD, context)
        )
        data = amlstm_io.read_series(self, parameters, context, feedback, with_target=has_target)
        feedback.setProgress(20)
        out = model.predict(data)
        rows = np.array(
            [int(np.flatnonzero(data.feature_ids.astype(str) == str(f))[0]) for f in model.feature_ids]
        )
        observed = data.increments_mm[rows][:, out["target_index"]]
        predictions = {name: out[name] for name in ("amlstm", "lstm", "physical", "linear") if name in out}
        feedback.setProgress(80)
        return {
            "PREDICTIONS": outputs.write_table(
                self,
                parameters,
                context,
                "PREDICTIONS",
                prediction_columns(model.feature_ids, out["months"], None, observed, predictions),
            ),
            "ATTENTION": outputs.write_table(
                self,
                parameters,
                context,
                "ATTENTION",
                attention_columns(model.feature_ids, model.layers, out["months"], out["attention"]),
            ),
        }
