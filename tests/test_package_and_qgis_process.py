"""The built ZIP is a working plugin: qgis_process (headless) lists and runs its algorithms."""

import zipfile

from qgis.core import QgsVectorLayer


def test_zip_holds_the_plugin_and_no_dev_files(qgis_process):
    with zipfile.ZipFile(qgis_process.zip_path) as zf:
        names = zf.namelist()
    assert all(n.startswith("subsidence_lab/") for n in names)
    for required in ("__init__.py", "plugin.py", "metadata.txt", "LICENSE", "resources/icon.svg",
                     "core/psdata.py", "processing_provider/provider.py"):
        assert f"subsidence_lab/{required}" in names, required
    forbidden = ("tests/", "bench/", "scripts/", ".ci/", ".git", "__pycache__", "pyproject.toml", "Makefile")
    assert not [n for n in names if any(f in n for f in forbidden)]


def test_qgis_process_lists_the_algorithms(qgis_process):
    out = qgis_process("list").stdout
    assert "subsidencelab:samplestudyarea" in out


def test_qgis_process_runs_samplestudyarea_and_layers_open(qgis_process, tmp_path):
    ps_path = tmp_path / "ps.gpkg"
    wells_path = tmp_path / "wells.gpkg"
    gw_path = tmp_path / "groundwater.gpkg"
    truth_path = tmp_path / "truth.npz"
    result = qgis_process(
        "run", "subsidencelab:samplestudyarea", "--",
        "SEED=3", "N_POINTS=300", "N_DATES=25", "NAN_FRACTION=0.05",
        f"OUTPUT_PS={ps_path}", f"OUTPUT_WELLS={wells_path}",
        f"OUTPUT_GROUNDWATER={gw_path}", f"OUTPUT_TRUTH={truth_path}",
        json_output=True,
    )
    assert set(result["results"]) >= {"OUTPUT_PS", "OUTPUT_WELLS", "OUTPUT_GROUNDWATER", "OUTPUT_TRUTH"}
    ps = QgsVectorLayer(str(ps_path), "ps", "ogr")
    assert ps.isValid() and ps.featureCount() == 300
    date_fields = [f.name() for f in ps.fields() if f.name()[:1] == "D" and f.name()[1:].isdigit()]
    assert len(date_fields) == 25
    assert ps.crs().isValid() and not ps.crs().isGeographic()
    wells = QgsVectorLayer(str(wells_path), "wells", "ogr")
    assert wells.isValid() and wells.featureCount() >= 3
    gw = QgsVectorLayer(str(gw_path), "gw", "ogr")
    assert gw.isValid() and gw.featureCount() > 0
    assert truth_path.stat().st_size > 0
