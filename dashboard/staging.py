"""An upload's staging tied to the person's session: removed when the session ends without a load."""

from __future__ import annotations

import weakref

import engine


def _discard_quietly(cursor: engine.Connection, staged: engine.StagedUpload) -> None:
    try:
        engine.discard(cursor, staged)
    except Exception:  # noqa: BLE001 - runs when a session ends, where nobody can be told; the start-up
        pass  # sweep removes whatever is left


class StagingGuard:
    """Kept in the session state beside a staged upload. A load or a cancel calls ``release``; when
    Streamlit drops a session (a closed tab) the guard is collected with its state and removes the staged
    file and tables then."""

    def __init__(self, cursor: engine.Connection, staged: engine.StagedUpload) -> None:
        self._finalizer = weakref.finalize(self, _discard_quietly, cursor, staged)

    def release(self) -> None:
        """Remove the staging now (idempotent)."""
        self._finalizer()
