"""Date-field detection (METHODS.md section 1): the shapes real exports use, and false positives."""

import numpy as np
import pytest

from subsidence_lab.core.dates import (
    date_field_name,
    detect_date_fields,
    matlab_datenum_to_date,
    parse_date_name,
)


@pytest.mark.parametrize(
    "names",
    [
        ["D20101122", "D20101216", "D20110109"],
        ["D_20101122", "D_20101216", "D_20110109"],
        ["d20101122", "d20101216", "d20110109"],
        ["20101122", "20101216", "20110109"],
        ["2010-11-22", "2010-12-16", "2011-01-09"],
        ["2010_11_22", "2010_12_16", "2011_01_09"],
    ],
)
def test_every_export_shape_is_detected(names):
    fields = ["pid", "easting", "northing", "height", "mean_velocity"] + names[::-1]
    found, dates = detect_date_fields(fields)
    assert found == names  # sorted by date, whatever the field order
    np.testing.assert_array_equal(
        dates, np.array(["2010-11-22", "2010-12-16", "2011-01-09"], dtype="datetime64[D]")
    )


def test_false_positives_are_not_dates():
    fields = ["pid", "12345678", "99999999", "code_20101122x", "20101122", "20101216"]
    found, _ = detect_date_fields(fields)
    assert found == ["20101122", "20101216"]
    assert parse_date_name("12345678") is None  # year 1234: a code, not a SAR date
    assert parse_date_name("pid") is None


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="fields seen: pid, vel"):
        detect_date_fields(["pid", "vel"])
    with pytest.raises(ValueError, match="duplicate date 2010-11-22 in fields 'D20101122' and '2010-11-22'"):
        detect_date_fields(["D20101122", "2010-11-22", "D20101216", "D20110109"])
    with pytest.raises(ValueError, match="'D20100230': 2010-02-30 is not a valid calendar date"):
        detect_date_fields(["D20101122", "D20100230"])
    with pytest.raises(ValueError, match="several families"):
        detect_date_fields(["D20101122", "D20101216", "V20101122", "V20101216"])


def test_explicit_override_list_prefix_pattern():
    fields = ["pid", "D20101122", "D20101216", "V20101122", "V20101216"]
    assert detect_date_fields(fields, "V")[0] == ["V20101122", "V20101216"]
    assert detect_date_fields(fields, "D20101216, D20101122")[0] == ["D20101122", "D20101216"]
    assert detect_date_fields(fields, "re:V2010.*")[0] == ["V20101122", "V20101216"]
    with pytest.raises(ValueError, match="X1 not found"):
        detect_date_fields(fields, "D20101122,X1")
    with pytest.raises(ValueError, match="no field starts with the prefix 'Q'"):
        detect_date_fields(fields, "Q")
    with pytest.raises(ValueError, match="'pid': no date in its name"):
        detect_date_fields(fields, "pid,D20101122")


def test_helpers():
    assert date_field_name(np.datetime64("2016-08-10")) == "D20160810"
    assert date_field_name(np.datetime64("2016-08-10"), "") == "20160810"
    # 736000 is 2015-02-05 in Matlab (datenum 719529 = 1970-01-01)
    np.testing.assert_array_equal(
        matlab_datenum_to_date([719529, 736000]),
        np.array(["1970-01-01", "2015-02-05"], dtype="datetime64[D]"),
    )
