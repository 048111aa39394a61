"""subsidencelab:validatebenchmarks -- compare PS series with GNSS / levelling benchmarks ."""

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
)

from .. import compat
from ..core.dates import detect_date_fields
from ..core.validation import compare_with_benchmarks, stable_area_rms
from . import inputs, outputs
from .base import CHEN_2023, SubsidenceAlgorithm
from .ps_io import add_ps_input_parameters, read_ps


class ValidateBenchmarksAlgorithm(SubsidenceAlgorithm):
    _name = "validatebenchmarks"
    _display = "Validate against benchmarks (GNSS / levelling)"
    _group_id = "insar"
    _group = "InSAR time series"
    _help = (
        "Compares PS displacement series with benchmark stations (GNSS or levelling), as " + CHEN_2023 + " "
        "(section 4.1, Table 2) do, and reports the RMS of the series in a "
        "stable area.\n\n"
        "Inputs: the PS layer; the stations (points) with an id field; their series either as a "
        "long table (station id, date, value in mm) or as date-named fields of the station layer "
        "(e.g. D20190625); nearest PS or the mean of the PS within a radius; optionally a stable "
        "area (polygons or a 0/1 field of the PS layer).\n\n"
        "Method: the PS series is interpolated linearly in time to the station dates inside the "
        "PS date span; both are referenced to their first common date (its value subtracted), "
        "which is then left out of the statistics. Per station and pooled: RMSE of PS - station, "
        "Pearson correlation, mean difference, number of pairs. RMS in the stable area: over its "
        "points and dates, of the series itself (no deformation there). Both must be in the same "
        "direction (LOS or vertical) and units (mm).\n\n"
        "Output: a table with one row per station and a last row 'ALL' (pooled), plus the pooled "
        "figures and the stable-area RMS as outputs."
    )

    INPUT = "INPUT"
    STATIONS = "STATIONS"
    STATION_ID_FIELD = "STATION_ID_FIELD"
    STATION_DATE_FIELDS = "STATION_DATE_FIELDS"
    SERIES_TABLE = "SERIES_TABLE"
    SERIES_STATION_FIELD = "SERIES_STATION_FIELD"
    SERIES_DATE_FIELD = "SERIES_DATE_FIELD"
    SERIES_VALUE_FIELD = "SERIES_VALUE_FIELD"
    MODE = "MODE"
    RADIUS_M = "RADIUS_M"
    STABLE_AREA = "STABLE_AREA"
    STABLE_FIELD = "STABLE_FIELD"
    OUTPUT = "OUTPUT"
    RMSE_MM = "RMSE_MM"
    CORRELATION = "CORRELATION"
    MEAN_DIFFERENCE_MM = "MEAN_DIFFERENCE_MM"
    STABLE_RMS_MM = "STABLE_RMS_MM"
    MODES = ("nearest", "radius")
    CORE_ERRORS = {"radius_m": RADIUS_M, "mode": MODE}

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=())
        self.add(
            QgsProcessingParameterFeatureSource(
                self.STATIONS, self.tr("Benchmark stations (points)"), [compat.SOURCE_VECTOR_POINT]
            ),
            "GNSS or levelling points; reprojected to the PS layer's CRS when needed.",
        )
        self.add_field(
            self.STATION_ID_FIELD,
            "Station id field",
            self.STATIONS,
            "Identifies each station (and links it to the series table).",
            optional=False,
        )
        self.add_text(
            self.STATION_DATE_FIELDS,
            "Station date fields (without a series table; empty = detect)",
            "When the series are fields of the station layer: empty = detect names like D20190625; "
            "else a comma list, a prefix or re:regex (as for the PS layer).",
        )
        self.add(
            QgsProcessingParameterFeatureSource(
                self.SERIES_TABLE,
                self.tr("Station series table (long)"),
                [compat.SOURCE_VECTOR],
                optional=True,
            ),
            "One row per station and date: station id, date, value (mm).",
        )
        for name, label, help_text in (
            (self.SERIES_STATION_FIELD, "Series table: station id field", "Station id of each row."),
            (self.SERIES_DATE_FIELD, "Series table: date field", "Date (date type, YYYY-MM-DD or YYYYMMDD)."),
            (self.SERIES_VALUE_FIELD, "Series table: value field (mm)", "Displacement in mm, any reference."),
        ):
            self.add_field(name, label, self.SERIES_TABLE, help_text)
        self.add_choice(
            self.MODE,
            "PS series at a station",
            ("Nearest PS point", "Mean of the PS within the radius"),
            "Nearest PS, or the mean series of all PS within the radius.",
        )
        self.add_number(
            self.RADIUS_M,
            "Radius (m)",
            "Search radius in metres: in nearest mode the nearest PS must lie within it (a station farther "
            "from every PS is not compared); in mean mode every PS within it is averaged.",
            default=100.0,
            minimum=0.0,
        )
        inputs.add_stable_area_parameters(
            self,
            self.STABLE_AREA,
            self.STABLE_FIELD,
            "Polygons of non-deforming ground: the RMS of the series there is reported.",
            "A 0/1 field of the PS layer marking stable points.",
        )
        outputs.add_table_output(
            self,
            self.OUTPUT,
            "Validation table",
            "station_id, n_ps, distance_m, n_pairs, rmse_mm, correlation, mean_difference_mm.",
        )
        for name, label in (
            (self.RMSE_MM, "Pooled RMSE (mm)"),
            (self.CORRELATION, "Pooled correlation"),
            (self.MEAN_DIFFERENCE_MM, "Pooled mean difference PS - station (mm)"),
            (self.STABLE_RMS_MM, "RMS in the stable area (mm)"),
        ):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    # --- stations -----------------------------------------------------------------------------

    def _stations(self, parameters, context, ps, feedback):
        source = self.parameterAsSource(parameters, self.STATIONS, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.STATIONS))
        if source.wkbType() in (compat.WKB_NO_GEOMETRY, compat.WKB_UNKNOWN):
            raise QgsProcessingException(
                f"{self.STATIONS}: the layer has no point geometry "
                f"(fields {', '.join(source.fields().names()[:6])}...): give the station points (a point "
                f"layer with a station id) as {self.STATIONS}; a table of station series goes to "
                f"{self.SERIES_TABLE} with {self.SERIES_STATION_FIELD}, "
                f"{self.SERIES_DATE_FIELD} and {self.SERIES_VALUE_FIELD}"
            )
        id_field = self.parameterAsString(parameters, self.STATION_ID_FIELD, context)
        id_index = source.fields().lookupField(id_field)
        if id_index < 0:
            raise QgsProcessingException(f"{self.STATION_ID_FIELD}: no field {id_field!r} in the stations")
        target = QgsCoordinateReferenceSystem(ps.crs) if ps.crs else source.sourceCrs()
        transform = None
        if source.sourceCrs().isValid() and target.isValid() and source.sourceCrs() != target:
            transform = QgsCoordinateTransform(source.sourceCrs(), target, context.transformContext())
        table = self.parameterAsSource(parameters, self.SERIES_TABLE, context)
        date_names = dates = None
        if table is None:
            spec = self.parameterAsString(parameters, self.STATION_DATE_FIELDS, context)
            try:
                date_names, dates = detect_date_fields(source.fields().names(), spec)
            except ValueError as exc:
                raise QgsProcessingException(
                    f"{self.STATION_DATE_FIELDS}: {exc} (or give a {self.SERIES_TABLE})"
                ) from exc
        stations = {}
        for feature in source.getFeatures():
            geom = feature.geometry()
            if geom.isNull() or geom.isEmpty():
                feedback.pushWarning(
                    f"{self.STATIONS}: station {feature.attribute(id_index)!r} has no geometry, left out"
                )
                continue
            if transform is not None:
                geom.transform(transform)
            point = geom.asPoint() if not geom.isMultipart() else geom.asMultiPoint()[0]
            key = str(feature.attribute(id_index))
            if key in stations:
                raise QgsProcessingException(f"{self.STATION_ID_FIELD}: station id {key!r} appears twice")
            station = {"id": key, "x": point.x(), "y": point.y()}
            if date_names is not None:
                station["dates"] = dates
                station["values_mm"] = np.array(
                    [
                        inputs.attribute_float(feature.attribute(n), self.STATIONS, unit="mm")
                        for n in date_names
                    ],
                    dtype=np.float64,
                )
            stations[key] = station
        if not stations:
            raise QgsProcessingException(f"{self.STATIONS}: the layer has no station point")
        if table is not None:
            self._attach_table(parameters, context, table, stations)
        return list(stations.values())

    def _attach_table(self, parameters, context, table, stations):
        names = {}
        for param in (self.SERIES_STATION_FIELD, self.SERIES_DATE_FIELD, self.SERIES_VALUE_FIELD):
            name = self.parameterAsString(parameters, param, context)
            index = table.fields().lookupField(name) if name else -1
            if index < 0:
                raise QgsProcessingException(f"{param}: choose a field of the {self.SERIES_TABLE}")
            names[param] = index
        rows = {}
        for feature in table.getFeatures():
            key = str(feature.attribute(names[self.SERIES_STATION_FIELD]))
            date_value = feature.attribute(names[self.SERIES_DATE_FIELD])
            if inputs.is_null(date_value):
                continue
            date = inputs.attribute_date(date_value, self.SERIES_DATE_FIELD)
            value = inputs.attribute_float(
                feature.attribute(names[self.SERIES_VALUE_FIELD]), self.SERIES_VALUE_FIELD, unit="mm"
            )
            rows.setdefault(key, {})[date] = value
        unknown = sorted(set(rows) - set(stations))
        if unknown:
            raise QgsProcessingException(
                f"{self.SERIES_STATION_FIELD}: station id(s) {unknown[:5]} of the table are not stations"
            )
        for key, station in stations.items():
            series = rows.get(key, {})
            dates = sorted(series)
            station["dates"] = np.array(dates, dtype="datetime64[D]")
            station["values_mm"] = np.array([series[d] for d in dates], dtype=np.float64)

    # --- run ------------------------------------------------------------------------------------

    def compute(self, parameters, context, feedback):
        steps = QgsProcessingMultiStepFeedback(3, feedback)
        ps = read_ps(self, parameters, context, steps, input_name=self.INPUT)
        steps.setCurrentStep(1)
        stations = self._stations(parameters, context, ps, feedback)
        mode = self.MODES[self.parameterAsEnum(parameters, self.MODE, context)]
        radius = self.parameterAsDouble(parameters, self.RADIUS_M, context)
        with self.core_errors(default=self.STATIONS):
            report = compare_with_benchmarks(
                ps.x, ps.y, ps.dates, ps.displacement_mm, stations, mode=mode, radius_m=radius,
                max_distance_m=radius,
            )  # fmt: skip
        if report.n_pairs == 0:
            why = "; ".join(
                f"{s.station_id}: "
                + (f"nearest PS {s.distance_m:.0f} m away" if s.n_ps == 0 else "no common dates")
                for s in report.stations[:5]
            )
            raise QgsProcessingException(
                f"{self.STATIONS}: no station could be compared ({why}). Check that the stations lie "
                f"among the PS points (same CRS) within {self.RADIUS_M} = {radius:g} m and that their "
                "dates overlap the PS dates."
            )
        mask = inputs.stable_mask(
            self, parameters, context, ps, feedback, self.STABLE_AREA, self.STABLE_FIELD
        )
        stable_rms = float("nan") if mask is None else stable_area_rms(ps.displacement_mm, mask)

        steps.setCurrentStep(2)
        for s in report.stations:
            if s.n_pairs == 0:
                feedback.pushWarning(f"Station {s.station_id}: no PS or no common dates, not compared.")
            else:
                feedback.pushInfo(
                    f"Station {s.station_id}: {s.n_pairs} dates, RMSE {s.rmse_mm:.2f} mm, "
                    f"r {s.correlation:.3f}, mean difference {s.mean_difference_mm:.2f} mm"
                )
        rows = [
            (
                str(s.station_id),
                s.n_ps,
                s.distance_m,
                s.n_pairs,
                s.rmse_mm,
                s.correlation,
                s.mean_difference_mm,
            )
            for s in report.stations
        ]
        rows.append(
            (
                "ALL",
                sum(s.n_ps for s in report.stations),
                np.nan,
                report.n_pairs,
                report.rmse_mm,
                report.correlation,
                report.mean_difference_mm,
            )
        )
        names = (
            "station_id",
            "n_ps",
            "distance_m",
            "n_pairs",
            "rmse_mm",
            "correlation",
            "mean_difference_mm",
        )
        kinds = ("str", "int", "float", "int", "float", "float", "float")
        columns = [(name, kind, [row[i] for row in rows]) for i, (name, kind) in enumerate(zip(names, kinds))]
        dest = outputs.write_table(self, parameters, context, self.OUTPUT, columns)
        if mask is not None:
            feedback.pushInfo(f"RMS in the stable area ({int(mask.sum())} points): {stable_rms:.3f} mm.")
        return {
            self.OUTPUT: dest,
            self.RMSE_MM: report.rmse_mm,
            self.CORRELATION: report.correlation,
            self.MEAN_DIFFERENCE_MM: report.mean_difference_mm,
            self.STABLE_RMS_MM: stable_rms,
        }
