"""The chunked Zarr stack: streaming conversion equals a whole-file read, frames, errors."""

import os

import numpy as np
import pytest

pytest.importorskip("zarr")  # a Debian package on both supported releases

from subsidence_lab.core.ps_io import read_ps_file, write_ps_file
from subsidence_lab.core.stack import StackWriter, open_stack, write_array
from subsidence_lab.core.stack_convert import convert_to_stack
from subsidence_lab.core.synthetic import make_study_area


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two EGMS-style CSV bursts (easting/northing, no geometry) with the same 130 dates, and the
    first as a GeoPackage too (more date fields than GDAL 3.6 streams from one GeoPackage at once)."""
    folder = tmp_path_factory.mktemp("stack_sources")
    a = make_study_area(seed=0, n_points=450, n_dates=130, nan_fraction=0.03).ps
    b = make_study_area(seed=1, n_points=300, n_dates=130, nan_fraction=0.0).ps
    b.dates = a.dates
    gpkg = write_ps_file(str(folder / "frame_a.gpkg"), a, fields={"height": a.z})
    csv_a = write_ps_file(str(folder / "frame_a.csv"), a, fields={"height": a.z})
    csv_b = write_ps_file(str(folder / "frame_b.csv"), b, fields={"height": b.z})
    return gpkg, (csv_a, a), (csv_b, b)


def test_streamed_stack_equals_the_whole_file_reads(sources, tmp_path):
    _, (csv_a, a), (csv, b) = sources
    stack = convert_to_stack([csv_a, csv], str(tmp_path / "s.zarr"), chunk_rows=200, batch_rows=128)
    whole_a, whole_b = read_ps_file(csv_a), read_ps_file(csv)
    m_a = whole_a.n_points
    assert stack.shape == (m_a + whole_b.n_points, 130) and stack.chunk_rows == 200
    assert [f[1:] for f in stack.frames] == [(0, m_a), (m_a, stack.n_points)]
    assert [f[0] for f in stack.frames] == ["frame_a", "frame_b"]
    assert np.array_equal(stack.dates, whole_a.dates)
    matrix = stack.rows(0, stack.n_points)
    assert matrix.dtype == np.float32
    expected = np.concatenate([whole_a.displacement_mm, whole_b.displacement_mm]).astype(np.float32)
    assert np.array_equal(matrix, expected, equal_nan=True)
    assert np.isnan(matrix[:m_a]).any()  # the gaps survived as NaN, not 0
    assert np.array_equal(stack.column("ids"), np.concatenate([whole_a.ids, whole_b.ids]))
    assert np.array_equal(stack.column("x"), np.concatenate([whole_a.x, whole_b.x]))
    assert np.array_equal(stack.column("z"), np.concatenate([whole_a.z, whole_b.z]))
    # Against the generator's truth too: the float32 matrix holds the series to 1e-5 mm.
    truth = np.concatenate([a.displacement_mm, b.displacement_mm])
    assert np.nanmax(np.abs(matrix - truth)) < 1e-4
    assert np.array_equal(stack.displacement().compute(), expected, equal_nan=True)
    assert stack.displacement().chunks[0][:2] == (200, 200)


def test_a_geopackage_with_many_date_fields_streams_in_lockstep(sources, tmp_path):
    gpkg, (_, a), _ = sources
    stack = convert_to_stack([gpkg], str(tmp_path / "g.zarr"), chunk_rows=100, batch_rows=64)
    whole = read_ps_file(gpkg)
    assert stack.crs == whole.crs and stack.frames == [("frame_a", 0, whole.n_points)]
    assert np.array_equal(
        stack.rows(0, stack.n_points), whole.displacement_mm.astype(np.float32), equal_nan=True
    )
    assert np.array_equal(stack.column("x"), whole.x) and np.array_equal(stack.column("ids"), whole.ids)


def test_dates_that_differ_between_sources_are_refused_and_leave_nothing(sources, tmp_path):
    gpkg = sources[0]
    other = make_study_area(seed=2, n_points=50, n_dates=20).ps
    path = write_ps_file(str(tmp_path / "other.gpkg"), other)
    target = tmp_path / "bad.zarr"
    with pytest.raises(ValueError, match=r"other\.gpkg has 20 dates, the first source 130"):
        convert_to_stack([gpkg, path], str(target), chunk_rows=200, batch_rows=128)
    assert not target.exists()


def test_text_in_a_date_field_names_the_file_and_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("pid,easting,northing,20200101,20200113,20200125\na,1,2,0,1.5,2\nb,3,4,0,oops,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv \(rows 1-2\).*'20200113'.*oops"):
        convert_to_stack([str(path)], str(tmp_path / "s.zarr"))
    assert not (tmp_path / "s.zarr").exists()


def test_open_stack_refuses_other_folders_and_unfinished_stacks(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        open_stack(str(tmp_path / "missing.zarr"))
    writer = StackWriter(str(tmp_path / "w.zarr"), np.array(["2020-01-01", "2020-02-01"], "datetime64[D]"))
    writer.add([1, 2], [0.0, 1.0], [0.0, 1.0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a PS stack"):  # no marker until close()
        open_stack(str(tmp_path / "w.zarr"))
    stack = writer.close()
    write_array(stack.path, "velocity", np.array([1.5, 2.5]))
    assert np.array_equal(open_stack(stack.path).column("velocity"), [1.5, 2.5])
    with pytest.raises(ValueError, match="exists already"):
        StackWriter(stack.path, stack.dates)
    assert os.path.isdir(stack.path)
