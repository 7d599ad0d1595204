"""Who may send files to the server: only a session signed in with a role that may upload, and only a few
files at a time.

Streamlit accepts ``PUT /_stcore/upload_file/<session id>/<file id>`` for any live session whose XSRF cookie
and header match, and a client can make both; a socket that only ever saw the sign-in prompt could fill the
server's memory. Each run tells this module whether its session may upload; the server's file store refuses
(HTTP 403) files for any other session, and files beyond ``MAX_FILES_PER_SESSION`` or
``MAX_BYTES_PER_SESSION`` held at once (HTTP 413). A refused file is dropped as soon as it has arrived.

This wraps one method of Streamlit's upload store (``Runtime.uploaded_file_mgr.add_file``), the only place
the server accepts an upload, because Streamlit has no setting for it (checked with Streamlit 1.67).
"""

from __future__ import annotations

import threading

from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

MAX_FILES_PER_SESSION = 3
MAX_BYTES_PER_SESSION = 400 * 1024**2  # two files at the 200 MB upload limit

_may_upload: set[str] = set()
_lock = threading.Lock()
_GUARD = "_segmint_upload_gate"


def _upload_store():
    """The running server's upload store, or None (AppTest runs without a server)."""
    try:
        from streamlit.runtime import Runtime

        return Runtime.instance().uploaded_file_mgr
    except (RuntimeError, AttributeError):
        return None


def _held(store, session_id: str, file_id: str) -> tuple[int, int]:
    """Files and bytes ``session_id`` holds now, leaving out ``file_id`` (a file sent again replaces it)."""
    with store._lock:
        files = [rec for fid, rec in store.file_storage.get(session_id, {}).items() if fid != file_id]
    return len(files), sum(len(rec.data) for rec in files)


def _is_live(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return Runtime.instance().is_active_session(session_id)


def _install(store) -> None:
    if getattr(store, _GUARD, False):
        return
    original = store.add_file

    def add_file(session_id: str, file) -> None:
        from starlette.exceptions import HTTPException

        with _lock:
            allowed = session_id in _may_upload
        if not allowed:
            raise HTTPException(status_code=403, detail="Sign in with a role that may upload first.")
        count, size = _held(store, session_id, file.file_id)
        if count >= MAX_FILES_PER_SESSION or size + len(file.data) > MAX_BYTES_PER_SESSION:
            raise HTTPException(status_code=413, detail="Too many files held for this session.")
        original(session_id, file)

    store.add_file = add_file
    setattr(store, _GUARD, True)


def admit(may_upload: bool) -> None:
    """Say, on every run, whether this session may upload; a session that may not loses what it holds."""
    store = _upload_store()
    ctx = get_script_run_ctx(suppress_warning=True)
    if store is None or ctx is None:
        return
    _install(store)
    with _lock:
        if may_upload:
            _may_upload.add(ctx.session_id)
            if len(_may_upload) > 10_000:  # forget sessions that have ended
                _may_upload.intersection_update(s for s in list(_may_upload) if _is_live(s))
            return
        known = ctx.session_id in _may_upload
        _may_upload.discard(ctx.session_id)
    if known or store.file_storage.get(ctx.session_id):
        store.remove_session_files(ctx.session_id)


__all__ = ["MAX_FILES_PER_SESSION", "MAX_BYTES_PER_SESSION", "admit"]
