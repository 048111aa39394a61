"""subsidencelab:pcadecomposition -- PCA of PS time series with component diagnostics (Chen et al. 2023)."""

from qgis.core import (
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
)

from ..core.pca import DEFAULT_K
from ..core.pca_diagnostics import DIAGNOSTIC_NAMES
from . import cluster, outputs
from .base import CHEN_2023, SubsidenceAlgorithm
from .inputs import DEM, DEM_BAND, add_dem_parameters, decompose_points, elevation
from .ps_io import add_ps_input_parameters, read_ps
from .styling import style_on_completion


class PcaDecompositionAlgorithm(SubsidenceAlgorithm):
    _name = "pcadecomposition"
    _display = "PCA decomposition of PS time series"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "Decomposes the displacement series of a PS/SBAS layer into principal components "
        "(after PCAIM, as in " + CHEN_2023 + "): each date's spatial mean is removed, then "
        "X' = S W T^T with S the spatial components, W = diag(sigma) the weights and T the temporal "
        "components. Computed from the n x n Gram matrix in one streaming pass (exact, scales to "
        "millions of points). Signs: each T_k rises with time. Gaps (NULL) are filled "
        "by iterative low-rank imputation; points without any value get NULL.\n\n"
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
        self.add_number(
            self.N_COMPONENTS, "Number of components (0 = suggest)",
            "Components to keep, at most the number of dates. Chen et al. (2023) chose 6. 0 = the "
            "automatic suggestion (every singular value above the Gavish-Donoho noise floor); the log "
            "says why.",
            default=DEFAULT_K, minimum=0, integer=True,
        )
        add_dem_parameters(
            self,
            "Optional elevation raster, sampled at the points (nearest pixel) for the elevation "
            "correlation of the spatial components. Used instead of the elevation field when given.",
        )
        cluster.add_scheduler_parameter(self)
        outputs.add_layer_output(
            self,
            self.OUTPUT,
            "PS points with component maps",
            "Points with id and PC1..PCk = S_k * sigma_k, mm (the maps of Chen et al. 2023).",
        )
        outputs.add_table_output(
            self,
            self.COMPONENTS,
            "Components table",
            "One row per component: sigma, variance share, cumulative share, the diagnostics and "
            "the proposed class.",
        )
        outputs.add_table_output(
            self,
            self.TEMPORAL,
            "Temporal components table",
            "One row per date: date, T1..Tk (unitless, orthonormal columns).",
        )
        outputs.add_file_output(
            self,
            self.DECOMPOSITION,
            "Decomposition file",
            "NumPy archive (*.npz)",
            "The full decomposition (mean, S, sigma, T, labels, diagnostics) for the error removal.",
        )
        self.addOutput(QgsProcessingOutputNumber(self.K_USED, self.tr("Number of components used")))
        self.addOutput(QgsProcessingOutputNumber(self.SUGGESTED_K, self.tr("Suggested number of components")))
        self.addOutput(QgsProcessingOutputString(self.SUGGESTION, self.tr("Why this number was suggested")))

    def compute(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(4, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        feedback.pushInfo(f"Read {ps.n_points} points x {ps.n_dates} dates.")
        z = elevation(self, parameters, context, ps, feedback)
        if z is None:
            feedback.pushInfo("No elevation (field or DEM): the elevation correlation is left empty.")
        k = self.parameterAsInt(parameters, self.N_COMPONENTS, context)

        steps.setCurrentStep(1)
        with cluster.session(self, parameters, context, feedback) as client:
            matrix = cluster.as_dask(ps.displacement_mm) if client else None
            dec = decompose_points(self, ps, k, z, self.N_COMPONENTS, self.progress(steps), matrix)
            cluster.gather(self, dec, ("spatial",), steps)
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
        out_id = outputs.write_ps(self, parameters, context, self.OUTPUT, ps, fields=fields, feedback=steps)
        style_on_completion(context, out_id, "PC1", maps[:, 0], "mm")

        steps.setCurrentStep(3)
        ks = range(1, dec.k + 1)
        columns = [
            ("component", "int", list(ks)),
            ("label", "str", list(dec.labels)),
            ("sigma_mm", "float", dec.sigma),
            ("variance_share", "float", dec.variance_share),
            ("cumulative_share", "float", dec.cumulative_share),
        ]
        columns += [(name, "float", dec.diagnostics[name]) for name in DIAGNOSTIC_NAMES]
        comp_id = outputs.write_table(self, parameters, context, self.COMPONENTS, columns)
        columns = [("date", "date", ps.dates)] + [(f"T{j}", "float", dec.temporal[:, j - 1]) for j in ks]
        temp_id = outputs.write_table(self, parameters, context, self.TEMPORAL, columns)
        with outputs.atomic_file(self, parameters, context, self.DECOMPOSITION, ".npz") as (tmp, path):
            dec.save(tmp)
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
