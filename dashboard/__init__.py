"""The Streamlit dashboard: router, pages, charts and components over the engine."""

import importlib

# Chart modules that moved into ``dashboard/charts/``: the old names still import.
_MOVED = {
    "charts_campaigns": "dashboard.charts.campaigns",
    "charts_recommend": "dashboard.charts.recommendations",
    "charts_segments": "dashboard.charts.segments",
    "charts_uplift": "dashboard.charts.targeting",
}


def __getattr__(name: str):
    if name in _MOVED:
        import sys

        module = importlib.import_module(_MOVED[name])
        sys.modules[f"dashboard.{name}"] = module
        return module
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
