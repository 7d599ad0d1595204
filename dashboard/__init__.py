"""The Streamlit dashboard: router, pages, charts and components over the engine."""

import importlib
import importlib.abc
import importlib.util
import sys

# Chart modules that moved into ``dashboard/charts/``: the old names still import, in every form
# (``from dashboard import charts_campaigns``, ``from dashboard.charts_campaigns import styled_table``), and
# give the very same module object.
MOVED = {
    "dashboard.charts_campaigns": "dashboard.charts.campaigns",
    "dashboard.charts_recommend": "dashboard.charts.recommendations",
    "dashboard.charts_segments": "dashboard.charts.segments",
    "dashboard.charts_uplift": "dashboard.charts.targeting",
    "dashboard.charts_predict": "dashboard.charts.predict",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old chart module name and hands back the module at its new home."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        # the import system returns whatever sys.modules holds under the name once this returns
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
