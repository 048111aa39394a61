"""Style output layers when Processing loads them: diverging colours on a signed field.

The renderer itself lives in ``symbology.py`` (shared with the docks).
"""

from qgis.core import QgsProcessingLayerPostProcessorInterface, QgsVectorLayer

from ..symbology import diverging_renderer, symmetric_limit

__all__ = ["diverging_renderer", "style_on_completion", "symmetric_limit"]

# Processing keeps only a pointer to a post-processor: Python must keep the object alive.
_KEEP_ALIVE = {}


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
