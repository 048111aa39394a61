"""subsidencelab:pcadecomposition -- PCA of PS time series with component diagnostics (METHODS.md 2)."""

import os

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFields,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QDate

from .. import compat
from ..core.pca import DEFAULT_K
from ..core.pca_diagnostics import DIAGNOSTIC_NAMES
from .base import SubsidenceAlgorithm, progress_callback
from .pca_inputs import DEM, DEM_BAND, add_dem_parameters, decompose_points, elevation
from .ps_io import add_ps_input_parameters, read_ps, write_ps
from .styling import style_on_completion


def _number(value):
    """A float for an attribute, None (NULL) for NaN."""
    value = float(value)
    return value if np.isfinite(value) else None


class PcaDecompositionAlgorithm(SubsidenceAlgorithm):
    _name = "pcadecomposition"
    _display = "PCA decomposition of PS time series"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "Decomposes the displacement series of a PS/SBAS layer into principal components "
        "(seed 003, after PCAIM; METHODS.md section 2): each date's spatial mean is removed, then "
        "X' = S W T^T with S the spatial components, W = diag(sigma) the weights and T the temporal "
        "components. Computed from the n x n Gram matrix in one streaming pass (exact, scales to "
        "millions of points). Signs: each T_k rises with time (METHODS 2.5). Gaps (NULL) are filled "
        "by iterative low-rank imputation (METHODS 2.6); points without any value get NULL.\n\n"
        "Each component gets diagnostics (R^2 of a linear trend and of an annual sinusoid, annual "
        "amplitude and the annual cycle's significance (F-test p-value), lag-1 autocorrelation of "
        "T_k; correlation of S_k with elevation, R^2 of a "
        "quadratic surface, Moran's I of S_k) and a proposed class: deformation, orbital, "
        "seasonal_atmosphere, seasonal_deformation or noise (rules and thresholds in "
        "core/pca_diagnostics.py). The classes are proposals: override them in the error removal.\n\n"
        "Inputs: the PS layer (date fields detected or given), the number of components (0 = the "
        "automatic suggestion: every singular value above the Gavish-Donoho noise floor), "
        "and optionally the elevation as a field or a DEM raster (sampled at the points; the DEM "
        "wins when both are given).\n\n"
        "Outputs: the PS points with id and PC1..PCk = S_k * sigma_k (mm); a components table "
        "(sigma, variance share, cumulative share, diagnostics, proposed class); a temporal table "
        "(date, T1..Tk); and a decomposition file (.npz) that the error removal takes as input, so "
        "both chain in the modeler without recomputing."
    )

    INPUT = "INPUT"
    DATE_FIELDS = "DATE_FIELDS"
    ID_FIELD = "ID_FIELD"
    Z_FIELD = "Z_FIELD"
    N_COMPONENTS = "N_COMPONENTS"
    DEM = DEM
    DEM_BAND = DEM_BAND
    OUTPUT = "OUTPUT"
    COMPONENTS = "COMPONENTS"
    TEMPORAL = "TEMPORAL"
    DECOMPOSITION = "DECOMPOSITION"
    K_USED = "K_USED"
    SUGGESTED_K = "SUGGESTED_K"
    SUGGESTION = "SUGGESTION"

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=("Z",))
        k = QgsProcessingParameterNumber(
            self.N_COMPONENTS,
            self.tr("Number of components (0 = suggest)"),
            type=compat.NUMBER_INTEGER,
            minValue=0,
            defaultValue=DEFAULT_K,
        )
        k.setHelp(
            self.tr(
                "Components to keep, at most the number of dates. Seed 003 chose 6. 0 = the automatic "
                "suggestion (every singular value above the Gavish-Donoho noise floor); the "
                "log says why."
            )
        )
        self.addParameter(k)
        add_dem_parameters(
            self,
            "Optional elevation raster, sampled at the points (nearest pixel) for the elevation "
            "correlation of the spatial components. Used instead of the elevation field when given.",
        )
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("PS points with component maps"), compat.SOURCE_VECTOR_POINT
        )
        output.setHelp(self.tr("Points with id and PC1..PCk = S_k * sigma_k, mm (the maps seed 003 plots)."))
        self.addParameter(output)
        components = QgsProcessingParameterFeatureSink(
            self.COMPONENTS, self.tr("Components table"), compat.SOURCE_VECTOR
        )
        components.setHelp(
            self.tr(
                "One row per component: sigma, variance share, cumulative share, the diagnostics and "
                "the proposed class."
            )
        )
        self.addParameter(components)
        temporal = QgsProcessingParameterFeatureSink(
            self.TEMPORAL, self.tr("Temporal components table"), compat.SOURCE_VECTOR
        )
        temporal.setHelp(self.tr("One row per date: date, T1..Tk (unitless, orthonormal columns)."))
        self.addParameter(temporal)
        dec_file = QgsProcessingParameterFileDestination(
            self.DECOMPOSITION, self.tr("Decomposition file"), self.tr("NumPy archive (*.npz)")
        )
        dec_file.setHelp(
            self.tr("The full decomposition (mean, S, sigma, T, labels, diagnostics) for the error removal.")
        )
        self.addParameter(dec_file)
        self.addOutput(QgsProcessingOutputNumber(self.K_USED, self.tr("Number of components used")))
        self.addOutput(QgsProcessingOutputNumber(self.SUGGESTED_K, self.tr("Suggested number of components")))
        self.addOutput(QgsProcessingOutputString(self.SUGGESTION, self.tr("Why this number was suggested")))

    def _table_sink(self, parameters, name, context, fields):
        sink, dest = self.parameterAsSink(
            parameters, name, context, fields, compat.WKB_NO_GEOMETRY, QgsCoordinateReferenceSystem()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, name))
        return sink, dest

    def processAlgorithm(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(4, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        feedback.pushInfo(f"Read {ps.n_points} points x {ps.n_dates} dates.")
        z = elevation(self, parameters, context, ps, feedback)
        if z is None:
            feedback.pushInfo("No elevation (field or DEM): the elevation correlation is left empty.")
        k = self.parameterAsInt(parameters, self.N_COMPONENTS, context)

        steps.setCurrentStep(1)
        dec = decompose_points(ps, k, z, self.N_COMPONENTS, progress_callback(steps, 0, 100), self.INPUT)
        feedback.pushInfo(f"Suggested k: {dec.suggestion_reason}.")
        if dec.n_points_with_gaps:
            feedback.pushInfo(
                f"{dec.n_points_with_gaps} points had gaps, filled by {dec.nan_method} "
                f"({dec.impute_iterations} iterations)."
            )
        if dec.n_points_fit < ps.n_points:
            empty = ps.n_points - dec.n_points_fit
            feedback.pushWarning(f"{empty} points have no value at all: their PC fields are NULL.")
        for j, label in enumerate(dec.labels):
            feedback.pushInfo(
                f"PC{j + 1}: sigma {dec.sigma[j]:.4g}, {100 * dec.variance_share[j]:.2f} % of the variance, "
                f"proposed class {label}"
            )

        steps.setCurrentStep(2)
        maps = dec.component_maps_mm()
        fields = {f"PC{j + 1}": maps[:, j] for j in range(dec.k)}
        out_id = write_ps(self, parameters, context, self.OUTPUT, ps, fields=fields, feedback=steps)
        style_on_completion(context, out_id, "PC1", maps[:, 0], "mm")

        steps.setCurrentStep(3)
        comp_fields = QgsFields()
        for name, kind in [
            ("component", "int"),
            ("label", "str"),
            ("sigma_mm", "float"),
            ("variance_share", "float"),
            ("cumulative_share", "float"),
        ] + [(name, "float") for name in DIAGNOSTIC_NAMES]:
            comp_fields.append(compat.field(name, kind))
        sink, comp_id = self._table_sink(parameters, self.COMPONENTS, context, comp_fields)
        share, cumulative = dec.variance_share, dec.cumulative_share
        rows = []
        for j in range(dec.k):
            feature = QgsFeature(comp_fields)
            feature.setAttributes(
                [j + 1, dec.labels[j], _number(dec.sigma[j]), _number(share[j]), _number(cumulative[j])]
                + [_number(dec.diagnostics[name][j]) for name in DIAGNOSTIC_NAMES]
            )
            rows.append(feature)
        if not sink.addFeatures(rows, compat.SINK_FAST_INSERT):
            raise QgsProcessingException(f"{self.COMPONENTS}: writing failed: {sink.lastError()}")

        temp_fields = QgsFields()
        temp_fields.append(compat.field("date", "date"))
        for j in range(dec.k):
            temp_fields.append(compat.field(f"T{j + 1}", "float"))
        sink, temp_id = self._table_sink(parameters, self.TEMPORAL, context, temp_fields)
        rows = []
        for i, date in enumerate(ps.dates.astype(object)):
            feature = QgsFeature(temp_fields)
            feature.setAttributes(
                [QDate(date.year, date.month, date.day)] + [float(v) for v in dec.temporal[i]]
            )
            rows.append(feature)
        if not sink.addFeatures(rows, compat.SINK_FAST_INSERT):
            raise QgsProcessingException(f"{self.TEMPORAL}: writing failed: {sink.lastError()}")

        path = self.parameterAsFileOutput(parameters, self.DECOMPOSITION, context)
        if not path.lower().endswith(".npz"):
            path += ".npz"
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        partial = f"{path}.partial"
        try:
            dec.save(partial)
            os.replace(partial, path)  # never leave a half-written decomposition under the real name
        except OSError as exc:
            if os.path.exists(partial):
                os.remove(partial)
            raise QgsProcessingException(f"{self.DECOMPOSITION}: cannot write {path}: {exc}") from exc
        steps.setProgress(100)
        return {
            self.OUTPUT: out_id,
            self.COMPONENTS: comp_id,
            self.TEMPORAL: temp_id,
            self.DECOMPOSITION: path,
            self.K_USED: dec.k,
            self.SUGGESTED_K: dec.suggested_k,
            self.SUGGESTION: dec.suggestion_reason,
        }

