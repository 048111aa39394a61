"""Acquisition dates stored in field names (METHODS.md section 1).

Real exports keep one attribute per SAR date. Shapes seen in the field: ``D20101122``,
``D_20101122``, ``d20101122``, bare ``20101122`` (EGMS CSV) and ``2010-11-22`` /
``2010_11_22``. Detection works on names only (values are never guessed at), so a ``pid``
column of digits can never be taken for a date, and an 8-digit name only counts when it is a
real calendar date in the SAR era (:data:`YEAR_RANGE`).

A user can always override detection with a *spec*: a comma-separated list of field names,
a prefix (``D_``) or a regular expression (``re:...`` or any pattern with regex characters).
"""

import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

# ERS-1 flew from 1991; nothing after 2100 is an acquisition date in this century's data.
YEAR_RANGE = (1990, 2100)

_DATE_NAME = re.compile(
    r"^(?P<prefix>[A-Za-z][A-Za-z_]*?_?)?"
    r"(?P<year>\d{4})(?P<sep>[-_]?)(?P<month>\d{2})(?P=sep)(?P<day>\d{2})$"
)
_REGEX_CHARS = set("^$*+?[](){}|\\")


def split_date_name(name: str):
    """``(prefix, year, month, day)`` when ``name`` has a date shape, else None.

    The shape is: optional letters/underscore prefix, then ``YYYYMMDD``, ``YYYY-MM-DD`` or
    ``YYYY_MM_DD``. The calendar is not checked here (see :func:`parse_date_name`).
    """
    match = _DATE_NAME.match(name.strip())
    if match is None:
        return None
    return (
        match.group("prefix") or "",
        int(match.group("year")),
        int(match.group("month")),
        int(match.group("day")),
    )


def _calendar_date(year: int, month: int, day: int) -> Optional[np.datetime64]:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    try:
        value = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        return None
    # numpy accepts 2010-02-30 silently? It does not, but guard against roll-over anyway.
    if str(value) != f"{year:04d}-{month:02d}-{day:02d}":
        return None
    return value


def parse_date_name(name: str) -> Optional[np.datetime64]:
    """The date a field name holds (``datetime64[D]``), or None when it holds none.

    Names of date shape whose year is outside :data:`YEAR_RANGE` are not dates (an 8-digit
    code such as ``12345678``); names inside it that are not calendar dates return None too --
    :func:`detect_date_fields` reports those as errors instead of dropping them.
    """
    parts = split_date_name(name)
    if parts is None:
        return None
    _, year, month, day = parts
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        return None
    return _calendar_date(year, month, day)


def _looks_like_regex(spec: str) -> bool:
    return spec.startswith("re:") or any(c in _REGEX_CHARS for c in spec)


def _select_by_spec(field_names: Sequence[str], spec: str) -> List[str]:
    """The field names a user's spec designates, in field order (see module doc)."""
    spec = spec.strip()
    if _looks_like_regex(spec):
        pattern = spec[3:] if spec.startswith("re:") else spec
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"date fields: {pattern!r} is not a valid regular expression ({exc})") from exc
        chosen = [f for f in field_names if regex.fullmatch(f) or regex.match(f)]
        if not chosen:
            raise ValueError(
                f"date fields: pattern {pattern!r} matches none of the fields: {', '.join(field_names)}"
            )
        return chosen
    if "," in spec:
        wanted = [s.strip() for s in spec.split(",") if s.strip()]
        missing = [w for w in wanted if w not in field_names]
        if missing:
            raise ValueError(
                f"date fields: {', '.join(missing)} not found; fields are: {', '.join(field_names)}"
            )
        return wanted
    if spec in field_names and split_date_name(spec) is not None:
        return [spec]
    chosen = [f for f in field_names if f.startswith(spec) and split_date_name(f[len(spec) :]) is not None]
    if not chosen:
        chosen = [f for f in field_names if f.startswith(spec) and f != spec]
    if not chosen:
        raise ValueError(
            f"date fields: no field starts with the prefix {spec!r}; fields are: {', '.join(field_names)}"
        )
    return chosen


