"""Component lists as users type them ("1,2", "1 2", "3-6"), Qt-free so the docks and the
Processing algorithms read them the same way (METHODS.md section 3)."""

import re
from typing import List, Optional

_TOKEN = re.compile(r"(\d+)(?:-(\d+))?")


def parse_components(text, name: str = "components", k: Optional[int] = None) -> Optional[List[int]]:
    """``"1,2"``, ``"1 2"``, ``"1;2"`` or ``"3-6"`` -> sorted unique 1-based numbers; None when empty.

    Raises ValueError starting with ``name`` for anything else: a token that is not a number or
    a range, a descending range (``6-3``), component 0, or a number above ``k`` when given.
    """
    text = (text or "").strip()
    if not text:
        return None
    numbers = set()
    for token in re.split(r"[,;\s]+", re.sub(r"\s*-\s*", "-", text)):
        if not token:
            continue
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError(
                f"{name}: cannot read {token!r} in {text!r}; give component numbers like 1,2 or 3-5"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f"{name}: {token!r} is a descending range; write {last}-{first}")
        if first < 1:
            raise ValueError(f"{name}: component numbers start at 1, got {token!r}")
        if k is not None and last > k:
            raise ValueError(f"{name}: component {last} asked in {token!r} but there are only {k} components")
        numbers.update(range(first, last + 1))
    return sorted(numbers)


# Errors are random in time: a temporal function this autocorrelated (lag 1) is not the per-date
# randomness of orbit or atmosphere, and is likely deformation being removed.
SMOOTH_LAG1 = 0.5


def smooth_components(diagnostics, components, threshold=SMOOTH_LAG1):
    """``[(component, lag-1 autocorrelation)]`` of the 1-based ``components`` whose temporal
    function is smooth (lag-1 autocorrelation >= ``threshold``); [] without the diagnostic."""
    lag1 = (diagnostics or {}).get("lag1_autocorrelation")
    if lag1 is None:
        return []
    return [(c, float(lag1[c - 1])) for c in components if c <= len(lag1) and lag1[c - 1] >= threshold]
