"""subsidencelab:pcaerrorremoval -- PCA-based hierarchical error removal (Chen et al. 2023)."""

import numpy as np
from qgis.core import (
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputNumber,
)

from ..core.components import smooth_components
from ..core.dates import date_field_name
from ..core.error_removal import REFERENCES, linear_velocity, remove_errors
from ..core.pca import DEFAULT_K
from ..core.polynomial import POLYNOMIAL_KINDS, elevation_problem
from ..core.row_blocks import in_background
from ..core.stable_ground import MARGIN_M, SIGNIFICANCE, self_report
from ..core.validation import stable_area_rms
from . import cluster, inputs, outputs
from .base import CHEN_2023, SubsidenceAlgorithm
from .inputs import DEM, DEM_BAND
from .ps_io import add_ps_input_parameters, read_ps
from .styling import style_on_completion


class PcaErrorRemovalAlgorithm(SubsidenceAlgorithm):
    _name = "pcaerrorremoval"
    _display = "PCA-based error removal"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "Removes orbital, atmospheric and noise errors from PS/SBAS displacement series with the "
        "hierarchical strategy of " + CHEN_2023 + " (section 3.3): "
        "(1) a straight line is fitted to the temporal function of each deformation component; "
        "(2) the linear deformation model D = S_d W_d T'_d is set aside; (3) the error components "
        "(by default those classed orbital or noise) are reconstructed and removed; (4) per date, "
        "a polynomial surface (none, plane, quadratic, or quadratic + f z + g z^2 as Chen et al.'s "
        "eq. 5) is fitted by least squares and removed; (5) the deformation model is added back.\n\n"
        "The surfaces are fitted robustly on stable ground only, the error left there is "
        "interpolated from it and removed too, and the error maps inside deforming areas are "
        "carried in from stable points so the deformation that leaks into error components is not "
        "removed (details in core/error_removal.py). Stable ground is the stable area you give "
        "(polygons, or a 0/1 field of the layer), else the points whose velocity is not "
        "significant (within 'significance' standard errors of the stable ground's), away from "
        "moving ground by the margin, chosen again after a first correction (written as "
        "stable = 1). A significance of 0 fits on all points, as Chen et al. (2023) do; large "
        "non-linear bowls then bias the surfaces everywhere. Last, the white noise of each point that "
        "its neighbours do not share is removed; velocities and the annual cycle are unchanged "
        "(core/noise_floor.py; it can be turned off).\n\n"
        "Reference: by default the input's reference is kept (EGMS products are calibrated): only "
        "when the stable ground's own velocity in the input is indistinguishable from the "
        "date-to-date error of its level is it removed; 'zero on stable ground' always removes it. "
        "The offset is logged and returned. The log also reports, next to the RMS on stable "
        "ground, the velocity change at moving points and the trend of what was removed, and "
        "warns when the removed parts put a trend into moving points that stable ground does not "
        "have (written per point as removed_velocity_mm_per_year).\n\n"
        "Inputs: the PS layer (date fields detected or given; elevation field or a DEM for the "
        "elevation terms); the decomposition file written by 'PCA decomposition' (its point ids "
        "are matched to the layer's; without it the decomposition is computed here); which "
        "components are deformation and which are error (empty = the proposed classes; else "
        "numbers like 1,2 or 3-6).\n\n"
        "Outputs: the PS points with corrected series (one field per date), velocity_mm_per_year "
        "and velocity_std_mm_per_year (least-squares line), residual_rms_mm (RMS about that "
        "line), a stable flag, and optionally the removed parts per date: E<date> (error "
        "components), P<date> (polynomial surface plus the reference level) and N<date> (white "
        "noise), so that observed - corrected = E + P + N. When a stable area is given, the RMS "
        "of the series there before and after is reported."
    )

    INPUT = "INPUT"
    DATE_FIELDS = "DATE_FIELDS"
    ID_FIELD = "ID_FIELD"
    Z_FIELD = "Z_FIELD"
    DECOMPOSITION = "DECOMPOSITION"
    N_COMPONENTS = "N_COMPONENTS"
    DEFORMATION_COMPONENTS = "DEFORMATION_COMPONENTS"
    ERROR_COMPONENTS = "ERROR_COMPONENTS"
    POLYNOMIAL = "POLYNOMIAL"
    DEM = DEM
    DEM_BAND = DEM_BAND
    STABLE_AREA = "STABLE_AREA"
    STABLE_FIELD = "STABLE_FIELD"
    SIGNIFICANCE = "STABLE_SIGNIFICANCE"
    MARGIN = "STABLE_MARGIN_M"
    REFERENCE = "REFERENCE"
    REFERENCE_VELOCITY = "REFERENCE_VELOCITY_MM_PER_YEAR"
    CORE_ERRORS = {
        "ids": "DECOMPOSITION",
        "dates": "DECOMPOSITION",
        "decomposition": "DECOMPOSITION",
        "fit_mask": "STABLE_AREA",
        "significance": "STABLE_SIGNIFICANCE",
        "reference": "REFERENCE",
        "deformation_components": "DEFORMATION_COMPONENTS",
        "error_components": "ERROR_COMPONENTS",
        "z": "Z_FIELD",
        "polynomial": "POLYNOMIAL",
    }
    WRITE_REMOVED = "WRITE_REMOVED"
    NOISE_FLOOR = "NOISE_FLOOR"
    OUTPUT = "OUTPUT"
    STABLE_RMS_BEFORE = "STABLE_RMS_BEFORE"
    STABLE_RMS_AFTER = "STABLE_RMS_AFTER"

    REFERENCE_LABELS = (
        "Keep the input's reference unless indistinguishable from error",
        "Keep the input's reference",
        "Zero on the stable ground",
    )
    POLYNOMIAL_LABELS = (
        "None",
        "Plane (a x + b y + h)",
        "Quadratic (+ c xy + d x^2 + e y^2)",
        "Quadratic + elevation (+ f z + g z^2, Chen et al. 2023, eq. 5)",
    )

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=("Z",))
        inputs.add_decomposition_parameter(
            self,
            self.DECOMPOSITION,
            "The .npz file written by 'PCA decomposition' for this layer. Its point ids are matched to the "
            "layer's (any order; an error if the sets differ). Empty = decompose here.",
        )
        self.add_number(
            self.N_COMPONENTS, "Number of components when decomposing here (0 = suggest)",
            "Used only without a decomposition file. More components let the error components hold more of "
            "the spatially correlated atmosphere; 0 = the automatic suggestion.",
            default=DEFAULT_K, minimum=0, integer=True, advanced=True,
        )
        self.add_text(
            self.DEFORMATION_COMPONENTS, "Deformation components (empty = proposed classes)",
            "Component numbers whose temporal function is fitted by a line and kept as the deformation "
            "model, e.g. 1,2. Empty = the components classed 'deformation'.",
        )
        self.add_text(
            self.ERROR_COMPONENTS, "Error components (empty = proposed classes)",
            "Component numbers removed as errors, e.g. 3,5 or 3-6. Empty = the components classed 'orbital' "
            "or 'noise'. Components listed in neither list stay in the series.",
        )
        self.add_choice(
            self.POLYNOMIAL, "Per-date polynomial surface", self.POLYNOMIAL_LABELS,
            "Surface fitted per date and removed (residual orbit and atmosphere). The elevation terms use "
            "the elevation field or the DEM; without a usable elevation the quadratic is fitted without "
            "them (said in the log).",
            default=3, advanced=True,
        )
        inputs.add_dem_parameters(
            self, "Optional elevation raster sampled at the points; used instead of the elevation field."
        )
        inputs.add_stable_area_parameters(
            self,
            self.STABLE_AREA,
            self.STABLE_FIELD,
            "Polygons of ground known not to deform. PS inside them are the fit points and the zero "
            "reference. Reprojected to the PS layer's CRS when needed.",
            "A field of the PS layer that is true / non-zero on stable points. Combined with the stable "
            "polygons (a point must be in both) when both are given.",
        )
        self.add_number(
            self.SIGNIFICANCE,
            "Without a stable area: motion significant above (standard errors; 0 = all points)",
            "Used only when no stable polygons or field are given. A point is moving when its velocity (or "
            "its neighbourhood's) departs from the stable ground's by more than this many standard errors; "
            "stable ground is the rest, away from moving ground by the margin. 0 = fit on all points as "
            "Chen et al. (2023) do, which lets large non-linear bowls bias the surface everywhere.",
            default=SIGNIFICANCE, minimum=0.0, advanced=True,
        )
        self.add_number(
            self.MARGIN, "Without a stable area: margin from moving ground (m)",
            "Stable points are at least this far from a moving neighbourhood.",
            default=MARGIN_M, minimum=0.0, advanced=True,
        )
        self.add_choice(
            self.REFERENCE, "Reference", self.REFERENCE_LABELS,
            "Keep the input's reference (EGMS is calibrated) unless the stable ground's velocity in the "
            "input is within 4 standard errors of its date-to-date scatter (then it is error and is "
            "removed); always keep it; or make stable ground the zero at every date. The offset is logged.",
        )
        self.add_flag(
            self.NOISE_FLOOR, "Remove the white noise no neighbour shares",
            "Last step: each series' part outside its straight line and annual cycle is kept where the "
            "neighbouring points share it (a deformation shape, an atmosphere) and taken out where it is "
            "the point's own white noise. Velocities and the annual cycle are unchanged exactly. A "
            "signal that one point alone carries (an event at a single structure) is shrunk too: of a "
            "one-year 8 mm step at a lone PS (noise 1.5 mm) about 80 % is kept. Turn it off to monitor "
            "single structures.",
            default=True, advanced=True,
        )
        self.add_flag(
            self.WRITE_REMOVED, "Write the removed parts as fields",
            "Adds E<date> (error components), P<date> (polynomial + reference level) and, with the noise "
            "step, N<date> (white noise) fields, so that observed - corrected = E + P + N.",
            advanced=True,
        )
        cluster.add_scheduler_parameter(self)
        outputs.add_layer_output(
            self,
            self.OUTPUT,
            "Corrected PS points",
            "id, the input's fields, velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm, "
            "removed_velocity_mm_per_year (velocity of what was removed), stable, "
            "then the corrected series D<date> (mm).",
        )
        for name, label in (
            (self.STABLE_RMS_BEFORE, "RMS in the stable area before (mm)"),
            (self.STABLE_RMS_AFTER, "RMS in the stable area after (mm)"),
            (self.REFERENCE_VELOCITY, "Velocity of the stable ground in the input (mm/yr)"),
        ):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    # --- inputs ---------------------------------------------------------------------------------

    def _decomposition(self, parameters, context, ps, z, feedback, matrix=None):
        found = inputs.read_decomposition(
            self, parameters, context, ps, self.DECOMPOSITION, self.INPUT, feedback
        )
        if found is not None:
            return found
        k = self.parameterAsInt(parameters, self.N_COMPONENTS, context)
        dec = inputs.decompose_points(self, ps, k, z, self.N_COMPONENTS, self.progress(feedback), matrix)
        feedback.pushInfo(f"Decomposed here: k = {dec.k}, classes {', '.join(dec.labels)}.")
        return dec, ps.ids

    # --- run --------------------------------------------------------------------------------------

    def compute(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(4, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        raw_lines = in_background(linear_velocity, ps.displacement_mm, ps.dates)  # for the self-report
        kind = POLYNOMIAL_KINDS[self.parameterAsEnum(parameters, self.POLYNOMIAL, context)]
        z = inputs.elevation(self, parameters, context, ps, feedback)
        problem = elevation_problem(z) if kind == "quadratic_elevation" else None
        if problem:
            kind = "quadratic"
            feedback.pushWarning(
                f"{self.Z_FIELD}: {problem}, so the surface is fitted as a quadratic without the elevation "
                f"terms (f z + g z^2). Give an elevation field or a {self.DEM} to use them."
            )
        mask = inputs.stable_mask(
            self, parameters, context, ps, feedback, self.STABLE_AREA, self.STABLE_FIELD
        )
        deformation = inputs.component_list(self, parameters, context, self.DEFORMATION_COMPONENTS)
        errors = inputs.component_list(self, parameters, context, self.ERROR_COMPONENTS)

        significance = self.parameterAsDouble(parameters, self.SIGNIFICANCE, context)
        reference = REFERENCES[self.parameterAsEnum(parameters, self.REFERENCE, context)]

        with cluster.session(self, parameters, context, feedback) as client:
            # On a cluster the decomposition is computed there; the layer's error removal (its
            # stable-ground selection and screens) runs here, on the layer held in memory.
            matrix = cluster.as_dask(ps.displacement_mm) if client else None
            steps.setCurrentStep(1)
            dec, ids = self._decomposition(parameters, context, ps, z, steps, matrix)
        steps.setCurrentStep(2)
        with self.core_errors():
            result = remove_errors(
                ps.displacement_mm,
                dec,
                dates=ps.dates,
                x=ps.x,
                y=ps.y,
                z=z,
                ids=ids,
                deformation_components=deformation,
                error_components=errors,
                polynomial=kind,
                fit_mask=mask if mask is not None else ("auto" if significance > 0 else None),
                significance=significance or SIGNIFICANCE,
                margin_m=self.parameterAsDouble(parameters, self.MARGIN, context),
                reference=reference,
                noise_floor=self.parameterAsBoolean(parameters, self.NOISE_FLOOR, context),
                progress=self.progress(steps),
            )
        feedback.pushInfo(
            f"Deformation components {result.deformation_components}, error components "
            f"{result.error_components}, surface {kind}."
        )
        self._warn_smooth_errors(dec, result.error_components, feedback)
        if mask is None and significance > 0 and result.stable_ground.usable:
            mask = result.fit_mask
            feedback.pushInfo(
                f"No stable area given: fitted on the {int(mask.sum())} points ({100 * mask.mean():.0f} %) "
                f"whose motion is not significant ({significance:g} standard errors), at least "
                f"{result.stable_ground.margin_m:g} m from moving ground (written as stable = 1). "
                f"Give {self.STABLE_AREA} or {self.STABLE_FIELD} if you know better."
            )
        elif mask is None and significance == 0:
            feedback.pushWarning(
                "No stable area: the surfaces were fitted on all points, where they can take up part of "
                f"a large deformation area. Give {self.STABLE_AREA} or {self.STABLE_FIELD} to avoid it."
            )
        raw_v, raw_std = raw_lines.result()[:2]
        feedback.pushInfo(
            f"Mean velocity standard deviation: {np.nanmean(raw_std):.3f} mm/yr before, "
            f"{np.nanmean(result.velocity_std_mm_per_year):.3f} mm/yr after (Chen et al. 2023: 2.2 -> 0.9)."
        )
        rms_before = rms_after = float("nan")
        if mask is not None:
            rms_before = stable_area_rms(ps.displacement_mm, mask)
            rms_after = stable_area_rms(result.corrected_mm, mask)
            feedback.pushInfo(
                f"RMS in the stable area: {rms_before:.3f} mm before, {rms_after:.3f} mm after "
                "(it drops after any correction, even a harmful one: read the next lines too)."
            )
        lines, warnings, check = self_report(ps.displacement_mm, result, ps.dates, ps.x, ps.y, raw_v)
        for line in lines:
            feedback.pushInfo(line)
        for warning in warnings:
            feedback.pushWarning(warning)

        steps.setCurrentStep(3)
        fields = {
            "velocity_mm_per_year": result.velocity_mm_per_year,
            "velocity_std_mm_per_year": result.velocity_std_mm_per_year,
            "residual_rms_mm": result.residual_rms_mm,
            "removed_velocity_mm_per_year": check.removed_velocity_mm_per_year,
            "stable": (mask if mask is not None else np.zeros(ps.n_points, dtype=bool)).astype(np.int64),
        }
        series = result.corrected_mm
        if self.parameterAsBoolean(parameters, self.WRITE_REMOVED, context):
            gaps = np.isnan(ps.displacement_mm)
            removed_e = np.where(gaps, np.nan, result.error_components_mm)
            removed_p = np.where(gaps, np.nan, result.polynomial_mm + result.reference_mm[None, :])
            for j, date in enumerate(ps.dates):
                fields[date_field_name(date, "E")] = removed_e[:, j]
            for j, date in enumerate(ps.dates):
                fields[date_field_name(date, "P")] = removed_p[:, j]
            for j, date in enumerate(ps.dates if result.noise_mm is not None else ()):
                fields[date_field_name(date, "N")] = result.noise_mm[:, j]
        out_id = outputs.write_ps(
            self, parameters, context, self.OUTPUT, ps, fields=fields, series=series, feedback=steps
        )
        style_on_completion(context, out_id, "velocity_mm_per_year", result.velocity_mm_per_year, "mm/yr")
        return {
            self.OUTPUT: out_id,
            self.STABLE_RMS_BEFORE: rms_before,
            self.STABLE_RMS_AFTER: rms_after,
            self.REFERENCE_VELOCITY: result.reference_velocity_mm_per_year,
        }

    def _warn_smooth_errors(self, dec, error_components, feedback):
        """Errors are random in time; a smooth T_k among them is likely deformation being removed."""
        for c, lag1 in smooth_components(getattr(dec, "diagnostics", None), error_components):
            feedback.pushWarning(
                f"{self.ERROR_COMPONENTS}: component {c} is removed as error but its temporal function is "
                f"smooth (lag-1 autocorrelation {lag1:.2f}); it may hold deformation. Check its "
                f"curve and list it under {self.DEFORMATION_COMPONENTS} if so."
            )
