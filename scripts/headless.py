"""Start QGIS headless with Processing and the Subsidence Lab provider, for scripts and benches.

    from headless import start_qgis
    processing, app = start_qgis()
    processing.run("subsidencelab:samplestudyarea", {...})

``start_app()`` is the first half alone: the QgsApplication, without Processing or the provider
(for code that only needs qgis.core, e.g. bench/bench_read_write.py).

The checkout is mounted as the package ``subsidence_lab`` (a symlink in a temp folder), so the
scripts work whatever the checkout's folder is called.
"""

import atexit
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mount_package():
    """Make ``import subsidence_lab`` resolve to this checkout."""
    try:
        import subsidence_lab  # noqa: F401

        return
    except ImportError:
        pass
    mount = tempfile.mkdtemp(prefix="subsidence_lab_mount_")
    os.symlink(REPO, os.path.join(mount, "subsidence_lab"))
    sys.path.insert(0, mount)
    atexit.register(shutil.rmtree, mount, True)


def start_app():
    """A QgsApplication started headless (offscreen, no GUI) with the checkout mounted; no Processing."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    mount_package()
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    return app


def start_qgis():
    """``start_app()`` plus Processing initialised and the Subsidence Lab provider registered."""
    app = start_app()
    from qgis.core import QgsApplication

    for path in ("/usr/share/qgis/python/plugins", "/usr/share/qgis/python"):
        if path not in sys.path:
            sys.path.append(path)
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    from subsidence_lab.processing_provider.provider import SubsidenceLabProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("subsidencelab") is None:
        provider = SubsidenceLabProvider()
        registry.addProvider(provider)
        app._subsidence_provider = provider  # keep a reference for the app's lifetime
    return processing, app
