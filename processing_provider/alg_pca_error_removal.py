"""subsidencelab:pcaerrorremoval -- PCA-based hierarchical error removal (METHODS.md section 3)."""

import re

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import compat
from ..core.dates import date_field_name
from ..core.error_removal import REFERENCES, linear_velocity, remove_errors
from ..core.pca import DEFAULT_K, Decomposition
from ..core.polynomial import POLYNOMIAL_KINDS
from ..core.stable_ground import MARGIN_M, SIGNIFICANCE, self_report
from ..core.validation import stable_area_rms
from .base import SubsidenceAlgorithm, progress_callback
from .pca_inputs import DEM, DEM_BAND, add_dem_parameters, decompose_points, elevation
from .ps_io import add_ps_input_parameters, read_ps, write_ps
from .styling import style_on_completion

# A temporal function this autocorrelated is not the per-date randomness of orbit/atmosphere.
SMOOTH_LAG1 = 0.5


def parse_components(text, parameter):
    """``"1,2"``, ``"1 2"`` or ``"1-3"`` -> sorted 1-based numbers; None for an empty text."""
    text = (text or "").strip()
    if not text:
        return None
    numbers = set()
    for token in re.split(r"[,;\s]+", text):
        if not token:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if match is None:
            raise QgsProcessingException(
                f"{parameter}: cannot read {token!r}; give component numbers like 1,2 or 3-5"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        numbers.update(range(first, last + 1))
    return sorted(numbers)


class PcaErrorRemovalAlgorithm(SubsidenceAlgorithm):
    _name = "pcaerrorremoval"
    _display = "PCA-based error removal"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "Removes orbital, atmospheric and noise errors from PS/SBAS displacement series with the "
        "hierarchical strategy of Chen et al. 2023 (section 3.3; METHODS.md section 3): "
        "(1) a straight line is fitted to the temporal function of each deformation component; "
        "(2) the linear deformation model D = S_d W_d T'_d is set aside; (3) the error components "
        "(by default those classed orbital or noise) are reconstructed and removed; (4) per date, "
        "a polynomial surface (none, plane, quadratic, or quadratic + f z + g z^2 as Chen et al. 2023's "
        "eq. 5) is fitted by least squares and removed; (5) the deformation model is added back.\n\n"
        "The surfaces are fitted robustly on stable ground only, the error left there is "
        "interpolated from it and removed too, and the error maps inside deforming areas are "
        "carried in from stable points so the deformation that leaks into error components is not "
        "removed (details in core/error_removal.py). Stable ground is the stable area you give "
        "(polygons, or a 0/1 field of the layer), else the points whose velocity is not "
        "significant (within 'significance' standard errors of the stable ground's), away from "
        "moving ground by the margin, chosen again after a first correction (written as "
        "stable = 1). A significance of 0 fits on all points, as Chen et al. 2023 do; large "
        "non-linear bowls then bias the surfaces everywhere.\n\n"
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
        "components) and P<date> (polynomial surface plus the reference level), so that "
        "observed - corrected = E + P. When a stable area is given, the RMS of the series there "
        "before and after is reported."
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
    WRITE_REMOVED = "WRITE_REMOVED"
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
        "Quadratic + elevation (+ f z + g z^2, Chen et al. 2023 eq. 5)",
    )

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=("Z",))
        dec = QgsProcessingParameterFile(
            self.DECOMPOSITION,
            self.tr("Decomposition file (from PCA decomposition)"),
            extension="npz",
            optional=True,
        )
        dec.setHelp(
            self.tr(
                "The .npz file written by 'PCA decomposition' for this layer. Its point ids are matched "
                "to the layer's (any order; an error if the sets differ). Empty = decompose here."
            )
        )
        self.addParameter(dec)
        k = QgsProcessingParameterNumber(
            self.N_COMPONENTS,
            self.tr("Number of components when decomposing here (0 = suggest)"),
            type=compat.NUMBER_INTEGER,
            minValue=0,
            defaultValue=DEFAULT_K,
        )
        k.setHelp(
            self.tr(
                "Used only without a decomposition file. More components let the error components hold "
                "more of the spatially correlated atmosphere; 0 = the automatic suggestion."
            )
        )
        self.addParameter(k)
        for name, label, help_text in (
            (
                self.DEFORMATION_COMPONENTS,
                "Deformation components (empty = proposed classes)",
                "Component numbers whose temporal function is fitted by a line and kept as the "
                "deformation model, e.g. 1,2. Empty = the components classed 'deformation'.",
            ),
            (
                self.ERROR_COMPONENTS,
                "Error components (empty = proposed classes)",
                "Component numbers removed as errors, e.g. 3,5 or 3-6. Empty = the components classed "
                "'orbital' or 'noise'. Components listed in neither list stay in the series.",
            ),
        ):
            param = QgsProcessingParameterString(name, self.tr(label), defaultValue="", optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        poly = QgsProcessingParameterEnum(
            self.POLYNOMIAL,
            self.tr("Per-date polynomial surface"),
            options=[self.tr(label) for label in self.POLYNOMIAL_LABELS],
            defaultValue=3,
        )
        poly.setHelp(
            self.tr(
                "Surface fitted per date and removed (residual orbit and atmosphere). The elevation "
                "terms need an elevation field or a DEM."
            )
        )
        self.addParameter(poly)
        add_dem_parameters(
            self,
            "Optional elevation raster sampled at the points; used instead of the elevation field.",
        )
        area = QgsProcessingParameterFeatureSource(
            self.STABLE_AREA,
            self.tr("Stable area (polygons)"),
            [compat.SOURCE_VECTOR_POLYGON],
            optional=True,
        )
        area.setHelp(
            self.tr(
                "Polygons of ground known not to deform. PS inside them are the fit points and the zero "
                "reference. Reprojected to the PS layer's CRS when needed."
            )
        )
        self.addParameter(area)
        field = QgsProcessingParameterField(
            self.STABLE_FIELD,
            self.tr("Stable-point field (0/1)"),
            parentLayerParameterName=self.INPUT,
            type=compat.FIELD_ANY,
            optional=True,
        )
        field.setHelp(
            self.tr(
                "A field of the PS layer that is true / non-zero on stable points. Combined with the "
                "stable polygons (a point must be in both) when both are given."
            )
        )
        self.addParameter(field)
        significance = QgsProcessingParameterNumber(
            self.SIGNIFICANCE,
            self.tr("Without a stable area: motion is significant above (standard errors; 0 = all points)"),
            type=compat.NUMBER_DOUBLE,
            minValue=0.0,
            defaultValue=SIGNIFICANCE,
        )
        significance.setHelp(
            self.tr(
                "Used only when no stable polygons or field are given. A point is moving when its velocity "
                "(or its neighbourhood's) departs from the stable ground's by more than this many standard "
                "errors; stable ground is the rest, away from moving ground by the margin. 0 = fit on all "
                "points as Chen et al. 2023 do, which lets large non-linear bowls bias the surface."
            )
        )
        self.addParameter(significance)
        margin = QgsProcessingParameterNumber(
            self.MARGIN,
            self.tr("Without a stable area: margin from moving ground (m)"),
            type=compat.NUMBER_DOUBLE,
            minValue=0.0,
            defaultValue=MARGIN_M,
        )
        margin.setHelp(self.tr("Stable points are at least this far from a moving neighbourhood."))
        self.addParameter(margin)
        reference = QgsProcessingParameterEnum(
            self.REFERENCE,
            self.tr("Reference"),
            options=[self.tr(label) for label in self.REFERENCE_LABELS],
            defaultValue=0,
        )
        reference.setHelp(
            self.tr(
                "Keep the input's reference (EGMS is calibrated) unless the stable ground's velocity in the "
                "input is within 4 standard errors of its date-to-date scatter (then it is error and is "
                "removed); always keep it; or make stable ground the zero at every date. The offset is "
                "logged."
            )
        )
        self.addParameter(reference)
        removed = QgsProcessingParameterBoolean(
            self.WRITE_REMOVED, self.tr("Write the removed parts as fields"), defaultValue=False
        )
        removed.setHelp(
            self.tr(
                "Adds E<date> (error components) and P<date> (polynomial + reference level) fields, "
                "so that observed - corrected = E + P."
            )
        )
        self.addParameter(removed)
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Corrected PS points"), compat.SOURCE_VECTOR_POINT
        )
        output.setHelp(
            self.tr(
                "id, velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm, "
                "removed_velocity_mm_per_year (velocity of what was removed), stable, then the corrected "
                "series D<date> (mm)."
            )
        )
        self.addParameter(output)
        self.addOutput(
            QgsProcessingOutputNumber(self.STABLE_RMS_BEFORE, self.tr("RMS in the stable area before (mm)"))
        )
        self.addOutput(
            QgsProcessingOutputNumber(self.STABLE_RMS_AFTER, self.tr("RMS in the stable area after (mm)"))
        )
        self.addOutput(
            QgsProcessingOutputNumber(
                self.REFERENCE_VELOCITY, self.tr("Velocity of the stable ground in the input (mm/yr)")
            )
        )

    # --- inputs ---------------------------------------------------------------------------------

    def _stable_mask(self, parameters, context, ps, feedback):
        return stable_mask(self, parameters, context, ps, feedback, self.STABLE_AREA, self.STABLE_FIELD)

    def _decomposition(self, parameters, context, ps, z, feedback):
        path = self.parameterAsFile(parameters, self.DECOMPOSITION, context)
        if path:
            try:
                dec = Decomposition.load(path)
            except ValueError as exc:
                raise QgsProcessingException(f"{self.DECOMPOSITION}: {exc}") from exc
            if dec.dates is not None and not np.array_equal(dec.dates, ps.dates):
                raise QgsProcessingException(
                    f"{self.DECOMPOSITION}: its {dec.dates.size} dates differ from the layer's "
                    f"{ps.n_dates} dates; decompose this layer first"
                )
            ids = ps.ids
            if dec.ids is not None and np.asarray(dec.ids).dtype.kind != np.asarray(ids).dtype.kind:
                # The file stores text ids as str: compare both sides as text.
                dec.ids = np.asarray(dec.ids).astype(str)
                ids = np.asarray(ids).astype(str)
            feedback.pushInfo(f"Decomposition file: k = {dec.k}, classes {', '.join(dec.labels)}.")
            return dec, ids
        k = self.parameterAsInt(parameters, self.N_COMPONENTS, context)
        dec = decompose_points(ps, k, z, self.N_COMPONENTS, progress_callback(feedback, 0, 100), self.INPUT)
        feedback.pushInfo(f"Decomposed here: k = {dec.k}, classes {', '.join(dec.labels)}.")
        return dec, ps.ids

    # --- run --------------------------------------------------------------------------------------

    def processAlgorithm(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(4, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        kind = POLYNOMIAL_KINDS[self.parameterAsEnum(parameters, self.POLYNOMIAL, context)]
        z = elevation(self, parameters, context, ps, feedback)
        if kind == "quadratic_elevation" and z is None:
            raise QgsProcessingException(
                f"{self.Z_FIELD}: the quadratic + elevation surface needs an elevation field or a {self.DEM}"
            )
        mask = self._stable_mask(parameters, context, ps, feedback)
        deformation = parse_components(
            self.parameterAsString(parameters, self.DEFORMATION_COMPONENTS, context),
            self.DEFORMATION_COMPONENTS,
        )
        errors = parse_components(
            self.parameterAsString(parameters, self.ERROR_COMPONENTS, context), self.ERROR_COMPONENTS
        )

        significance = self.parameterAsDouble(parameters, self.SIGNIFICANCE, context)
        reference = REFERENCES[self.parameterAsEnum(parameters, self.REFERENCE, context)]

        steps.setCurrentStep(1)
        dec, ids = self._decomposition(parameters, context, ps, z, steps)

        steps.setCurrentStep(2)
        try:
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
                progress=progress_callback(steps, 0, 100),
            )
        except ValueError as exc:
            raise QgsProcessingException(f"{self._parameter_of(str(exc))}: {exc}") from exc
        feedback.pushInfo(
            f"Deformation components {result.deformation_components}, error components "
            f"{result.error_components}, surface {kind}."
        )
        self._warn_smooth_errors(dec, result.error_components, feedback)
        if mask is None and significance > 0 and result.stable_ground.usable:
            mask = result.fit_mask
            feedback.pushInfo(
                f"No stable area given: fitted on the {int(mask.sum())} points ({100 * mask.mean():.0f} %) "
                "whose "
                f"motion is not significant ({significance:g} standard errors), at least "
                f"{result.stable_ground.margin_m:g} m from moving ground (written as stable = 1). "
                f"Give {self.STABLE_AREA} or {self.STABLE_FIELD} if you know better."
            )
        elif mask is None and significance == 0:
            feedback.pushWarning(
                "No stable area: the surfaces were fitted on all points, where they can take up part of "
                f"a large deformation area. Give {self.STABLE_AREA} or {self.STABLE_FIELD} to avoid it."
            )
        raw_std = linear_velocity(ps.displacement_mm, ps.dates)[1]
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
        lines, warnings, check = self_report(ps.displacement_mm, result, ps.dates, ps.x, ps.y)
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
        out_id = write_ps(
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
        lag1 = (getattr(dec, "diagnostics", None) or {}).get("lag1_autocorrelation")
        if lag1 is None:
            return
        smooth = [c for c in error_components if c <= len(lag1) and lag1[c - 1] >= SMOOTH_LAG1]
        for c in smooth:
            feedback.pushWarning(
                f"{self.ERROR_COMPONENTS}: component {c} is removed as error but its temporal function is "
                f"smooth (lag-1 autocorrelation {lag1[c - 1]:.2f}); it may hold deformation. Check its "
                f"curve and list it under {self.DEFORMATION_COMPONENTS} if so."
            )

    def _parameter_of(self, message):
        prefixes = {
            "ids": self.DECOMPOSITION,
            "dates": self.DECOMPOSITION,
            "decomposition": self.DECOMPOSITION,
            "fit_mask": self.STABLE_AREA,
            "significance": self.SIGNIFICANCE,
            "reference": self.REFERENCE,
            "deformation_components": self.DEFORMATION_COMPONENTS,
            "error_components": self.ERROR_COMPONENTS,
            "z": self.Z_FIELD,
            "polynomial": self.POLYNOMIAL,
        }
        return prefixes.get(message.split(":", 1)[0].strip(), self.INPUT)


# --- stable-area mask (shared with validatebenchmarks) --------------------------------------------


def stable_mask(alg, parameters, context, ps, feedback, area_name, field_name, input_name="INPUT"):
    """(m,) bool or None: PS inside the stable polygons ``area_name`` and/or flagged by ``field_name``.

    Polygons in another CRS are reprojected to the PS CRS. The field is true / non-zero on
    stable points. With both, a point must satisfy both.
    """
    mask = None
    field = alg.parameterAsString(parameters, field_name, context)
    if field:
        values = ps.attributes.get(field)
        if values is None:
            values = _field_values(alg, parameters, context, field, ps, field_name, input_name)
        mask = _as_bool(values, field, field_name)
    source = alg.parameterAsSource(parameters, area_name, context)
    if source is not None:
        inside = points_in_polygons(source, context, ps, area_name)
        if not inside.any():
            raise QgsProcessingException(f"{area_name}: no PS point lies inside the stable polygons")
        mask = inside if mask is None else (mask & inside)
    if mask is not None and feedback is not None:
        feedback.pushInfo(f"Stable area: {int(mask.sum())} of {ps.n_points} points.")
    if mask is not None and not mask.any():
        raise QgsProcessingException(f"{field_name}: no PS point is marked stable")
    return mask


def _as_bool(values, field, field_name):
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        values = values.astype(np.float64)
        return np.isfinite(values) & (values != 0)
    text = np.char.lower(np.asarray(values, dtype=str))
    known = np.isin(text, ["1", "0", "true", "false", "yes", "no", "t", "f", "none", "null", ""])
    if not known.all():
        bad = text[~known][0]
        raise QgsProcessingException(f"{field_name}: field {field!r} holds {bad!r}, expected 0/1")
    return np.isin(text, ["1", "true", "yes", "t"])


def _field_values(alg, parameters, context, field, ps, field_name, input_name):
    """A field's values in the order of ``ps``, read through the source."""
    source = alg.parameterAsSource(parameters, input_name, context)
    index = source.fields().lookupField(field)
    if index < 0:
        raise QgsProcessingException(f"{field_name}: no field {field!r} in the PS layer")
    if source.featureCount() != ps.n_points:
        raise QgsProcessingException(
            f"{field_name}: the layer has {source.featureCount()} features but "
            f"{ps.n_points} points were read; use the field without a selection"
        )
    request = QgsFeatureRequest().setFlags(compat.REQUEST_NO_GEOMETRY).setSubsetOfAttributes([index])
    values = [f.attribute(index) for f in source.getFeatures(request)]
    return np.array([0 if v is None or str(v) in ("NULL", "") else v for v in values], dtype=object).astype(
        str
    )


def points_in_polygons(source, context, ps, parameter):
    """(m,) bool: the PS points inside the polygons of ``source`` (reprojected to the PS CRS)."""
    target = QgsCoordinateReferenceSystem(ps.crs) if ps.crs else source.sourceCrs()
    transform = None
    if source.sourceCrs().isValid() and target.isValid() and source.sourceCrs() != target:
        transform = QgsCoordinateTransform(source.sourceCrs(), target, context.transformContext())
    parts = []
    for feature in source.getFeatures():
        geom = QgsGeometry(feature.geometry())
        if geom.isEmpty():
            continue
        if transform is not None:
            geom.transform(transform)
        parts.append(geom)
    if not parts:
        raise QgsProcessingException(f"{parameter}: the layer has no polygon")
    union = QgsGeometry.unaryUnion(parts)
    box = union.boundingBox()
    inside = np.zeros(ps.n_points, dtype=bool)
    candidates = np.flatnonzero(
        (ps.x >= box.xMinimum())
        & (ps.x <= box.xMaximum())
        & (ps.y >= box.yMinimum())
        & (ps.y <= box.yMaximum())
    )
    # A prepared geometry makes each point test cheap; the bounding box skips most points.
    engine = QgsGeometry.createGeometryEngine(union.constGet())
    engine.prepareGeometry()
    for i in candidates.tolist():
        point = QgsGeometry.fromPointXY(QgsPointXY(float(ps.x[i]), float(ps.y[i])))
        inside[i] = engine.intersects(point.constGet())
    return inside
