"""The WSGI entry point loads every view and freezes start-up's objects, so a
full garbage collection in a worker does not walk them on every pass."""

import gc
import importlib
import sys


def test_the_wsgi_module_freezes_what_start_up_made():
    gc.unfreeze()
    sys.modules.pop("config.wsgi", None)
    try:
        wsgi = importlib.import_module("config.wsgi")
        assert callable(wsgi.application)
        assert "api.views" in sys.modules  # the URLconf's views were imported
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
