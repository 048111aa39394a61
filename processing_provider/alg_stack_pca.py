"""subsidencelab:stackpcaerrorremoval -- PCA and error removal of a stack, frame by frame, on Dask."""

import numpy as np
from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import compat
from ..core.pca import DEFAULT_K
from ..core.polynomial import POLYNOMIAL_KINDS
from ..core.psdata import PSDataset
from ..core.stable_ground import SIGNIFICANCE
from . import cluster, inputs, outputs
from .base import CHEN_2023, SubsidenceAlgorithm
from .styling import style_on_completion


class StackPcaErrorRemovalAlgorithm(SubsidenceAlgorithm):
    _name = "stackpcaerrorremoval"
    _display = "PCA and error removal of a stack (Dask)"
    _group_id = "stack"
    _group = "Large studies (stacks, Dask)"
    _help_anchor = "running-on-a-dask-cluster"
    _requires = ("dask", "zarr")
    _help = (
        "The PCA decomposition and the hierarchical error removal of " + CHEN_2023 + " on a stack made by "
        "'Convert PS sources to a stack', block by block: the Gram matrix X'^T X' is summed over blocks of "
        "points, the projection S = X' T / sigma and the per-date polynomial surfaces (normal equations "
        "summed over blocks) likewise, giving the same numbers as the in-memory algorithms. Each frame "
        "(burst) of the stack is processed on its own, all frames as one job.\n\n"
        "Dask scheduler: empty = the threads of this computer; an address (tcp://host:8786) = that "
        "cluster, whose workers must read the stack folder at the same path (a shared disk) and have the "
        "plugin's core installed (README).\n\n"
        "Outputs: a point layer (id, frame, velocity_mm_per_year, velocity_std_mm_per_year, "
        "residual_rms_mm, stable, PC1..PCk = S_k sigma_k in mm; no date fields: join it by id), a "
        "components table per frame, and optionally the corrected stack (a new Zarr folder)."
    )
    INPUT = "STACK"
    STACK = "STACK"
    N_COMPONENTS = "N_COMPONENTS"
    POLYNOMIAL = "POLYNOMIAL"
    SIGNIFICANCE = "SIGNIFICANCE"
    DEFORMATION_COMPONENTS = "DEFORMATION_COMPONENTS"
    ERROR_COMPONENTS = "ERROR_COMPONENTS"
    BY_FRAME = "BY_FRAME"
    OUTPUT = "OUTPUT"
    COMPONENTS = "COMPONENTS"
    CORRECTED = "CORRECTED"
    N_POINTS = "N_POINTS"
    CORE_ERRORS = {
        "stack": "STACK",
        "k": "N_COMPONENTS",
        "z": "POLYNOMIAL",
        "polynomial": "POLYNOMIAL",
        "fit_mask": "SIGNIFICANCE",
        "significance": "SIGNIFICANCE",
        "deformation_components": "DEFORMATION_COMPONENTS",
        "error_components": "ERROR_COMPONENTS",
        "corrected_path": "CORRECTED",
    }

    def initAlgorithm(self, config=None):
        self.add(
            QgsProcessingParameterFile(
                self.STACK, self.tr("PS stack (.zarr folder)"), behavior=compat.FILE_BEHAVIOR_FOLDER
            ),
            "A stack written by 'Convert PS sources to a stack'.",
        )
        self.add(
            QgsProcessingParameterNumber(
                self.N_COMPONENTS,
                self.tr("Number of components (0 = suggest)"),
                type=compat.NUMBER_INTEGER,
                minValue=0,
                defaultValue=DEFAULT_K,
            ),
            "Components per frame; 0 = the Gavish-Donoho suggestion of each frame.",
        )
        for name, label, text in (
            (
                self.DEFORMATION_COMPONENTS,
                "Deformation components (empty = proposed classes)",
                "Component numbers kept as the linear deformation model, e.g. 1,2.",
            ),
            (
                self.ERROR_COMPONENTS,
                "Error components (empty = proposed classes)",
                "Component numbers removed as errors, e.g. 3,5 or 3-6.",
            ),
        ):
            self.add(QgsProcessingParameterString(name, self.tr(label), defaultValue="", optional=True), text)
        self.add(
            QgsProcessingParameterEnum(
                self.POLYNOMIAL,
                self.tr("Per-date polynomial surface"),
                options=list(POLYNOMIAL_KINDS),
                defaultValue=1,
            ),
            "Surface fitted per date on the stable points and removed; the elevation terms need z "
            "in the stack.",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                self.SIGNIFICANCE,
                self.tr("Stable ground: velocity significance (0 = fit on all points)"),
                type=compat.NUMBER_DOUBLE,
                minValue=0.0,
                defaultValue=SIGNIFICANCE,
            ),
            "Stable ground chosen per frame as in 'PCA-based error removal': points whose velocity is "
            "not significant at this many standard errors, away from moving ground.",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterBoolean(self.BY_FRAME, self.tr("Each frame on its own"), defaultValue=True),
            "Decompose and correct each frame (burst) of the stack independently, all in one job.",
            advanced=True,
        )
        cluster.add_scheduler_parameter(self)
        outputs.add_layer_output(
            self,
            self.OUTPUT,
            "PS points with velocity and component maps",
            "id, frame, velocity_mm_per_year, velocity_std_mm_per_year, residual_rms_mm, stable, PC1..PCk.",
            carry_attributes=False,
        )
        outputs.add_table_output(
            self,
            self.COMPONENTS,
            "Components per frame",
            "frame, component, label, sigma_mm, variance_share.",
        )
        self.add(
            QgsProcessingParameterFolderDestination(
                self.CORRECTED,
                self.tr("Corrected stack (.zarr folder)"),
                optional=True,
                createByDefault=False,
            ),
            "A new stack holding the corrected series (same ids, coordinates, dates and frames).",
        )
        self.addOutput(QgsProcessingOutputNumber(self.N_POINTS, self.tr("Points processed")))

    def compute(self, parameters, context, feedback):
        from ..core.stack import open_stack
        from ..core.stack_jobs import process_stack

        stack = open_stack(self.parameterAsFile(parameters, self.STACK, context))
        feedback.pushInfo(
            f"Stack: {stack.n_points} points x {stack.n_dates} dates, {len(stack.frames)} frames."
        )
        k = self.parameterAsInt(parameters, self.N_COMPONENTS, context)
        significance = self.parameterAsDouble(parameters, self.SIGNIFICANCE, context)
        corrected = self.parameterAsString(parameters, self.CORRECTED, context) or None
        with cluster.session(self, parameters, context, feedback):
            result = process_stack(
                stack,
                k=k or None,
                polynomial=POLYNOMIAL_KINDS[self.parameterAsEnum(parameters, self.POLYNOMIAL, context)],
                stable_area="auto" if significance > 0 else None,
                significance=significance or SIGNIFICANCE,
                deformation_components=inputs.component_list(
                    self, parameters, context, self.DEFORMATION_COMPONENTS
                ),
                error_components=inputs.component_list(self, parameters, context, self.ERROR_COMPONENTS),
                by_frame=self.parameterAsBoolean(parameters, self.BY_FRAME, context),
                corrected_path=corrected,
                progress=self.progress(feedback, 0, 85),
            )
        m = stack.n_points
        points = PSDataset(
            ids=stack.column("ids"),
            x=stack.column("x"),
            y=stack.column("y"),
            dates=np.zeros(0, dtype="datetime64[D]"),
            displacement_mm=np.zeros((m, 0)),
            crs=stack.crs,
            id_field=stack.id_field,
        )
        fields = {
            "frame": result.frame_index.astype(np.int64) + 1,
            "velocity_mm_per_year": result.velocity_mm_per_year,
            "velocity_std_mm_per_year": result.velocity_std_mm_per_year,
            "residual_rms_mm": result.residual_rms_mm,
            "stable": result.stable.astype(np.int64),
        }
        fields.update(
            {f"PC{j + 1}": result.component_maps_mm[:, j] for j in range(result.component_maps_mm.shape[1])}
        )
        out_id = outputs.write_ps(self, parameters, context, self.OUTPUT, points, fields=fields)
        style_on_completion(context, out_id, "velocity_mm_per_year", result.velocity_mm_per_year, "mm/yr")
        rows = [
            (i + 1, j + 1, dec.labels[j], dec.sigma[j], dec.variance_share[j])
            for i, dec in enumerate(result.decompositions)
            for j in range(dec.k)
        ]
        table = outputs.write_table(
            self,
            parameters,
            context,
            self.COMPONENTS,
            [
                ("frame", "int", [r[0] for r in rows]),
                ("component", "int", [r[1] for r in rows]),
                ("label", "str", [r[2] for r in rows]),
                ("sigma_mm", "float", [r[3] for r in rows]),
                ("variance_share", "float", [r[4] for r in rows]),
            ],
        )
        return {self.OUTPUT: out_id, self.COMPONENTS: table, self.CORRECTED: corrected, self.N_POINTS: m}
