"""Names real PS exports give their per-point fields, in order of preference (METHODS.md section 1).

Matching is case-insensitive and on the whole name. The first candidate present wins, so the
order below is the documented preference:

* **elevation** (metres): ``height`` (our own output, many exports), ``height_ortho`` (EGMS
  L2/L3, orthometric), ``height_ellipse`` (EGMS, ellipsoidal), ``elevation``, ``elev``,
  ``topo`` (SARscape ``Topo``), ``hgt`` (ISCE/StaMPS), ``dem``, ``z``, ``h``, ``height_m``.
  Orthometric comes before ellipsoidal height: both differ by the geoid undulation, nearly
  constant over a study area, so either serves the elevation terms; the orthometric one is
  the one a DEM gives.
* **incidence angle** (degrees): ``incidence_angle`` (EGMS) and the usual short forms.
* **LOS unit vector, up component** (``D_vertical = D_LOS / up``): ``los_up`` (EGMS),
  ``cosU`` (SARscape, the cosine of the LOS to the vertical), ``cos_u``, ``los_u``, ``u_los``,
  ``losup``, ``up``.
* **mean velocity** written by the producer (used only to check the unit of the series):
  ``mean_velocity`` (EGMS), ``velocity``, ``vel`` (SARscape ``VEL``), ``vel_los``, ``v_los``,
  ``mean_vel``, ``vlos``, ``velocity_mm_per_year`` (ours).
"""

from typing import Optional, Sequence

Z_FIELD_CANDIDATES = (
    "height",
    "height_ortho",
    "height_ellipse",
    "elevation",
    "elev",
    "topo",
    "hgt",
    "dem",
    "z",
    "h",
    "height_m",
)
INCIDENCE_FIELD_CANDIDATES = (
    "incidence_angle",
    "incidence_",  # incidence_angle truncated by the Shapefile 10-character limit
    "incidence",
    "inc_angle",
    "incidence_deg",
    "theta",
    "los_inc",
)
LOS_UP_FIELD_CANDIDATES = ("los_up", "cosu", "cos_u", "los_u", "u_los", "losup", "up")
VELOCITY_FIELD_CANDIDATES = (
    "mean_velocity",
    "velocity",
    "vel",
    "vel_los",
    "v_los",
    "mean_vel",
    "vlos",
    "velocity_mm_per_year",
)


def find_field(field_names: Sequence[str], candidates: Sequence[str]) -> Optional[str]:
    """The first of ``candidates`` among ``field_names`` (case-insensitive), as the layer spells it."""
    lowered = {}
    for name in field_names:
        lowered.setdefault(name.lower(), name)
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None
