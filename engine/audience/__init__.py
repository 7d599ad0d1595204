"""Act on a segment: definitions as data compiled to one SQL query (``builder``), saved segments and views
(``saved``), and audience files for Meta, Google and CRMs (``files``)."""

from __future__ import annotations

from engine.audience.builder import *  # noqa: F403
from engine.audience.builder import __all__ as _builder_all
from engine.audience.command import audience_command
from engine.audience.files import *  # noqa: F403
from engine.audience.files import __all__ as _files_all
from engine.audience.saved import *  # noqa: F403
from engine.audience.saved import __all__ as _saved_all

__all__ = [*_builder_all, *_files_all, *_saved_all, "audience_command"]
