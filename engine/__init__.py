"""Segmint's engine: storage, ingest and analytics over one DuckDB file. Never imports streamlit."""

from engine.errors import *  # noqa: F403
from engine.schema import *  # noqa: F403
from engine.store import *  # noqa: F403
from engine.export import *  # noqa: F403
from engine.ingest import *  # noqa: F403
from engine.overview import *  # noqa: F403
from engine.sample import *  # noqa: F403
from engine.rfm import *  # noqa: F403
from engine.segments import *  # noqa: F403
from engine.personas import *  # noqa: F403
from engine.recommend import *  # noqa: F403
from engine.evaluation import *  # noqa: F403
from engine.campaigns import *  # noqa: F403
from engine.experiments import *  # noqa: F403
from engine import errors, schema, store, export, ingest, overview, sample, rfm, segments, personas, recommend, evaluation, campaigns, experiments  # noqa: E402

__all__ = [
    name
    for module in (errors, schema, store, export, ingest, overview, sample, rfm, segments, personas, recommend,
                   evaluation, campaigns, experiments)
    for name in module.__all__
]
