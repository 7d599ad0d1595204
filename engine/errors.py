"""Domain errors: each message names what is wrong and how to fix it; pages translate them once."""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error the engine raises on purpose.

    Pages catch ``EngineError`` only and show ``str(error)`` as a friendly message.
    """


class SchemaError(EngineError):
    """A table or mapping does not fit the canonical schema (missing column, unknown field)."""


class IngestError(EngineError):
    """A file cannot be read or loaded (unreadable, too big, wrong content, rejected rows)."""


class InsufficientDataError(EngineError):
    """There is too little data for an analysis; the message states how much is needed.

    Attributes
    ----------
    needed, found : int | None
        The amount needed and the amount present, when they can be counted.
    """

    def __init__(self, message: str, needed: int | None = None, found: int | None = None):
        super().__init__(message)
        self.needed = needed
        self.found = found


class StoreBusyError(EngineError):
    """The store is locked by another process or a concurrent change won; retry later."""


class ConcurrentChangeError(StoreBusyError):
    """Another session changed the same table first; the message tells the user to retry."""


__all__ = [
    "EngineError",
    "SchemaError",
    "IngestError",
    "InsufficientDataError",
    "StoreBusyError",
    "ConcurrentChangeError",
]
