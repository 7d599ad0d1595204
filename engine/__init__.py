"""Segmint's engine: storage, ingest and analytics over one DuckDB file. Never imports streamlit.

``from engine import name`` works for every public name of every engine module. The storage and ingest
modules load at once; the analytics modules (scikit-learn, Surprise, SciPy) load on first use, so the
command line starts quickly.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from engine import errors, export, ingest, overview, schema, store  # noqa: E402
from engine.errors import *  # noqa: F403
from engine.export import *  # noqa: F403
from engine.ingest import *  # noqa: F403
from engine.overview import *  # noqa: F403
from engine.schema import *  # noqa: F403
from engine.store import *  # noqa: F403

_EAGER = (errors, schema, store, export, ingest, overview)
_LAZY = (
    "sample",
    "rfm",
    "segments",
    "personas",
    "recommend",
    "campaigns",
    "experiments",
    "report",
)
_LAZY += ("uplift",)  # who to target (engine/uplift.py)
_LAZY += ("story", "pdf")  # what presentation mode and the PDF report tell, and the PDF itself
_LAZY += ("predict",)  # CLV and churn risk (engine/predict.py)
_LAZY += ("money",)  # the store's currency symbol and money formats (engine/money.py)
_LAZY += ("audience", "consistency")  # act on a segment (engine/audience/), id overlap between tables


def _declared_names(module: str, root: Path = Path(__file__).parent) -> list[str]:
    """The literal ``__all__`` of an engine module (``engine/<module>.py``) or package
    (``engine/<module>/__init__.py``), read without importing it."""
    source = root / f"{module}.py"
    if not source.exists():
        source = root / module / "__init__.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:  # built from its parts' lists: import it to read them (slower, still right)
                return list(importlib.import_module(f"engine.{module}").__all__)
    return []


_LAZY_NAMES = {name: module for module in _LAZY for name in _declared_names(module)}

# each name once, though a package may re-export a name of a lower module (engine.sample.SAMPLE_DIR)
__all__ = list(dict.fromkeys([name for module in _EAGER for name in module.__all__] + list(_LAZY_NAMES)))


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"engine.{name}")
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES) | set(_LAZY))
