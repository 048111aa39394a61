"""Desktop UI: dock widgets, the PS-point map tool and plots (Qt via qgis.PyQt only)."""
