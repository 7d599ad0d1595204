"""Waiting on Streamlit in a real browser by what it does, not by the clock.

``RUN_OBSERVER`` runs in every page before the app: it watches the app's websocket and numbers, in one
sequence, each script run the page asks for (a ``BackMsg`` with ``rerun_script``, field 11), each run the
server starts (a ``ForwardMsg`` with ``new_session``, field 4) and each run that ends for good (a
``script_finished``, field 6, other than "stopped early for a rerun"). The app has settled when its last
request and its last started run come before its last finished run, and no status widget shows.

Requests made during a run are merged by the server into one rerun, so counting would hang; the order of
the last events does not. A widget sends its request a moment after the click or key that changed it (once
React has drawn it), and some inputs (opening an expander, a download) send none: after an input the app
counts as settled only once a request has followed it, or when none has come within ``INPUT_GRACE_MS``.
Pages opened through ``observed(browser)`` carry the observer.
"""

from __future__ import annotations

RUN_OBSERVER = """
(() => {
  if (window.__segmintRuns) return;
  const runs = window.__segmintRuns = {sequence: 0, requested: 0, started: 0, finished: 0, input: 0, inputAt: 0};
  const mark = (what) => { runs.sequence += 1; runs[what] = runs.sequence; };
  for (const type of ['pointerdown', 'keydown', 'change', 'input']) {
    document.addEventListener(type, () => { mark('input'); runs.inputAt = performance.now(); }, true);
  }
  // top-level fields of a protobuf message: calls visit(number, wireType, varintValue)
  const fields = (bytes, visit) => {
    let i = 0;
    const varint = () => {
      let value = 0, scale = 1, byte;
      do { byte = bytes[i++]; value += (byte & 127) * scale; scale *= 128; } while (byte & 128 && i < bytes.length);
      return value;
    };
    while (i < bytes.length) {
      const tag = varint(), number = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { visit(number, wire, varint()); }
      else if (wire === 2) { const length = varint(); visit(number, wire, null); i += length; }
      else if (wire === 1) { i += 8; } else if (wire === 5) { i += 4; } else { return; }
    }
  };
  const asBytes = (data) => data instanceof ArrayBuffer ? new Uint8Array(data)
    : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
  const EARLY_FOR_RERUN = 2;
  const received = (bytes) => fields(bytes, (number, wire, value) => {
    if (number === 4 && wire === 2) mark('started');
    if (number === 6 && wire === 0 && value !== EARLY_FOR_RERUN) mark('finished');
  });
  const Native = window.WebSocket;
  class Observed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const bytes = asBytes(event.data);
        if (bytes) received(bytes);
        else if (event.data instanceof Blob) event.data.arrayBuffer().then((data) => received(new Uint8Array(data)));
      });
    }
    send(data) {
      const bytes = asBytes(data);
      if (bytes) fields(bytes, (number, wire) => { if (number === 11 && wire === 2) mark('requested'); });
      return super.send(data);
    }
  }
  window.WebSocket = Observed;
})();
"""

INPUT_GRACE_MS = 400

SETTLED = """(grace) => {
  const runs = window.__segmintRuns;
  if (!runs) throw new Error('this page has no run observer: open it through observed(browser)');
  const answered = runs.requested > runs.input || performance.now() - runs.inputAt > grace;
  return answered && runs.finished > 0 && runs.finished > runs.requested && runs.finished > runs.started
    && !document.querySelector('[data-testid="stStatusWidget"], [data-testid="stAppSkeleton"]')
    && !document.querySelector('[data-testid="stSkeleton"]');  // an element whose code is still loading
}"""


class observed:  # noqa: N801 - reads as a function: observed(browser).new_page()
    """A Playwright browser (or context) whose new pages carry ``RUN_OBSERVER``; anything else is the
    browser's own."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_page(self, **options):
        page = self._browser.new_page(**options)
        page.add_init_script(RUN_OBSERVER)
        return page

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.add_init_script(RUN_OBSERVER)
        return context

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


def wait_until_settled(page, timeout: float = 60_000) -> None:
    """Wait until the app has answered every run the page asked for (see the module docstring)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(SETTLED, arg=INPUT_GRACE_MS, timeout=timeout, polling=100)


# Charts and tables draw after the run that sent them: for a screenshot, wait until fonts are loaded, every
# Plotly chart has its SVG, and the page has not changed for ``STILL_MS``.
STILL_MS = 750
DRAWN = """(still) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const ready = document.fonts.status === 'loaded' && main && Array.from(
    document.querySelectorAll('[data-testid="stPlotlyChart"]')).every((chart) => chart.querySelector('.main-svg'));
  const size = ready ? main.innerHTML.length : -1, now = performance.now(), last = window.__segmintDrawn;
  if (!last || last.size !== size) { window.__segmintDrawn = {size: size, since: now}; return false; }
  return size >= 0 && now - last.since >= still;
}"""


def wait_until_drawn(page, timeout: float = 60_000) -> None:
    """``wait_until_settled``, then until everything the run sent has drawn and stays still (screenshots)."""
    wait_until_settled(page, timeout)
    page.wait_for_function(DRAWN, arg=STILL_MS, timeout=timeout, polling=250)
