"""subsidencelab:preparepsdataset -- read, convert, re-reference and resample PS series."""

import numpy as np
from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterFeatureSource,
)

from .. import compat
from ..core import ps_ops
from . import inputs, outputs
from .base import SubsidenceAlgorithm
from .ps_io import add_ps_input_parameters, read_ps


class PreparePSDatasetAlgorithm(SubsidenceAlgorithm):
    _name = "preparepsdataset"
    _display = "Prepare PS dataset"
    _group_id = "data"
    _group = "Data"
    _help = (
        "Reads a PS/SBAS point layer or table with one displacement field per date, "
        "and writes a clean point layer that the other algorithms read.\n\n"
        "Steps: date-field detection (D20101122, D_20101122, 20101122, 2010-11-22; or the fields you "
        "give); reprojection of geographic input to its UTM zone; optional line-of-sight to vertical "
        "conversion D_v = D_LOS / u_up with the LOS unit vector's up component (los_up in EGMS, cosU "
        "in SARscape exports) or D_v = D_LOS / cos(theta) (per-point incidence field, else the scene "
        "angle); "
        "optional re-referencing to reference points (ids) or a reference area (polygons): the mean "
        "series of the reference is subtracted at every date; optional resampling to the first day "
        "of each month by linear interpolation.\n\n"
        "Inputs: GeoPackage, Shapefile, GeoJSON, CSV (EGMS easting/northing, EPSG:3035, or "
        "longitude/latitude), StaMPS-Visualizer CSV, or any QGIS point layer (selected features "
        "only when asked).\n\n"
        "Output: points with id, velocity_mm_per_year and its least-squares standard error, "
        "n_valid_dates, height and incidence_angle when known, direction (LOS or vertical), and "
        "one field per date named DYYYYMMDD (mm, NULL where missing)."
    )

    INPUT = "INPUT"
    DATE_FIELDS = "DATE_FIELDS"
    ID_FIELD = "ID_FIELD"
    Z_FIELD = "Z_FIELD"
    INCIDENCE_FIELD = "INCIDENCE_FIELD"
    LOS_UP_FIELD = "LOS_UP_FIELD"
    DIRECTION = "DIRECTION"
    SCENE_INCIDENCE_DEG = "SCENE_INCIDENCE_DEG"
    REFERENCE_IDS = "REFERENCE_IDS"
    REFERENCE_AREA = "REFERENCE_AREA"
    MONTHLY = "MONTHLY"
    OUTPUT = "OUTPUT"

    DIRECTIONS = [
        "Keep line-of-sight (LOS)",
        "Convert to vertical (D_LOS / LOS up component or cos(incidence))",
    ]

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT)
        self.add_choice(
            self.DIRECTION, "Direction of the output series", self.DIRECTIONS,
            "Vertical = LOS / u_up (LOS unit vector's up component) or LOS / cos(theta), assuming purely "
            "vertical motion (Cao et al.). Per point: the LOS up-component field when chosen, else the "
            "incidence field, else a field named los_up/cosU/los_u/up, else the scene angle.",
        )
        self.add_field(
            self.LOS_UP_FIELD, "LOS unit vector, up component field", self.INPUT,
            "Up component of the ground-to-satellite LOS unit vector (EGMS los_up, SARscape cosU), used "
            "for the vertical conversion before the incidence angle. Empty = the incidence field first, "
            "then a field with one of those names.",
            numeric=True, advanced=True,
        )
        self.add_number(
            self.SCENE_INCIDENCE_DEG,
            "Scene incidence angle (degrees), when there is no incidence field",
            "One incidence angle for every point; used where the incidence field is empty.",
            minimum=0.0, maximum=79.9, optional=True, advanced=True,
        )
        self.add_text(
            self.REFERENCE_IDS, "Reference point ids (comma separated)",
            "The mean series of these points is subtracted from every point. Each id must name exactly "
            "one point.",
        )
        self.add(
            QgsProcessingParameterFeatureSource(
                self.REFERENCE_AREA,
                self.tr("Reference area (polygons)"),
                [compat.SOURCE_VECTOR_POLYGON],
                optional=True,
            ),
            "The mean series of the points inside these polygons is subtracted.",
        )
        self.add_flag(
            self.MONTHLY, "Resample to monthly steps (1st of each month)",
            "Linear interpolation in time, no extrapolation.",
        )
        outputs.add_layer_output(
            self,
            self.OUTPUT,
            "Prepared PS points",
            "Point layer with the input's fields, summary fields and one field per date (DYYYYMMDD, mm).",
        )

    def _reference_mask(self, parameters, context, ps):
        mask = np.zeros(ps.n_points, dtype=bool)
        used = False
        ids_text = self.parameterAsString(parameters, self.REFERENCE_IDS, context).strip()
        if ids_text:
            used = True
            try:
                mask |= ps_ops.reference_mask_from_ids(ps, [s for s in ids_text.split(",") if s.strip()])
            except ValueError as exc:
                raise QgsProcessingException(f"{self.REFERENCE_IDS}: {exc}") from exc
        area = self.parameterAsSource(parameters, self.REFERENCE_AREA, context)
        if area is not None:
            used = True
            inside = inputs.points_in_polygons(area, context, ps, self.REFERENCE_AREA)
            if not inside.any():
                raise QgsProcessingException(
                    f"{self.REFERENCE_AREA}: no PS point lies inside the reference area"
                )
            mask |= inside
        return mask if used else None

    def compute(self, parameters, context, feedback):
        ps = read_ps(self, parameters, context, feedback, self.INPUT, require_projected=True)
        feedback.setProgress(40)
        if self.parameterAsEnum(parameters, self.DIRECTION, context) == 1:
            scene = parameters.get(self.SCENE_INCIDENCE_DEG)
            scene = (
                None
                if scene in (None, "")
                else self.parameterAsDouble(parameters, self.SCENE_INCIDENCE_DEG, context)
            )
            los_up = self.parameterAsString(parameters, self.LOS_UP_FIELD, context) or None
            try:
                ps = ps_ops.los_to_vertical(ps, scene, los_up_field=los_up)
            except ValueError as exc:
                where = (
                    self.LOS_UP_FIELD
                    if str(exc).startswith("los_up_field")
                    else f"{self.INCIDENCE_FIELD} / {self.SCENE_INCIDENCE_DEG}"
                )
                raise QgsProcessingException(f"{where}: {exc}") from exc
        mask = self._reference_mask(parameters, context, ps)
        if mask is not None:
            try:
                ps = ps_ops.rereference(ps, mask)
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            feedback.pushInfo(f"Re-referenced to the mean series of {int(mask.sum())} points.")
        if self.parameterAsBoolean(parameters, self.MONTHLY, context):
            try:
                ps = ps_ops.resample_dataset_monthly(ps, self.progress(feedback, 50, 60))
            except ValueError as exc:
                raise QgsProcessingException(f"{self.MONTHLY}: {exc}") from exc
            feedback.pushInfo(f"Resampled to {ps.n_dates} monthly steps ({ps.dates[0]} .. {ps.dates[-1]}).")
        velocity, std_error = ps_ops.velocity(ps.displacement_mm, ps.dates)
        fields = {
            "velocity_mm_per_year": velocity,
            "velocity_std_error_mm_per_year": std_error,
            "n_valid_dates": (~np.isnan(ps.displacement_mm)).sum(axis=1).astype(np.int64),
        }
        if ps.z is not None:
            fields["height"] = ps.z
        if ps.incidence_deg is not None:
            fields["incidence_angle"] = ps.incidence_deg
        fields["direction"] = np.array([ps.direction] * ps.n_points, dtype=object)
        feedback.setProgress(60)
        dest = outputs.write_ps(
            self, parameters, context, self.OUTPUT, ps, fields=fields,
            series=ps.displacement_mm, feedback=feedback, style=("velocity_mm_per_year", velocity, "mm/yr"),
        )
        return {self.OUTPUT: dest}
