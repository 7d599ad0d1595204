"""A small Streamlit client that speaks the wire protocol over a websocket, as an attacker's script would.

It sends the same protobuf ``BackMsg`` frames a browser sends (``rerun_script`` with widget states,
``clear_cache``) and reads the ``ForwardMsg`` frames the server answers with, collecting the elements of each
script run. No browser, no Streamlit internals replaced: the server under test is the real one
(``tests/support/server.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect
from websockets.typing import Subprotocol


@dataclass
class Run:
    """What one script run drew: ``(element type, element)`` pairs in order, and how it ended."""

    elements: list = field(default_factory=list)
    status: str = ""

    def texts(self) -> list[str]:
        """Every readable string of the run (markdown, alerts, captions, titles, labels)."""
        out = []
        for kind, element in self.elements:
            inner = getattr(element, kind)
            for name in ("body", "label", "value"):
                value = getattr(inner, name, None)
                if isinstance(value, str) and value:
                    out.append(value)
        return out

    def text(self) -> str:
        return "\n".join(self.texts())

    def widget(self, kind: str, label: str):
        """The first widget of type ``kind`` (``text_input``, ``button``...) with this label."""
        for element_kind, element in self.elements:
            if element_kind == kind and getattr(element, kind).label == label:
                return getattr(element, kind)
        raise LookupError(f"no {kind} labelled {label!r} in this run: {self.texts()}")


class StreamlitSocket:
    """One websocket to ``/_stcore/stream``; ``session_id`` reattaches to an existing session, as the
    browser does after a reconnect (``Sec-WebSocket-Protocol: streamlit, <xsrf>, <session id>``)."""

    def __init__(
        self, base_url: str, *, session_id: str | None = None, xsrf: str = "", cookie: str | None = None
    ):
        url = base_url.replace("http://", "ws://") + "/_stcore/stream"
        protocols = ["streamlit", xsrf or "x"] + ([session_id] if session_id else [])
        # The server reads the offered list by position: 1st the protocol, 2nd the XSRF token, 3rd a
        # session to reattach to.
        self.ws = connect(
            url,
            subprotocols=[Subprotocol(p) for p in protocols],
            additional_headers={"Cookie": cookie} if cookie else None,
            max_size=None,
            open_timeout=20,
        )
        self.session_id: str | None = None

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> StreamlitSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, message: BackMsg) -> None:
        self.ws.send(message.SerializeToString())

    def clear_cache(self) -> None:
        """What the "Clear cache" menu item sends; any client may send it."""
        self.send(BackMsg(clear_cache=True))

    def rerun(self, widgets: dict[str, object] | None = None, timeout: float = 60) -> Run:
        """Ask for a script run with these widget values (id -> str, or True for a button press) and
        return the last run it led to (following ``st.rerun``)."""
        message = BackMsg()
        message.rerun_script.SetInParent()
        states = message.rerun_script.widget_states
        for widget_id, value in (widgets or {}).items():
            state = WidgetState(id=widget_id)
            if value is True:
                state.trigger_value = True
            else:
                state.string_value = str(value)
            states.widgets.append(state)
        self.send(message)
        return self.wait_run(timeout)

    def wait_run(self, timeout: float = 60) -> Run:
        deadline = time.monotonic() + timeout
        run = Run()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no finished script run within {timeout} s: {run.texts()}")
            msg = ForwardMsg()
            msg.ParseFromString(self.ws.recv(timeout=left))
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id or self.session_id
                self.config = msg.new_session.config
                run = Run()
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                run.elements.append((element.WhichOneof("type"), element))
            elif kind == "script_finished":
                run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    return run
