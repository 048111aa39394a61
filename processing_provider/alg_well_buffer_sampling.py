"""subsidencelab:wellbuffersampling -- Buffer sampling of PS around wells, lines and polygons."""

import re
from dataclasses import replace

import numpy as np
from qgis.core import (
    QgsFeature,
    QgsFeatureRequest,
    QgsFields,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)

from .. import compat
from ..core.buffer_sampling import STATISTICS, check_feature_ids, sample_buffers
from ..core.feature_geometry import FeatureGeometry, from_ogr, in_metres
from ..core.groundwater_io import read_groundwater
from ..core.monthly import DEFAULT_MAX_GAP_DAYS, align_groundwater, feature_series
from . import outputs
from .base import CAO, CHEN_2023, SubsidenceAlgorithm
from .ps_io import add_ps_input_parameters, read_ps

_EMPTY = FeatureGeometry("point", np.empty((0, 2)), np.empty((0, 4)))


def _crs_text(crs):
    return (crs.authid() or crs.toWkt()) if crs.isValid() else ""


def _gw_field(layer):
    return "gw_" + re.sub(r"\W+", "_", str(layer)).strip("_")


class WellBufferSamplingAlgorithm(SubsidenceAlgorithm):
    _name = "wellbuffersampling"
    _display = "Buffer sampling around wells, lines and polygons"
    _group_id = "groundwater"
    _group = "Groundwater"
    _help_anchor = "buffer-sampling-around-wells-wellbuffersampling"
    _help = (
        "Samples the PS points around each feature, as " + CAO + " do around wells (PS within 300 m, "
        "their mean series) and " + CHEN_2023 + " along subway lines (a 1.5 km buffer). A PS point "
        "belongs to a feature when its exact distance to it is at most the radius: to a well, to the "
        "nearest point of a line, or 0 inside a polygon (no polygonised buffer). Distances are in "
        "metres: a geographic layer is reprojected to a projected CRS (the PS layer's, else the "
        "features', else the UTM zone of the points) and the log says which.\n\n"
        "Inputs: the PS layer (raw, prepared/vertical or corrected: any layer with date fields, in the "
        "unit you state: mm, cm or m, converted to mm); the "
        "features (points, lines or polygons) and their id field (unique); the radius; the statistic "
        "(mean or median); optional inverse-distance weights (1/d², d floored at a tenth of the "
        "radius); monthly resampling (linear in time, never across a gap longer than the limit); "
        "optionally a groundwater table (long: well_id, date, layer, level; wide: one column per "
        "layer; or a DINOloket CSV export) whose well ids are the feature ids.\n\n"
        "Outputs: a series table (feature_id, date YYYY-MM-DD, value_mm = the statistic, median_mm, "
        "std_mm, count, increment_mm = the monthly deformation (change since the previous month; "
        "since the previous date without monthly resampling), gw_<layer> in metres per "
        "groundwater layer); the member PS points (id, feature_id, distance_m, the date fields); "
        "the features with feature_id, ps_count and mean_velocity_mm_per_year. A feature without "
        "PS in the radius gets count 0 and is named in the log. The series table is what the "
        "AM-LSTM simulation learns from."
    )
    CORE_ERRORS = {"radius_m": "RADIUS_M", "statistic": "STATISTIC", "max_gap_days": "MAX_GAP_DAYS"}

    INPUT = "INPUT"
    FEATURES = "FEATURES"
    FEATURE_ID_FIELD = "FEATURE_ID_FIELD"
    RADIUS_M = "RADIUS_M"
    STATISTIC = "STATISTIC"
    IDW = "IDW"
    MONTHLY = "MONTHLY"
    MAX_GAP_DAYS = "MAX_GAP_DAYS"
    GROUNDWATER = "GROUNDWATER"
    SERIES = "SERIES"
    MEMBERS = "MEMBERS"
    OUTPUT_FEATURES = "OUTPUT_FEATURES"

    def initAlgorithm(self, config=None):
        add_ps_input_parameters(self, self.INPUT, optional_fields=())
        self.add(
            QgsProcessingParameterFeatureSource(
                self.FEATURES, self.tr("Wells, lines or polygons"), [compat.SOURCE_VECTOR_ANY_GEOMETRY]
            ),
            "The features to sample around: wells (points), lines (e.g. subway lines) or polygons.",
        )
        self.add(
            QgsProcessingParameterField(
                self.FEATURE_ID_FIELD, self.tr("Feature id field"), parentLayerParameterName=self.FEATURES
            ),
            "Unique id of each feature (the well id of the groundwater table, when one is given).",
        )
        self.add(
            QgsProcessingParameterNumber(
                self.RADIUS_M,
                self.tr("Radius (m)"),
                type=compat.NUMBER_DOUBLE,
                minValue=0.001,
                defaultValue=300.0,
            ),
            "PS within this distance of a feature are its members. Cao et al.: 300 m around wells; "
            "Chen et al. 2023: 1.5 km around subway lines.",
        )
        self.add(
            QgsProcessingParameterEnum(
                self.STATISTIC, self.tr("Statistic"), options=list(STATISTICS), defaultValue=0
            ),
            "value_mm is the mean or the median of the members at each date (both are written).",
        )
        self.add(
            QgsProcessingParameterBoolean(
                self.IDW, self.tr("Inverse-distance weighting"), defaultValue=False
            ),
            "Weight members by 1/d² (d floored at a tenth of the radius); applies to mean, median, "
            "spread and mean velocity.",
        )
        self.add(
            QgsProcessingParameterBoolean(self.MONTHLY, self.tr("Resample to months"), defaultValue=True),
            "Series on the first of each month (linear interpolation), as groundwater records are "
            "monthly; increment_mm is then the monthly deformation.",
        )
        self.add(
            QgsProcessingParameterNumber(
                self.MAX_GAP_DAYS,
                self.tr("Longest gap to interpolate across (days)"),
                type=compat.NUMBER_DOUBLE,
                minValue=1.0,
                defaultValue=DEFAULT_MAX_GAP_DAYS,
            ),
            "A month between two acquisitions further apart than this stays empty (NULL).",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterFile(
                self.GROUNDWATER,
                self.tr("Groundwater table (optional)"),
                behavior=compat.FILE_BEHAVIOR_FILE,
                optional=True,
            ),
            "Long (well_id, date, layer, level) or wide (well_id, date, one column per layer) table in "
            "metres (CSV, GeoPackage, any OGR table), or a DINOloket CSV export. Levels are averaged to "
            "months and written as gw_<layer> next to the series; the log lists overlapping months.",
        )
        self.add(
            QgsProcessingParameterFeatureSink(self.SERIES, self.tr("Series table"), compat.SOURCE_VECTOR),
            "feature_id, date, value_mm, median_mm, std_mm, count, increment_mm, gw_<layer>.",
        )
        outputs.add_layer_output(
            self, self.MEMBERS, "Member PS points", "PS id, feature_id, distance_m and the date fields."
        )
        self.add(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT_FEATURES, self.tr("Features with counts"), compat.SOURCE_VECTOR_ANY_GEOMETRY
            ),
            "The input features with feature_id, ps_count and mean_velocity_mm_per_year.",
        )

    def _read_features(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, self.FEATURES, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.FEATURES))
        field = self.parameterAsString(parameters, self.FEATURE_ID_FIELD, context)
        index = source.fields().lookupField(field)
        if index < 0:
            raise QgsProcessingException(f"{self.FEATURE_ID_FIELD}: no field {field!r} in the features layer")
        features = list(source.getFeatures(QgsFeatureRequest()))
        if not features:
            raise QgsProcessingException(f"{self.FEATURES}: the layer has no features (empty layer)")
        values = [feature.attribute(index) for feature in features]
        values = [None if v is None or (hasattr(v, "isNull") and v.isNull()) else v for v in values]
        # Integer ids read as floats (1.0) would not match a table's "1".
        values = [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
        try:
            ids = check_feature_ids(values)
        except ValueError as exc:
            raise QgsProcessingException(f"{self.FEATURE_ID_FIELD}: field {field!r}: {exc}") from exc
        geometries = []
        for feature, fid in zip(features, ids):
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                geometries.append(_EMPTY)
                continue
            try:
                geometries.append(from_ogr(bytes(geometry.asWkb())))
            except ValueError as exc:
                raise QgsProcessingException(f"{self.FEATURES}: feature {fid}: {exc}") from exc
        feedback.pushInfo(
            f"{self.FEATURES}: {len(features)} features, CRS {_crs_text(source.sourceCrs()) or 'unknown'}"
        )
        return source, features, ids, geometries

    def compute(self, parameters, context, feedback):
        ps = read_ps(self, parameters, context, feedback, self.INPUT, require_projected=False)
        source, features, ids, geometries = self._read_features(parameters, context, feedback)
        with self.core_errors(self.INPUT):
            x, y, geometries, crs, note = in_metres(
                ps.x, ps.y, ps.crs, geometries, _crs_text(source.sourceCrs())
            )
        if note:
            feedback.pushInfo(note[0].upper() + note[1:] + ".")
        radius = self.parameterAsDouble(parameters, self.RADIUS_M, context)
        statistic = STATISTICS[self.parameterAsEnum(parameters, self.STATISTIC, context)]
        monthly = self.parameterAsBoolean(parameters, self.MONTHLY, context)
        sampling = sample_buffers(
            x,
            y,
            ps.displacement_mm,
            ps.dates,
            geometries,
            ids,
            radius,
            statistic=statistic,
            idw=self.parameterAsBoolean(parameters, self.IDW, context),
            progress=self.progress(feedback, 20, 70),
        )
        for line in sampling.notes:
            feedback.pushWarning(line)
        feedback.pushInfo(
            f"{sampling.member_ps.size} memberships of {np.unique(sampling.member_ps).size} PS points; "
            f"members per feature: median {np.median(sampling.ps_count):g}, max {sampling.ps_count.max()}."
        )
        series = feature_series(
            sampling, monthly, self.parameterAsDouble(parameters, self.MAX_GAP_DAYS, context)
        )
        gw_columns = self._groundwater(parameters, context, feedback, ids, series)
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user.")
        feedback.setProgress(75)
        return {
            self.SERIES: self._write_series(parameters, context, ids, series, gw_columns),
            self.MEMBERS: self._write_members(parameters, context, feedback, ps, x, y, crs, sampling),
            self.OUTPUT_FEATURES: self._write_features(parameters, context, source, features, sampling),
        }

    def _groundwater(self, parameters, context, feedback, ids, series):
        path = self.parameterAsFile(parameters, self.GROUNDWATER, context)
        if not path:
            return []
        try:
            records = read_groundwater(path)
            months = series.dates.astype("datetime64[M]").astype("datetime64[D]")
            alignment = align_groundwater(ids, months, series.value_mm, records)
        except ValueError as exc:
            raise QgsProcessingException(f"{self.GROUNDWATER}: {exc}") from exc
        if not series.monthly:
            feedback.pushInfo("Without monthly resampling each date gets the level of its calendar month.")
        for line in alignment.notes:
            feedback.pushInfo(line)
        return [
            (_gw_field(layer), alignment.levels_m[:, j, :].reshape(-1))
            for j, layer in enumerate(alignment.layers)
        ]

    def _write_series(self, parameters, context, ids, series, gw_columns):
        f, k = series.value_mm.shape
        columns = [
            ("feature_id", "str", np.repeat(ids, k)),
            ("date", "str", np.tile(series.dates.astype(str), f)),
            ("value_mm", "float", series.value_mm.reshape(-1)),
            ("median_mm", "float", series.median_mm.reshape(-1)),
            ("std_mm", "float", series.std_mm.reshape(-1)),
            ("count", "int", series.count.reshape(-1)),
            ("increment_mm", "float", series.increment_mm.reshape(-1)),
        ]
        columns += [(name, "float", values) for name, values in gw_columns]
        return outputs.write_table(self, parameters, context, self.SERIES, columns)

    def _write_members(self, parameters, context, feedback, ps, x, y, crs, sampling):
        members = replace(ps, x=x, y=y, crs=crs).subset(sampling.member_ps)
        fields = {
            "feature_id": sampling.feature_ids[sampling.member_feature],
            "distance_m": sampling.member_distance_m,
        }
        return outputs.write_ps(
            self, parameters, context, self.MEMBERS, members, fields=fields, series=members.displacement_mm
        )

    def _write_features(self, parameters, context, source, features, sampling):
        added = ("feature_id", "ps_count", "mean_velocity_mm_per_year")
        fields = QgsFields(source.fields())
        for name, kind in zip(added, ("str", "int64", "float")):
            if fields.lookupField(name) < 0:
                fields.append(compat.field(name, kind))
        positions = [fields.lookupField(name) for name in added]
        sink, dest = self.parameterAsSink(
            parameters, self.OUTPUT_FEATURES, context, fields, source.wkbType(), source.sourceCrs()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT_FEATURES))
        velocity = outputs.python_values(sampling.mean_velocity_mm_per_year, "float")
        for i, feature in enumerate(features):
            out = QgsFeature(fields)
            out.setGeometry(feature.geometry())
            values = list(feature.attributes()) + [None] * (fields.count() - len(feature.attributes()))
            for position, value in zip(
                positions, (str(sampling.feature_ids[i]), int(sampling.ps_count[i]), velocity[i])
            ):
                values[position] = value
            out.setAttributes(values)
            if not sink.addFeature(out, compat.SINK_FAST_INSERT):
                raise QgsProcessingException(f"{self.OUTPUT_FEATURES}: writing failed: {sink.lastError()}")
        return dest