def _date_of_chosen_field(name: str, spec: str) -> np.datetime64:
    """The date of a field the user chose explicitly; a clear error when it has none."""
    candidates = [name]
    if spec and not _looks_like_regex(spec) and "," not in spec and name.startswith(spec):
        candidates.append(name[len(spec) :])
    for candidate in candidates:
        parts = split_date_name(candidate)
        if parts is None:
            continue
        _, year, month, day = parts
        value = _calendar_date(year, month, day)
        if value is None:
            raise ValueError(
                f"date field {name!r}: {year:04d}-{month:02d}-{day:02d} is not a valid calendar date"
            )
        return value
    raise ValueError(
        f"date field {name!r}: no date in its name (expected e.g. D20101122, 20101122 or 2010-11-22)"
    )


def detect_date_fields(field_names: Sequence[str], spec: str = "") -> Tuple[List[str], np.ndarray]:
    """Find the date fields among ``field_names`` (METHODS.md section 1).

    Args:
        field_names: all attribute names of the layer, in layer order.
        spec: "" to auto-detect, else a comma list of names, a prefix, or a regex
            (``re:...``).

    Returns:
        ``(names, dates)``: the date fields sorted by date, and their ``datetime64[D]`` dates.

    Raises:
        ValueError: no date field (the message lists the fields seen), two fields with the
            same date, a date-shaped name that is not a calendar date, or several
            different date-field families (e.g. ``D2010...`` and ``V2010...``) when
            auto-detecting.
    """
    field_names = [str(f) for f in field_names]
    if spec and spec.strip():
        names = _select_by_spec(field_names, spec)
        dates = [_date_of_chosen_field(n, spec.strip()) for n in names]
    else:
        families = {}
        impossible = []
        for name in field_names:
            parts = split_date_name(name)
            if parts is None:
                continue
            prefix, year, month, day = parts
            if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
                continue  # an 8-digit code, not a date
            value = _calendar_date(year, month, day)
            if value is None:
                impossible.append((name, f"{year:04d}-{month:02d}-{day:02d}"))
                continue
            families.setdefault(prefix.lower(), []).append((name, value))
        if impossible:
            name, text = impossible[0]
            raise ValueError(
                f"date field {name!r}: {text} is not a valid calendar date "
                "(fix the field name, or list the date fields explicitly)"
            )
        if not families:
            raise ValueError(
                "no date fields found (expected names like D20101122, D_20101122, 20101122 or "
                f"2010-11-22); fields seen: {', '.join(field_names) or '(none)'}"
            )
        ranked = sorted(families.items(), key=lambda kv: -len(kv[1]))
        if len(ranked) > 1 and len(ranked[1][1]) > 1:
            shown = ", ".join(f"{k or '(no prefix)'}: {len(v)} fields" for k, v in ranked)
            raise ValueError(
                f"date fields: several families of date-named fields ({shown}); "
                "say which to use with a prefix, a field list or a pattern"
            )
        names = [n for n, _ in ranked[0][1]]
        dates = [d for _, d in ranked[0][1]]
        # A lone field of another family (e.g. a reference-date attribute) is not part of the
        # series, unless it repeats a date of the series: then the export is ambiguous.
        for _, members in ranked[1:]:
            lone_name, lone_date = members[0]
            if lone_date in dates:
                other = names[dates.index(lone_date)]
                raise ValueError(
                    f"date fields: duplicate date {lone_date} in fields {other!r} and {lone_name!r}"
                )
    dates = np.array(dates, dtype="datetime64[D]")
    order = np.argsort(dates, kind="stable")
    names = [names[i] for i in order]
    dates = dates[order]
    if dates.size > 1:
        same = np.flatnonzero(np.diff(dates).astype(np.int64) == 0)
        if same.size:
            i = same[0]
            raise ValueError(
                f"date fields: duplicate date {dates[i]} in fields {names[i]!r} and {names[i + 1]!r}"
            )
    return names, dates


def matlab_datenum_to_date(datenum) -> np.ndarray:
    """Matlab datenums (days since year 0, as StaMPS writes them) to ``datetime64[D]``."""
    values = np.asarray(datenum, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("Matlab datenum: missing or non-numeric value")
    # datenum 719529 is 1970-01-01.
    return (np.floor(values).astype(np.int64) - 719529).astype("datetime64[D]")


def date_field_name(date, prefix: str = "D") -> str:
    """``D20101122``: the name a date is written under (the most common export shape)."""
    return f"{prefix}{str(np.datetime64(date, 'D')).replace('-', '')}"
