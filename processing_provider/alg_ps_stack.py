"""subsidencelab:convertpsstack -- Convert PS sources into a chunked stack (Zarr) for large studies."""

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import compat
from ..core.stack import DEFAULT_CHUNK_ROWS
from .base import SubsidenceAlgorithm


class ConvertPsStackAlgorithm(SubsidenceAlgorithm):
    _name = "convertpsstack"
    _display = "Convert PS sources to a stack (large studies)"
    _group_id = "stack"
    _group = "Large studies (stacks, Dask)"
    _help_anchor = "running-on-a-dask-cluster"
    _requires = ("zarr",)
    _help = (
        "Streams PS files (EGMS CSV exports, GeoPackages, Shapefiles ... one field per date) into one "
        "chunked stack: a Zarr folder holding the displacement matrix (points x dates, float32, blocks of "
        "rows x all dates), the ids, coordinates and elevation, and the dates. The files are read in "
        "batches of rows, so memory stays bounded whatever their size. Many files (the bursts of an EGMS "
        "order) become one stack with one frame per file; they must share the dates and the CRS.\n\n"
        "The stack is the input of 'PCA and error removal of a stack', which runs the decomposition and "
        "the hierarchical error removal of Chen et al. (2023) block by block, in this QGIS or on a Dask "
        "cluster."
    )
    CORE_ERRORS = {"sources": "INPUTS", "stack": "OUTPUT"}
    INPUT = "INPUTS"
    INPUTS = "INPUTS"
    DATE_FIELDS = "DATE_FIELDS"
    ID_FIELD = "ID_FIELD"
    Z_FIELD = "Z_FIELD"
    CHUNK_ROWS = "CHUNK_ROWS"
    OUTPUT = "OUTPUT"
    N_POINTS = "N_POINTS"
    N_FRAMES = "N_FRAMES"

    def initAlgorithm(self, config=None):
        self.add(
            QgsProcessingParameterMultipleLayers(
                self.INPUTS, self.tr("PS files"), layerType=compat.SOURCE_FILE
            ),
            "PS files with one field per date (EGMS CSV: easting/northing in EPSG:3035; or point layers).",
        )
        for name, label, text in (
            (
                self.DATE_FIELDS,
                "Date fields (empty = detect)",
                "As in the other algorithms: a list, prefix or pattern.",
            ),
            (self.ID_FIELD, "Id field (empty = pid, id, ...)", "Field holding the point id."),
            (self.Z_FIELD, "Elevation field (empty = height, z, ...)", "Field holding the elevation (m)."),
        ):
            self.add(QgsProcessingParameterString(name, self.tr(label), optional=True), text, advanced=True)
        self.add(
            QgsProcessingParameterNumber(
                self.CHUNK_ROWS,
                self.tr("Points per block"),
                type=compat.NUMBER_INTEGER,
                minValue=1000,
                defaultValue=DEFAULT_CHUNK_ROWS,
            ),
            "Rows per stored block, the unit of work of the cluster: 1e5 x 300 dates = 120 MB.",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Stack folder (.zarr)")),
            "A new folder: the Zarr stack.",
        )
        self.addOutput(QgsProcessingOutputNumber(self.N_POINTS, self.tr("Points in the stack")))
        self.addOutput(QgsProcessingOutputNumber(self.N_FRAMES, self.tr("Frames in the stack")))

    def compute(self, parameters, context, feedback):
        from ..core.stack_convert import convert_to_stack

        sources = self.parameterAsFileList(parameters, self.INPUTS, context)
        if not sources:
            raise QgsProcessingException(f"{self.INPUTS}: no file given")
        path = self.parameterAsString(parameters, self.OUTPUT, context)
        stack = convert_to_stack(
            [s.split("|")[0] for s in sources],
            path,
            date_fields=self.parameterAsString(parameters, self.DATE_FIELDS, context),
            id_field=self.parameterAsString(parameters, self.ID_FIELD, context) or None,
            z_field=self.parameterAsString(parameters, self.Z_FIELD, context) or None,
            chunk_rows=self.parameterAsInt(parameters, self.CHUNK_ROWS, context),
            progress=self.progress(feedback),
        )
        for name, r0, r1 in stack.frames:
            feedback.pushInfo(f"Frame {name}: {r1 - r0} points.")
        feedback.pushInfo(f"Stack {path}: {stack.n_points} points x {stack.n_dates} dates, CRS {stack.crs}.")
        return {self.OUTPUT: path, self.N_POINTS: stack.n_points, self.N_FRAMES: len(stack.frames)}
