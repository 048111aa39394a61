"""Layer styles shared by the Processing outputs and the docks (qgis.core only, no Qt widgets).

Subsidence maps are read red = moving down, blue = up, white = stable, with a scale symmetric
about zero (limits from :func:`core.scales.symmetric_limit`).
"""

import numpy as np
from qgis.core import QgsGraduatedSymbolRenderer, QgsMarkerSymbol, QgsRendererRange, QgsStyle

from .core.scales import symmetric_limit

N_CLASSES = 10

__all__ = ["N_CLASSES", "diverging_renderer", "symmetric_limit"]


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
