#!/usr/bin/env python3
"""Regenerate the shipped graphical model ``resources/models/subsidence_pipeline.model3``.

    python scripts/build_model.py [--check]

The model is built with the QGIS model API (QgsProcessingModelAlgorithm and friends), from the
algorithms' own parameter names, so it stays in sync with them: re-run this script whenever a
parameter of a chained algorithm is renamed, and commit the ``.model3``. ``--check`` only says
whether the committed file holds what this script builds (exit 1 when it does not).

Chain (every arrow a real Processing output taken as the next step's input):
preparepsdataset -> pcadecomposition -> pcaerrorremoval (with the decomposition file) ->
wellbuffersampling (with the groundwater table) -> amlstmsimulation.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless import REPO, start_qgis

MODEL_PATH = os.path.join(REPO, "resources", "models", "subsidence_pipeline.model3")
MODEL_NAME = "subsidencepipeline"

HELP = (
    "<p>The whole Subsidence Lab pipeline in one run: from a PS-InSAR layer, wells and their multi-layer "
    "groundwater levels to corrected deformation, monthly deformation around each well and its AM-LSTM "
    "simulation. Open it in the graphical modeler (Edit model) to see or change the chain; it is read-only "
    "here, so save your changes as a model of your own.</p>"
    "<p><b>Chain.</b> (1) Prepare PS dataset: date fields, optionally LOS to vertical "
    "(D_v = D_LOS / cos &theta;). (2) PCA decomposition (Chen et al. 2023): per-epoch centring "
    "X' = X - &mu;, X' &asymp; S W T<sup>T</sup> with k components, each classed deformation, orbital, "
    "seasonal atmosphere, seasonal deformation or noise. (3) PCA-based hierarchical error removal "
    "(Chen et al. 2023): the deformation components' T fitted by a line and kept, the error components "
    "removed, then per date the surface "
    "&phi; = a x + b y + c xy + d x&sup2; + e y&sup2; + f z + g z&sup2; + h (eq. 5) fitted on stable "
    "ground and removed. (4) Buffer sampling around wells (Cao et al.): the PS within the radius of each "
    "well, their mean series resampled to months, the monthly deformation and the groundwater levels "
    "of each aquifer layer on the same months. (5) AM-LSTM simulation (Cao et al.): an LSTM fed the "
    "layers' levels through input attention, a<sub>t</sub><sup>k</sup> = v<sub>e</sub><sup>T</sup> "
    "tanh(W<sub>e</sub>[h<sub>t-1</sub>; C<sub>t-1</sub>] + U<sub>e</sub> x<sup>k</sup>), "
    "b<sub>t</sub><sup>k</sup> = softmax over the layers (the weights say which aquifer layer drives "
    "the deformation), beside a plain LSTM, a physical delayed-compaction model, a linear trend and "
    "persistence on the same chronological split; the gain is "
    "(RMSE<sub>LSTM</sub> - RMSE<sub>AM-LSTM</sub>) / RMSE<sub>LSTM</sub>, as Cao et al.'s Table 3.</p>"
    "<p><b>Inputs.</b> PS points (one field per date), wells (points) and their id field, the groundwater "
    "table (long or wide, metres, per well and layer), optionally stable-area polygons; the number of "
    "components k (0 = the suggestion), the well radius, and the AM-LSTM window, epochs and hidden size. "
    "Every other setting is the algorithm's default: run the algorithms one by one to change them.</p>"
    "<p><b>Outputs.</b> PC maps layer, components and temporal tables, decomposition file (.npz); "
    "corrected PS points (velocity, series); per-well series table, member PS points; AM-LSTM "
    "predictions (every model), metrics (RMSE, MAE, NSE, skill, AM-LSTM gain), attention per well and "
    "layer, and the model file (.pt) for 'AM-LSTM prediction from a saved model'.</p>"
    "<p>Papers: Chen et al. 2023, <i>High precision extraction of surface deformation information based on "
    "principal component spatiotemporal analysis and time-series InSAR</i>; Cao et al., <i>Study on land "
    "subsidence simulation in the east of Beijing plain based on AM-LSTM network</i>. Needs PyTorch (CPU) "
    "for the last step.</p>"
)

# name -> (kind, description, help, options)
INPUTS = [
    (
        "ps_layer",
        "source_point",
        "PS points",
        "PS-InSAR or SBAS points with one displacement field per date "
        "(mm, cm or m; D20101122, 20101122, ...).",
        {},
    ),
    (
        "direction",
        "enum",
        "Direction of the series",
        "Keep the line of sight (Chen et al. 2023) or convert to "
        "vertical, D_LOS / cos(incidence) (Cao et al.).",
        {"options": ["Keep line-of-sight (LOS)", "Convert to vertical"], "default": 0},
    ),
    ("wells", "source_point", "Wells", "Groundwater wells (points).", {}),
    (
        "well_id_field",
        "field",
        "Well id field",
        "Unique id of each well; the groundwater table's well ids.",
        {"parent": "wells", "default": "well_id"},
    ),
    (
        "groundwater",
        "file",
        "Groundwater table",
        "Levels (m) per well, date and aquifer layer: long or wide "
        "table (CSV, GeoPackage, any OGR table) or a DINOloket CSV export.",
        {},
    ),
    (
        "stable_area",
        "source_polygon",
        "Stable area (optional)",
        "Polygons of ground known not to deform: "
        "the error removal fits its surface there. Empty = stable ground found from the data.",
        {"optional": True},
    ),
    (
        "n_components",
        "int",
        "Number of PCA components k (0 = suggest)",
        "Chen et al. 2023 chose 6.",
        {"default": 6, "min": 0, "max": 50},
    ),
    (
        "radius_m",
        "double",
        "Well radius (m)",
        "PS within this distance of a well are sampled (Cao et al.: 300 m).",
        {"default": 300.0, "min": 0.001},
    ),
    (
        "window",
        "int",
        "AM-LSTM window (months)",
        "Months of groundwater levels per simulated month.",
        {"default": 12, "min": 2, "max": 120},
    ),
    (
        "epochs",
        "int",
        "AM-LSTM epochs (at most)",
        "Cao et al.: up to 100, with early stopping.",
        {"default": 100, "min": 1, "max": 10000},
    ),
    ("hidden_size", "int", "AM-LSTM hidden size", "Cao et al.: 16.", {"default": 16, "min": 1, "max": 512}),
]

# child id -> (algorithm, description, {parameter: source}, {model output: (child output, description)})
# a source is ("param", name), ("child", child id, output) or ("static", value)
CHILDREN = [
    (
        "prepare",
        "subsidencelab:preparepsdataset",
        "1 Prepare PS dataset",
        {"INPUT": ("param", "ps_layer"), "DIRECTION": ("param", "direction")},
        {},
    ),
    (
        "pca",
        "subsidencelab:pcadecomposition",
        "2 PCA decomposition (Chen et al. 2023)",
        {"INPUT": ("child", "prepare", "OUTPUT"), "N_COMPONENTS": ("param", "n_components")},
        {
            "pc_maps": ("OUTPUT", "PC maps (S_k W_k, mm)"),
            "components": ("COMPONENTS", "Components table"),
            "temporal": ("TEMPORAL", "Temporal functions T_k"),
            "decomposition": ("DECOMPOSITION", "Decomposition"),
        },
    ),
    (
        "correct",
        "subsidencelab:pcaerrorremoval",
        "3 PCA-based error removal (Chen et al. 2023)",
        {
            "INPUT": ("child", "prepare", "OUTPUT"),
            "DECOMPOSITION": ("child", "pca", "DECOMPOSITION"),
            "STABLE_AREA": ("param", "stable_area"),
        },
        {"corrected": ("OUTPUT", "Corrected PS points")},
    ),
    (
        "sample",
        "subsidencelab:wellbuffersampling",
        "4 Buffer sampling around wells (Cao et al.)",
        {
            "INPUT": ("child", "correct", "OUTPUT"),
            "FEATURES": ("param", "wells"),
            "FEATURE_ID_FIELD": ("param", "well_id_field"),
            "RADIUS_M": ("param", "radius_m"),
            "GROUNDWATER": ("param", "groundwater"),
        },
        {
            "series": ("SERIES", "Well series table"),
            "members": ("MEMBERS", "Member PS points"),
            "well_counts": ("OUTPUT_FEATURES", "Wells with PS counts"),
        },
    ),
    (
        "amlstm",
        "subsidencelab:amlstmsimulation",
        "5 AM-LSTM simulation (Cao et al.)",
        {
            "INPUT": ("child", "sample", "SERIES"),
            "WINDOW": ("param", "window"),
            "EPOCHS": ("param", "epochs"),
            "HIDDEN_SIZE": ("param", "hidden_size"),
        },
        {
            "predictions": ("PREDICTIONS", "AM-LSTM predictions"),
            "metrics": ("METRICS", "AM-LSTM metrics"),
            "attention": ("ATTENTION", "Attention weights"),
            "model_file": ("MODEL", "AM-LSTM model file"),
        },
    ),
]


def _parameter(name, kind, description, options):
    from qgis.core import (
        QgsProcessingParameterEnum,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterFile,
        QgsProcessingParameterNumber,
    )

    from subsidence_lab import compat

    optional = options.get("optional", False)
    if kind.startswith("source_"):
        types = {"source_point": compat.SOURCE_VECTOR_POINT, "source_polygon": compat.SOURCE_VECTOR_POLYGON}
        return QgsProcessingParameterFeatureSource(name, description, [types[kind]], optional=optional)
    if kind == "enum":
        return QgsProcessingParameterEnum(name, description, options["options"], False, options["default"])
    if kind == "field":
        return QgsProcessingParameterField(name, description, options["default"], options["parent"])
    if kind == "file":
        return QgsProcessingParameterFile(name, description, behavior=compat.FILE_BEHAVIOR_FILE)
    number = compat.NUMBER_INTEGER if kind == "int" else compat.NUMBER_DOUBLE
    return QgsProcessingParameterNumber(
        name,
        description,
        number,
        options["default"],
        False,
        options.get("min", -1e300),
        options.get("max", 1e300),
    )


def _source(spec):
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    if spec[0] == "param":
        return Source.fromModelParameter(spec[1])
    if spec[0] == "child":
        return Source.fromChildOutput(spec[1], spec[2])
    return Source.fromStaticValue(spec[1])


def _static_defaults(child, sources):
    """Every other mandatory input of ``child`` at its algorithm's default, as the modeler does."""
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    from subsidence_lab import compat

    algorithm = child.algorithm()
    if algorithm is None:
        raise SystemExit(f"{child.algorithmId()} is not registered: is the provider loaded?")
    for definition in algorithm.parameterDefinitions():
        optional = definition.flags() & compat.PARAMETER_FLAG_OPTIONAL
        if definition.isDestination() or optional or definition.name() in sources:
            continue
        child.addParameterSources(definition.name(), [Source.fromStaticValue(definition.defaultValue())])


