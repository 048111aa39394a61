"""The plugin loads through classFactory like QGIS does, registers its provider, and unloads cleanly."""

import configparser

from conftest import REPO
from qgis.core import Qgis, QgsApplication

EXPECTED_ALGORITHMS = {
    "samplestudyarea", "preparepsdataset", "pcadecomposition", "pcaerrorremoval",
    "spatiotemporalfilter", "validatebenchmarks",
}
# The registry holds only a pointer to a Python provider: keep the one re-added after this test
# alive, or it is garbage-collected and every later processing.run() loses our algorithms.
_KEEP_ALIVE = []


def test_metadata_declares_supported_qgis_range():
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt")
    general = meta["general"]
    assert general["name"] == "Subsidence Lab"
    assert general["hasProcessingProvider"] == "yes"
    lo = tuple(int(p) for p in general["qgisMinimumVersion"].split("."))
    hi = tuple(int(p) for p in general["qgisMaximumVersion"].split("."))
    running = (Qgis.QGIS_VERSION_INT // 10000, Qgis.QGIS_VERSION_INT // 100 % 100)
    assert lo == (3, 22) and hi == (4, 99)
    assert lo <= running <= hi
    assert (REPO / general["icon"]).is_file()


def test_class_factory_init_gui_and_unload(qgis_iface, qgis_processing):
    import subsidence_lab

    registry = QgsApplication.processingRegistry()
    had_provider = registry.providerById("subsidencelab")
    if had_provider is not None:  # registered by another test's session fixture
        registry.removeProvider(had_provider)
    try:
        plugin = subsidence_lab.classFactory(qgis_iface)
        plugin.initGui()
        provider = registry.providerById("subsidencelab")
        assert provider is not None and provider.name() == "Subsidence Lab"
        names = {alg.name() for alg in provider.algorithms()}
        assert names >= EXPECTED_ALGORITHMS, names
        for alg_id in EXPECTED_ALGORITHMS:
            alg = registry.algorithmById(f"subsidencelab:{alg_id}")
            assert alg is not None
            assert alg.shortHelpString().strip(), f"{alg_id} has no help"
            assert alg.helpUrl().startswith("file://") and "README.md#" in alg.helpUrl()
        plugin.unload()
        assert registry.providerById("subsidencelab") is None
        assert registry.algorithmById("subsidencelab:samplestudyarea") is None
    finally:
        if had_provider is not None and registry.providerById("subsidencelab") is None:
            from subsidence_lab.processing_provider.provider import SubsidenceLabProvider

            restored = SubsidenceLabProvider()
            _KEEP_ALIVE.append(restored)
            assert registry.addProvider(restored)
