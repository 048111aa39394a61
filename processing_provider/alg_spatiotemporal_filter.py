"""subsidencelab:spatiotemporalfilter -- the usual spatio-temporal filter baseline (seed 003 4.1)."""

import numpy as np
from qgis.core import (
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
)

from .. import compat
from ..core.dates import date_field_name
from ..core.error_removal import linear_velocity
from ..core.spatiotemporal_filter import spatiotemporal_filter
from .base import SubsidenceAlgorithm, progress_callback
from .ps_io import add_ps_input_parameters, read_ps, write_ps
from .styling import style_on_completion


class SpatiotemporalFilterAlgorithm(SubsidenceAlgorithm):
    _name = "spatiotemporalfilter"
    _display = "Spatio-temporal filter (baseline)"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "The usual atmospheric filter that seed 003 (Chen et al. 2023, section 4.1) compares its "
        "PCA method with: the atmosphere is estimated as the spatial low-pass of the temporal "
        "high-pass of the series and removed. Per point the linear trend is removed and a "
        "Gaussian low-pass in time (full width at half maximum = the time window) is taken; the "
        "high-pass is what is left. Its mean over the points inside a square window (side = the "
        "spatial window) is the atmosphere estimate. The seed used 100 days and 80 m x 80 m. "
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

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=())
        days = QgsProcessingParameterNumber(
            self.WINDOW_DAYS,
            self.tr("Time window (days)"),
            type=compat.NUMBER_DOUBLE,
            minValue=1.0,
            defaultValue=100.0,
        )
        days.setHelp(self.tr("Full width at half maximum of the temporal Gaussian. Seed 003: 100 days."))
        self.addParameter(days)
        metres = QgsProcessingParameterNumber(
            self.WINDOW_M,
            self.tr("Spatial window (m)"),
            type=compat.NUMBER_DOUBLE,
            minValue=1.0,
            defaultValue=80.0,
        )
        metres.setHelp(self.tr("Side of the square averaging window. Seed 003: 80 m x 80 m."))
        self.addParameter(metres)
        removed = QgsProcessingParameterBoolean(
            self.WRITE_REMOVED, self.tr("Write the removed atmosphere as fields"), defaultValue=False
        )
        removed.setHelp(self.tr("Adds A<date> fields: the atmosphere estimate removed at each date (mm)."))
        self.addParameter(removed)
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Filtered PS points"), compat.SOURCE_VECTOR_POINT
        )
        output.setHelp(
            self.tr("id, velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm, series D<date>.")
        )
        self.addParameter(output)

    def processAlgorithm(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        window_days = self.parameterAsDouble(parameters, self.WINDOW_DAYS, context)
        window_m = self.parameterAsDouble(parameters, self.WINDOW_M, context)
        steps.setCurrentStep(1)
        try:
            result = spatiotemporal_filter(
                ps.displacement_mm,
                ps.x,
                ps.y,
                ps.dates,
                window_days=window_days,
                window_m=window_m,
                progress=progress_callback(steps, 0, 100),
            )
        except ValueError as exc:
            name = (
                self.WINDOW_DAYS
                if "window_days" in str(exc)
                else self.WINDOW_M
                if "window_m" in str(exc)
                else self.INPUT
            )
            raise QgsProcessingException(f"{name}: {exc}") from exc
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
        out_id = write_ps(
            self,
            parameters,
            context,
            self.OUTPUT,
            ps,
            fields=fields,
            series=result.corrected_mm,
            feedback=steps,
        )
        style_on_completion(context, out_id, "velocity_mm_per_year", velocity, "mm/yr")
        return {self.OUTPUT: out_id}
