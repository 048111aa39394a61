"""Output layers are styled red (down) to blue (up) on a scale symmetric about zero when loaded."""

import numpy as np
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from subsidence_lab import compat


def _layer(values):
    layer = QgsVectorLayer("Point?crs=EPSG:32650", "ps", "memory")
    layer.dataProvider().addAttributes([compat.field("velocity_mm_per_year", "float")])
    layer.updateFields()
    feats = []
    for i, v in enumerate(values):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(450000 + i, 4420000)))
        f.setAttributes([float(v)])
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def test_diverging_renderer_is_symmetric_and_red_for_subsidence(qgis_app):
    from subsidence_lab.processing_provider.styling import diverging_renderer

    renderer = diverging_renderer("velocity_mm_per_year", 40.0, "mm/yr")
    ranges = renderer.ranges()
    assert len(ranges) == 10
    inner = [(r.lowerValue(), r.upperValue()) for r in ranges[1:-1]]
    assert inner[0][0] == -32.0 and inner[-1][1] == 32.0
    assert ranges[0].lowerValue() < -1e9 and ranges[-1].upperValue() > 1e9  # open-ended outer classes
    low, high = ranges[0].symbol().color(), ranges[-1].symbol().color()
    assert low.red() > low.blue() and high.blue() > high.red()
    assert "mm/yr" in ranges[0].label()


def test_style_on_completion_styles_the_loaded_layer_and_skips_unloaded_outputs(qgis_app):
    from subsidence_lab.processing_provider.styling import style_on_completion, symmetric_limit

    values = np.r_[np.linspace(-100, 5, 200), np.nan]
    layer = _layer(values)
    context = QgsProcessingContext()
    style_on_completion(context, "not-loaded", "velocity_mm_per_year", values)  # no error, no effect
    context.addLayerToLoadOnCompletion(
        layer.id(), QgsProcessingContext.LayerDetails("ps", QgsProject.instance(), "OUTPUT")
    )
    style_on_completion(context, layer.id(), "velocity_mm_per_year", values, "mm/yr")
    post = context.layerToLoadOnCompletionDetails(layer.id()).postProcessor()
    assert post is not None
    post.postProcessLayer(layer, context, QgsProcessingFeedback())
    renderer = layer.renderer()
    assert renderer.type() == "graduatedSymbol" and renderer.classAttribute() == "velocity_mm_per_year"
    limit = symmetric_limit(values)
    assert abs(limit - np.nanpercentile(np.abs(values), 98)) < 1e-9
    assert abs(renderer.ranges()[-1].lowerValue() - 0.8 * limit) < 1e-9


def test_error_removal_output_is_styled_by_velocity_when_loaded_into_the_project(provider, tmp_path):
    """As in the desktop: run and load the result; the layer arrives coloured by velocity."""
    import processing

    from subsidence_lab.core.synthetic import make_study_area

    area = make_study_area(seed=4, n_points=600, n_dates=30)
    from subsidence_lab.core.ps_io import write_ps_file

    src = str(tmp_path / "ps.gpkg")
    write_ps_file(src, area.ps, series=area.ps.displacement_mm)
    QgsProject.instance().clear()
    result = processing.runAndLoadResults(
        "subsidencelab:pcaerrorremoval", {"INPUT": src, "POLYNOMIAL": 2, "OUTPUT": str(tmp_path / "out.gpkg")}
    )
    layers = QgsProject.instance().mapLayers().values()
    loaded = [lyr for lyr in layers if lyr.source().startswith(result["OUTPUT"])]
    assert len(loaded) == 1
    renderer = loaded[0].renderer()
    assert renderer.type() == "graduatedSymbol" and renderer.classAttribute() == "velocity_mm_per_year"
    assert len(renderer.ranges()) == 10
    QgsProject.instance().clear()
