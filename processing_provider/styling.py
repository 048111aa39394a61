"""Style output layers when Processing loads them: diverging colours on a signed field.

Subsidence maps are read red = moving down, blue = up, white = stable, with a scale symmetric
about zero; the limits come from the data (98th percentile of |value|), so a 2 mm/yr stable
area and a 150 mm/yr bowl both get a readable map.
"""

import numpy as np
from qgis.core import (
    QgsGraduatedSymbolRenderer,
    QgsMarkerSymbol,
    QgsProcessingLayerPostProcessorInterface,
    QgsRendererRange,
    QgsStyle,
    QgsVectorLayer,
)

N_CLASSES = 10
# Processing keeps only a pointer to a post-processor: Python must keep the object alive.
_KEEP_ALIVE = {}


def symmetric_limit(values, percentile=98.0):
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 1.0
    return float(np.percentile(finite, percentile)) or 1.0


def diverging_renderer(field, limit, unit="", n_classes=N_CLASSES):
    """Graduated renderer on ``field``: ``n_classes`` equal classes over [-limit, limit],
    the outer two open-ended, coloured with the RdBu ramp (red = negative, blue = positive)."""
    edges = np.linspace(-limit, limit, n_classes + 1)
    decimals = 0 if limit >= 20 else (1 if limit >= 2 else 2)
    renderer = QgsGraduatedSymbolRenderer(field)
    base = QgsMarkerSymbol.createSimple({"name": "circle", "size": "1.6", "outline_style": "no"})
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        lower = -1e12 if i == 0 else lo
        upper = 1e12 if i == n_classes - 1 else hi
        if i == 0:
            label = f"< {hi:.{decimals}f} {unit}"
        elif i == n_classes - 1:
            label = f"> {lo:.{decimals}f} {unit}"
        else:
            label = f"{lo:.{decimals}f} to {hi:.{decimals}f} {unit}"
        renderer.addClassRange(QgsRendererRange(lower, upper, base.clone(), label.strip()))
    ramp = QgsStyle.defaultStyle().colorRamp("RdBu")
    if ramp is not None:
        renderer.updateColorRamp(ramp)
    return renderer


class _DivergingStyle(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, field, limit, unit):
        super().__init__()
        self.field, self.limit, self.unit = field, limit, unit

    def postProcessLayer(self, layer, context, feedback):
        if isinstance(layer, QgsVectorLayer) and layer.fields().indexOf(self.field) >= 0:
            layer.setRenderer(diverging_renderer(self.field, self.limit, self.unit))
            layer.triggerRepaint()


def style_on_completion(context, dest_id, field, values, unit=""):
    """Ask Processing to style output ``dest_id`` by ``field`` when it loads it into the project.

    Does nothing when the output is not loaded (qgis_process, a model's intermediate step).
    """
    if not dest_id or not context.willLoadLayerOnCompletion(dest_id):
        return
    post = _DivergingStyle(field, symmetric_limit(values), unit)
    _KEEP_ALIVE[dest_id] = post
    context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(post)
