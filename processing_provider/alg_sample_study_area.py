"""subsidencelab:samplestudyarea -- a synthetic study area with known truth ."""

from qgis.core import (
    QgsProcessingMultiStepFeedback,
)

from ..core import synthetic
from . import outputs
from .base import SubsidenceAlgorithm


class SampleStudyAreaAlgorithm(SubsidenceAlgorithm):
    _name = "samplestudyarea"
    _display = "Create sample study area"
    _group_id = "data"
    _group = "Data"
    _help = (
        "Creates a synthetic PS-InSAR study area with known truth, for "
        "demos, tests and for measuring how well the error removal of Chen et al. (2023) and "
        "the AM-LSTM simulation of Cao et al. recover it.\n\n"
        "About 20 km x 20 km in UTM 50N (EPSG:32650), east of Beijing: PS points clustered in "
        "towns, a smooth DEM (0-300 m), incidence 33-36 degrees across range, RADARSAT-2-like "
        "24-day acquisitions with missed scenes. Subsidence bowls (-100 to -150 mm/yr at the "
        "centre) are driven by the heads of their nearest well: delayed inelastic compaction on "
        "new head lows plus elastic seasonal deformation, the chosen dominant layer contributing "
        "most; one small uplift area; large stable areas. Errors added to the line-of-sight "
        "series: per-epoch orbital ramps, seasonal elevation-correlated atmosphere, spatially "
        "correlated turbulent atmosphere, white noise; then a share of the values set missing.\n\n"
        "Inputs: random seed (same seed, same data), number of points, number of dates, share "
        "of missing values, dominant aquifer layer.\n\n"
        "Outputs: PS points (id, height, incidence_angle, one DYYYYMMDD field per date, LOS mm, "
        "negative = towards the ground, NULL = missing); wells (well_id, screen depth per layer); "
        "groundwater table (well_id, date, one column of head in metres per layer, monthly, from "
        "two years before the first scene); truth file (.npz: every truth component, true "
        "velocity, true vertical deformation, stable mask, bowls; read it with "
        "core.synthetic.load_truth)."
    )

    SEED = "SEED"
    N_POINTS = "N_POINTS"
    N_DATES = "N_DATES"
    NAN_FRACTION = "NAN_FRACTION"
    DOMINANT_LAYER = "DOMINANT_LAYER"
    CORE_ERRORS = {
        "seed": "SEED",
        "n_points": "N_POINTS",
        "n_dates": "N_DATES",
        "nan_fraction": "NAN_FRACTION",
        "dominant_layer": "DOMINANT_LAYER",
    }
    OUTPUT_PS = "OUTPUT_PS"
    OUTPUT_WELLS = "OUTPUT_WELLS"
    OUTPUT_GROUNDWATER = "OUTPUT_GROUNDWATER"
    OUTPUT_TRUTH = "OUTPUT_TRUTH"

    def initAlgorithm(self, config=None):
        self.add_number(
            self.SEED, "Random seed", "The same seed always gives the same study area, bit for bit.",
            default=0, minimum=0, integer=True,
        )
        self.add_number(
            self.N_POINTS, "Number of PS points",
            "Number of persistent scatterers; 4000 takes well under a second to create.",
            default=4000, minimum=10, maximum=5000000, integer=True,
        )
        self.add_number(
            self.N_DATES, "Number of acquisition dates",
            "SAR scenes on a 24-day repeat with missed acquisitions; 60 span about 5.5 years.",
            default=60, minimum=3, maximum=2000, integer=True,
        )
        self.add_number(
            self.NAN_FRACTION, "Share of missing values",
            "Share of the values after the first date written as NULL (0 to 0.49); more gaps fall on "
            "a few bad dates and low-coherence points, never a whole point.",
            default=0.02, minimum=0.0, maximum=0.49,
        )
        self.add_choice(
            self.DOMINANT_LAYER, "Aquifer layer that drives subsidence most", synthetic.LAYERS,
            "Cao et al. found the second confined aquifer (confined_2) dominant east of Beijing.",
            default=synthetic.LAYERS.index("confined_2"),
        )
        outputs.add_layer_output(
            self, self.OUTPUT_PS, "PS points",
            "Observed LOS displacement (mm) per date, with height and incidence angle.",
            carry_attributes=False,
        )
        outputs.add_layer_output(
            self, self.OUTPUT_WELLS, "Wells",
            "Observation wells with the screen depth (m below surface) of each aquifer layer.",
            carry_attributes=False,
        )
        outputs.add_table_output(
            self, self.OUTPUT_GROUNDWATER, "Groundwater levels",
            "Table without geometry: well_id, date and the head (m above datum) of each layer, monthly.",
        )
        outputs.add_file_output(
            self, self.OUTPUT_TRUTH, "Truth file", "NumPy archive (*.npz)",
            "The known truth (.npz) to score results against; read with core.synthetic.load_truth.",
        )

    def compute(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(4, feedback)
        layer_index = self.parameterAsEnum(parameters, self.DOMINANT_LAYER, context)
        options = {
            "seed": self.parameterAsInt(parameters, self.SEED, context),
            "n_points": self.parameterAsInt(parameters, self.N_POINTS, context),
            "n_dates": self.parameterAsInt(parameters, self.N_DATES, context),
            "nan_fraction": self.parameterAsDouble(parameters, self.NAN_FRACTION, context),
            "dominant_layer": synthetic.LAYERS[layer_index],
        }
        with self.core_errors():
            area = synthetic.make_study_area(progress=self.progress(steps), **options)
        for bowl in area.bowls:
            steps.pushInfo(
                f"{bowl['kind']} at ({bowl['x']:.0f}, {bowl['y']:.0f}): "
                f"{bowl['rate_mm_per_year']:+.1f} mm/yr "
                f"vertical at the centre, radius {bowl['radius_m']:.0f} m"
                + (f", driven by well {bowl['well_id']}" if bowl["well_id"] else "")
            )
        steps.pushInfo(
            f"{int(area.stable_mask.sum())} of {area.ps.n_points} points stable; dominant layer "
            f"{area.dominant_layer}"
        )

        steps.setCurrentStep(1)
        ps = area.ps
        ps_id = outputs.write_ps(
            self,
            parameters,
            context,
            self.OUTPUT_PS,
            ps,
            fields={"height": ps.z, "incidence_angle": ps.incidence_deg},
            series=ps.displacement_mm,
            series_prefix="D",
            feedback=steps,
        )

        steps.setCurrentStep(2)
        wells_id = self._write_wells(parameters, context, area)
        steps.setProgress(40)
        groundwater_id = self._write_groundwater(parameters, context, area, steps)

        steps.setCurrentStep(3)
        with outputs.atomic_file(self, parameters, context, self.OUTPUT_TRUTH, ".npz") as (tmp, truth_path):
            synthetic.save_truth(area, tmp)
        steps.setProgress(100)
        return {
            self.OUTPUT_PS: ps_id,
            self.OUTPUT_WELLS: wells_id,
            self.OUTPUT_GROUNDWATER: groundwater_id,
            self.OUTPUT_TRUTH: truth_path,
        }

    def _write_wells(self, parameters, context, area):
        table = synthetic.wells_table(area)
        columns = [("well_id", "str", table["well_id"])]
        columns += [(name, "float", table[name]) for name in table if name.startswith("screen_depth_")]
        points = (table["x"], table["y"])
        return outputs.write_table(
            self, parameters, context, self.OUTPUT_WELLS, columns, points=points, crs=area.groundwater.crs
        )

    def _write_groundwater(self, parameters, context, area, feedback):
        table = synthetic.groundwater_wide_table(area)
        columns = [("well_id", "str", table["well_id"]), ("date", "date", table["date"])]
        columns += [(name, "float", table[name]) for name in area.groundwater.layers]
        return outputs.write_table(self, parameters, context, self.OUTPUT_GROUNDWATER, columns)