def build_model():
    """The pipeline as a QgsProcessingModelAlgorithm (needs the provider registered)."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
    )
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm(MODEL_NAME, "Pipelines", "pipelines")
    help_content = {
        "ALG_DESC": HELP,
        "ALG_CREATOR": "Subsidence Lab",
        "SHORT_DESCRIPTION": "Prepare, PCA, error removal, well buffers and AM-LSTM in one run.",
    }
    for j, (name, kind, description, help_text, options) in enumerate(INPUTS):
        param = _parameter(name, kind, description, options)
        param.setHelp(help_text)
        component = QgsProcessingModelParameter(name)
        component.setPosition(QPointF(120 + 220 * (j % 6), 60 + 70 * (j // 6)))
        model.addModelParameter(param, component)
        help_content[name] = help_text
    for j, (child_id, alg_id, description, sources, outputs) in enumerate(CHILDREN):
        child = QgsProcessingModelChildAlgorithm(alg_id)
        child.setChildId(child_id)
        child.setDescription(description)
        child.setPosition(QPointF(400, 260 + 150 * j))
        for name, spec in sources.items():
            child.addParameterSources(name, [_source(spec)])
        _static_defaults(child, sources)
        model_outputs = {}
        for k, (out_name, (child_output, out_description)) in enumerate(outputs.items()):
            output = QgsProcessingModelOutput(out_name, out_description)
            output.setChildId(child_id)
            output.setChildOutputName(child_output)
            output.setDefaultValue("TEMPORARY_OUTPUT")  # unset = a temporary file, as in the toolbox
            output.setPosition(QPointF(700, 220 + 150 * j + 40 * k))
            model_outputs[out_name] = output
        child.setModelOutputs(model_outputs)
        model.addChildAlgorithm(child)
    model.setHelpContent(help_content)
    return model


def saved_content(model):
    """``model`` as a file holds it (saved and read back: unset texts come back empty), for comparing
    with the committed file; Qt writes the XML attributes in a per-process order, so not as text."""
    from qgis.core import QgsProcessingModelAlgorithm

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.model3")
        if not model.toFile(path):
            raise SystemExit(f"could not write {path}")
        again = QgsProcessingModelAlgorithm()
        again.fromFile(path)
    return comparable(again.toVariant())


def committed_content():
    from qgis.core import QgsProcessingModelAlgorithm

    committed = QgsProcessingModelAlgorithm()
    return comparable(committed.toVariant()) if committed.fromFile(MODEL_PATH) else None


def comparable(content):
    """What the model says, whatever QGIS wrote it: the file format's version and the destination
    parameters derived from the outputs (named <child>:<output> by 3.22, otherwise by 3.40 for the
    models it writes) are left out; children, their sources, outputs, inputs and help stay."""
    content = dict(content)
    content.pop("internal_version", None)
    inputs = set(content.get("parameters", {}))
    definitions = content.get("parameterDefinitions", {})
    content["parameterDefinitions"] = {k: v for k, v in definitions.items() if k in inputs}
    return content


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file only")
    args = parser.parse_args()
    _processing, _app = start_qgis()
    model = build_model()
    ok, problems = model.validate()
    if not ok:
        raise SystemExit("the model is not valid:\n" + "\n".join(problems))
    if args.check:
        same = saved_content(model) == committed_content()
        print("up to date" if same else f"{MODEL_PATH} is stale: run scripts/build_model.py")
        raise SystemExit(0 if same else 1)
    target = MODEL_PATH
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not model.toFile(target):
        raise SystemExit(f"could not write {target}")
    print(target)


if __name__ == "__main__":
    main()
