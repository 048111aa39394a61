"""subsidencelab:spatiotemporalfilter -- the usual spatio-temporal filter baseline (Chen et al. 2023, 4.1)."""

import numpy as np
from qgis.core import (
    QgsProcessingMultiStepFeedback,
)

from ..core.dates import date_field_name
from ..core.error_removal import linear_velocity
from ..core.spatiotemporal_filter import spatiotemporal_filter
from . import outputs
from .base import SubsidenceAlgorithm
from .ps_io import add_ps_input_parameters, read_ps


class SpatiotemporalFilterAlgorithm(SubsidenceAlgorithm):
    _name = "spatiotemporalfilter"
    _display = "Spatio-temporal filter (baseline)"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "The usual atmospheric filter that Chen et al. (2023, section 4.1) compare their "
        "PCA method with: the atmosphere is estimated as the spatial low-pass of the temporal "
        "high-pass of the series and removed. Per point the linear trend is removed and a "
        "Gaussian low-pass in time (full width at half maximum = the time window) is taken; the "
        "high-pass is what is left. Its mean over the points inside a square window (side = the "
        "spatial window) is the atmosphere estimate. Chen et al. used 100 days and 80 m x 80 m. "
        "Details in core/spatiotemporal_filter.py.\n\n"
        "Inputs: the PS layer (date fields detected or given), the time window (days) and the "
        "spatial window (metres; the layer must be in, or is projected to, a metric CRS).\n\n"
        "Outputs: the PS points with the filtered series (one field per date), "
        "velocity_mm_per_year, velocity_std_mm_per_year and residual_rms_mm from a "
        "least-squares line, and optionally the removed atmosphere per date (A<date>). Compare "
        "with 'PCA-based error removal' using 'Validate against benchmarks'."
    )

    INPUT = "INPUT"
    WINDOW_DAYS = "WINDOW_DAYS"
    WINDOW_M = "WINDOW_M"
    WRITE_REMOVED = "WRITE_REMOVED"
    OUTPUT = "OUTPUT"

    CORE_ERRORS = {"window_days": WINDOW_DAYS, "window_m": WINDOW_M}

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=())
        self.add_number(
            self.WINDOW_DAYS, "Time window (days)",
            "Full width at half maximum of the temporal Gaussian. Chen et al. (2023): 100 days.",
            default=100.0, minimum=1.0,
        )
        self.add_number(
            self.WINDOW_M, "Spatial window (m)",
            "Side of the square averaging window. Chen et al. (2023): 80 m x 80 m.",
            default=80.0, minimum=1.0,
        )
        self.add_flag(
            self.WRITE_REMOVED, "Write the removed atmosphere as fields",
            "Adds A<date> fields: the atmosphere estimate removed at each date (mm).",
            advanced=True,
        )
        outputs.add_layer_output(
            self,
            self.OUTPUT,
            "Filtered PS points",
            "id, the input's fields, velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm, "
            "series D<date>.",
        )

    def compute(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        window_days = self.parameterAsDouble(parameters, self.WINDOW_DAYS, context)
        window_m = self.parameterAsDouble(parameters, self.WINDOW_M, context)
        steps.setCurrentStep(1)
        with self.core_errors():
            result = spatiotemporal_filter(
                ps.displacement_mm,
                ps.x,
                ps.y,
                ps.dates,
                window_days=window_days,
                window_m=window_m,
                progress=self.progress(steps),
            )
        velocity, velocity_std, rms = linear_velocity(result.corrected_mm, ps.dates)
        fields = {
            "velocity_mm_per_year": velocity,
            "velocity_std_mm_per_year": velocity_std,
            "residual_rms_mm": rms,
        }
        if self.parameterAsBoolean(parameters, self.WRITE_REMOVED, context):
            for j, date in enumerate(ps.dates):
                fields[date_field_name(date, "A")] = result.atmosphere_mm[:, j]
        removed_rms = float(np.sqrt(np.nanmean(result.atmosphere_mm**2)))
        feedback.pushInfo(f"RMS of the removed atmosphere: {removed_rms:.3f} mm.")
        steps.setCurrentStep(2)
        out_id = outputs.write_ps(
            self, parameters, context, self.OUTPUT, ps, fields=fields,
            series=result.corrected_mm, feedback=steps, style=("velocity_mm_per_year", velocity, "mm/yr"),
        )
        return {self.OUTPUT: out_id}
