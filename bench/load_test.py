"""Multi-user load test: N people use one Segmint server at the same time through real headless browsers.

For each level N (``--sessions 1,5,10``) the script starts a fresh server on 127.0.0.1 over an empty store in
a temporary folder (the bundled sample loads on first start), opens every page once to warm it up (reported
as the cold start), then drives N concurrent Chromium sessions (one browser, one context per person, asyncio
and Playwright's async API). Each person:

1. loads the app (Overview) and switches the revenue chart between week and month,
2. visits Segments, Personas, Recommendations and Campaigns,
3. on Campaigns picks a channel in the filter and exports the campaign table (a CSV download),
4. visits Experiments and Data; ``--upload-share`` of the people upload a small generated orders CSV there
   through the real file uploader (append mode) and load it,
5. returns to Overview.

Timings come from the page itself, on its clock: a script added before the app reads the top-level fields of
each websocket message and notes when the server starts a script run (``new_session``) and finishes one
(``script_finished``). A rerun is the time from an interaction reaching the page (its first input event)
until the run it caused has finished; the script then also waits until Streamlit's status widget
``[data-testid="stStatusWidget"]`` is gone. (The widget only shows once a run has lasted 500 ms, and the app's
``data-test-script-state`` attribute can skip "running" on a busy page, so neither can time runs alone.)
The time Playwright waits for an element to become clickable while the page is still drawing is reported
apart ("click wait"). The initial load is the time from navigation start until the first run has finished.

A sampler reads the server's RSS (``/proc/<pid>/status``) and CPU time (``/proc/<pid>/stat``) every 0.5 s.
After the server stops, the store is opened read-only and its orders count is compared with the count before
plus the rows of every load the browsers saw succeed.

The server also logs the duration of each script run (``$SEGMINT_RUN_LOG=1``); the table reports their
p50/p95 as "server run" next to the times seen in the browsers. On one machine the browsers share the CPU
with the server, so the gap between the two is mostly the browsers drawing charts for N people at once.

Two knobs model real use: ``--think S`` makes each person look at a page for 0.5-1.5 x S seconds before the
next click (0, the default, clicks as fast as possible: a stress test), and ``--nice-browsers 10`` lowers the
browsers' CPU priority so the server goes first, as when people's browsers run on their own computers.

Besides the server's CPU, the table shows the CPU of this script's own browsers and the machine's CPU
pressure (share of the time some task waited for a CPU, from /proc/pressure/cpu): on 2 cores the browsers
compete with the server, and a high pressure means the timings measure the queue for a CPU as much as the app.

A 404 for a ``/media/`` file is counted apart ("media 404") and does not fail a person: Streamlit's download
button checks its file's URL in the background when it is drawn, and the server may already have dropped the
file, because a rerun drops the session's file references when it starts and other sessions' finished runs
delete unreferenced files. It shows when a person moves on quickly; a download that really fails still fails
the export step.

Failures are counted by type: ``timeout`` (a step exceeded ``--step-timeout`` or a person exceeded
``--session-timeout``), ``exception`` (a ``stException`` box), ``http`` (a response >= 400 from the server),
``connection`` (the page lost its server connection), ``check`` (a wrong or empty result) and ``other``.

Run from the repository root, as a module (it starts its server with the tests' ``tests/support/server.py``)::

    python -m bench.load_test                       # N = 1, 5, 10
    python -m bench.load_test --sessions 2 --upload-share 0.5
    python -m bench.load_test --think 3 --nice-browsers 10   # people read each page; browsers yield the CPU

Goal: 0 failed sessions at N = 10 and rerun p95 < 2 s on the sample data. Everything is bounded: a fixed
number of steps per person, a time limit per step, per person and per level, and traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.support.server import CHROMIUM, CHROMIUM_ARGS, HOST, Server, free_port, start_server

# resolve no host name at all: the pages may reach only the server on 127.0.0.1
BROWSER_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
PAGES = ["Overview", "Segments", "Personas", "Recommendations", "Campaigns", "Experiments", "Data"]
UPLOAD_ROWS = 25
SAMPLE_EVERY = 0.5

# Runs in every page before the app: notes, with the page clock (ms since navigation start), when the server
# starts a script run (a ForwardMsg carrying `new_session`, field 4) and finishes one (`script_finished`,
# field 6, with its status: 2 = stopped early for a rerun), by reading the top-level fields of each websocket
# message; and when input events reach the page. The app's `data-test-script-state` attribute is not enough:
# on a busy page React may batch "running" and "notRunning" into one render and the attribute never changes.
RUN_OBSERVER = """
(() => {
  window.__runs = [];
  window.__inputs = [];
  const keep = (list, item) => { list.push(item); if (list.length > 200) list.shift(); };
  const inspect = (buffer, t) => {
    const b = new Uint8Array(buffer);
    let i = 0;
    const varint = () => {
      let value = 0, scale = 1, byte;
      do { byte = b[i++]; value += (byte & 127) * scale; scale *= 128; } while (byte & 128 && i < b.length);
      return value;
    };
    while (i < b.length) {
      const tag = varint(), number = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) {
        const value = varint();
        if (number === 6) keep(window.__runs, ['finished', value, t]);
      } else if (wire === 2) {
        const length = varint();
        if (number === 4) keep(window.__runs, ['started', 0, t]);
        i += length;
      } else if (wire === 1) { i += 8; } else if (wire === 5) { i += 4; } else { break; }
    }
  };
  const Native = window.WebSocket;
  const Watched = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      const t = performance.now();
      if (event.data instanceof ArrayBuffer) inspect(event.data, t);
      else if (event.data instanceof Blob) event.data.arrayBuffer().then((data) => inspect(data, t));
    });
    return socket;
  };
  Watched.prototype = Native.prototype;
  for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Watched[name] = Native[name];
  window.WebSocket = Watched;
  for (const type of ['pointerdown', 'keydown', 'change']) {
    document.addEventListener(type, () => keep(window.__inputs, performance.now()), true);
  }
})();
"""

# True once a run started after `t0` has finished (not merely stopped for a rerun), no run is going on and
# the status widget is gone.
IDLE_AFTER = """
(t0) => {
  const runs = (window.__runs || []).filter(([, , t]) => t >= t0);
  const last = runs.length ? runs[runs.length - 1] : null;
  return runs.some(([kind]) => kind === 'started') && last && last[0] === 'finished' && last[1] !== 2
    && !document.querySelector('[data-testid="stStatusWidget"]');
}
"""
LAST_IDLE = "() => { const r = window.__runs || []; return r.length ? r[r.length - 1][2] : null; }"
DESCRIBE = """
(t0) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const runs = (window.__runs || []).filter(([, , t]) => t >= t0)
    .map(([kind, status, t]) => `${kind}${kind === 'finished' ? '(' + status + ')' : ''}@+${((t - t0) / 1000).toFixed(1)}s`);
  const inputs = (window.__inputs || []).filter((t) => t >= t0).length;
  return `script ${app && app.getAttribute('data-test-script-state')}, connection `
    + `${app && app.getAttribute('data-test-connection-state')}, status widget `
    + `${!!document.querySelector('[data-testid="stStatusWidget"]')}, ${inputs} input event(s), `
    + `runs since the action: ${runs.join(' ') || 'none'}`;
}
"""
FIRST_INPUT = "(t0) => (window.__inputs || []).find((t) => t >= t0) ?? null"


class StepFailure(Exception):
    """A step saw a wrong result; ``kind`` is one of the failure types."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Person:
    """What one browser session did and saw."""

    index: int
    uploads: bool
    initial_load: float | None = None
    reruns: list[tuple[str, float]] = field(default_factory=list)
    input_waits: list[float] = field(default_factory=list)
    exports: list[float] = field(default_factory=list)
    rows_loaded: int = 0
    upload_ok: bool = False
    failure: tuple[str, str, str] | None = None  # (kind, step, message)
    http_errors: list[str] = field(default_factory=list)
    media_404: list[str] = field(default_factory=list)
    step: str = "start"


# --------------------------------------------------------------------------- server and sampler


class Sampler(threading.Thread):
    """Reads the server's RSS and CPU time every ``SAMPLE_EVERY`` seconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.rss: list[int] = []
        self.cpu: list[tuple[float, float]] = []  # (wall, cpu seconds)
        self.hwm = 0
        self.stopped = threading.Event()
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.lock = threading.Lock()
        self.seen: dict[int, float] = {}  # CPU seconds last read per browser process
        self.browsers = 0.0  # CPU seconds of this script's browser processes, summed over samples
        self.others: list[tuple[float, float, float]] = []  # (wall, browsers' CPU s, CPU pressure s)
        self.nice = 0  # niceness given to every browser process (0: leave them alone)

    def cpu_seconds(self, pid: int) -> tuple[int, float] | None:
        """Parent pid and CPU seconds of a process, or None when it is gone."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / self.ticks

    def read_others(self) -> None:
        """CPU of this script's own descendants except the server (the browsers), and the machine's CPU
        pressure (seconds in which some task waited for a CPU)."""
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (info := self.cpu_seconds(int(entry))):
                procs[int(entry)] = info
        mine, me = set(), os.getpid()
        for pid in procs:
            chain, cur = [], pid
            while cur in procs and cur not in (me, self.pid, 0, 1) and cur not in mine:
                chain.append(cur)
                cur = procs[cur][0]
            if cur == me or cur in mine:
                mine.update(chain)
        for pid in mine:
            if self.nice and pid not in self.seen:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, self.nice)
            # a process first seen after the first sample started since then: all its CPU time is new
            before = self.seen.get(pid, 0.0 if self.others else procs[pid][1])
            self.browsers += max(procs[pid][1] - before, 0.0)
            self.seen[pid] = procs[pid][1]
        try:
            pressure = re.search(r"some .*total=(\d+)", Path("/proc/pressure/cpu").read_text())
            waited = int(pressure.group(1)) / 1e6 if pressure else 0.0
        except OSError:
            waited = 0.0
        self.others.append((time.monotonic(), self.browsers, waited))

    def read(self) -> None:
        with self.lock:
            self.read_server()
            self.read_others()

    def read_server(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return
        rss = re.search(r"VmRSS:\s+(\d+) kB", status)
        hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
        if rss:
            self.rss.append(int(rss.group(1)) * 1024)
        if hwm:
            self.hwm = max(self.hwm, int(hwm.group(1)) * 1024)
        fields = stat[stat.rindex(")") + 2 :].split()
        self.cpu.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / self.ticks))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.read()
            self.stopped.wait(SAMPLE_EVERY)

    def mark(self) -> tuple[int, int, int]:
        """Where the next phase starts in each series of samples."""
        self.read()
        return len(self.cpu) - 1, len(self.rss) - 1, len(self.others) - 1

    def summary(self, mark: tuple[int, int, int]) -> dict[str, float]:
        """Peak sampled server RSS (bytes), mean server and browser CPU (% of one core) and CPU pressure
        (% of the time some task waited for a CPU) since ``mark``."""
        self.read()
        cpu, others = self.cpu[mark[0] :], self.others[mark[2] :]

        def rate(series: list, column: int) -> float:
            if len(series) < 2:
                return 0.0
            return (series[-1][column] - series[0][column]) / max(series[-1][0] - series[0][0], 1e-9) * 100

        return {
            "peak_rss": float(max(self.rss[mark[1] :] or [0])),
            "server_cpu": rate(cpu, 1),
            "browser_cpu": rate(others, 1),
            "pressure": rate(others, 2),
        }


# --------------------------------------------------------------------------- data


def orders_csv(path: Path, level: int, person: int) -> Path:
    """A small orders export with order ids unique to this level and person (so nothing is deduplicated)."""
    rng = random.Random(level * 1000 + person)
    lines = ["order_id,customer_id,order_date,product_id,quantity,unit_price,amount"]
    for i in range(UPLOAD_ROWS):
        quantity = rng.randint(1, 3)
        price = rng.choice([9.99, 19.99, 29.99, 49.99])
        lines.append(
            f"LT{level:02d}-{person:02d}-{i // 2:03d},C{rng.randint(1, 4999):04d},"
            f"2025-11-{i % 28 + 1:02d} 10:{i:02d}:00,P{rng.randint(1, 299):03d},{quantity},{price},"
            f"{quantity * price:.2f}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def store_counts(db: Path) -> tuple[int, int]:
    """Orders rows and the rows of every non-sample append into orders not undone, read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
        loaded = con.execute(
            "SELECT coalesce(sum(rows_loaded), 0) FROM _loads "
            "WHERE table_name = 'orders' AND NOT is_sample AND NOT undone"
        ).fetchone()[0]
    finally:
        con.close()
    return int(orders), int(loaded)


# --------------------------------------------------------------------------- one person


class Session:
    """One person's browser context and the steps they take."""

    def __init__(
        self,
        page: Page,
        base: str,
        person: Person,
        timeout: float,
        keep: Path | None = None,
        think: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.page = page
        self.think = think
        self.rng = rng or random.Random(0)
        self.keep = keep
        self.base = base
        self.person = person
        self.timeout_ms = timeout * 1000
        page.set_default_timeout(self.timeout_ms)
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        if response.status < 400:
            return
        line = f"{response.status} {response.request.method} {response.url}"
        if response.status == 404 and "/media/" in response.url and response.request.method == "GET":
            # Streamlit's download button checks its file's URL in the background when it is drawn; the file
            # can be gone by then (see the module docstring). Counted apart; a failed export fails its step.
            self.person.media_404.append(line)
        else:
            self.person.http_errors.append(line)

    async def check(self) -> None:
        """Fail on an exception box, a lost connection or an HTTP error."""
        boxes = self.page.locator('[data-testid="stException"]')
        if await boxes.count():
            text = (await boxes.first.inner_text()).strip().replace("\n", " | ")
            raise StepFailure("exception", text[:400])
        # the app turns an unexpected error into a short incident box (the traceback goes to the server log)
        incidents = self.page.locator('[data-testid="stAlert"]').filter(has_text="logged as incident")
        if await incidents.count():
            raise StepFailure("exception", (await incidents.first.inner_text()).strip()[:200])
        state = await self.page.locator('[data-testid="stApp"]').get_attribute("data-test-connection-state")
        if state not in (None, "CONNECTED"):
            raise StepFailure("connection", f"connection state {state}")
        if self.person.http_errors:
            raise StepFailure("http", "; ".join(self.person.http_errors[:3]))

    async def until_idle(self, t0: float) -> float:
        """Wait until a run started after page time ``t0`` has finished; returns that page time."""
        try:
            await self.page.wait_for_function(IDLE_AFTER, arg=t0, timeout=self.timeout_ms, polling=50)
        except PlaywrightTimeout as error:
            raise PlaywrightTimeout(f"{str(error).splitlines()[0]} ({await self.describe(t0)})") from error
        return await self.page.evaluate(LAST_IDLE)

    async def describe(self, t0: float) -> str:
        """The page's run states and inputs since ``t0``, for a timeout message."""
        try:
            seen = await self.page.evaluate(DESCRIBE, t0)
        except PlaywrightError:
            return "page unreadable"
        if self.keep:
            with contextlib.suppress(PlaywrightError):
                await self.page.screenshot(path=str(self.keep / f"timeout_person{self.person.index}.png"))
        return seen

    async def title(self, name: str) -> None:
        await self.page.locator("h1").filter(has_text=name).first.wait_for()

    async def open(self, path: str, name: str) -> float:
        self.person.step = f"load {name}"
        await self.page.goto(self.base + path, wait_until="commit")
        await self.title(name)
        seconds = await self.until_idle(0.0) / 1000
        await self.check()
        return seconds

    async def rerun(self, label: str, action, expect=None) -> float:
        """Time one interaction until its run has finished; ``expect`` waits for what it should show.

        The clock starts when the first input event of the interaction reaches the page: while the page is
        still busy drawing the previous run, Playwright waits for the element to become clickable, and that
        wait is recorded apart (``input_waits``).
        """
        self.person.step = label
        if self.think > 0:  # a person reads what the last step showed before the next click
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)
        t0 = await self.page.evaluate("performance.now()")
        await action()
        if expect is not None:
            await expect()
        done = await self.until_idle(t0)
        first_input = await self.page.evaluate(FIRST_INPUT, t0)
        start = t0 if first_input is None else min(first_input, done)
        seconds = (done - start) / 1000
        await self.check()
        self.person.reruns.append((label, seconds))
        self.person.input_waits.append((start - t0) / 1000)
        return seconds

    async def go(self, name: str) -> float:
        link = self.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=name).first
        return await self.rerun(f"page {name}", link.click, lambda: self.title(name))

    # ---- the visit

    async def visit(self, rng: random.Random, upload_file: Path | None, downloads: Path) -> None:
        page = self.page
        self.person.initial_load = await self.open("/", "Overview")
        await self.rerun("overview week", page.get_by_role("radio", name="week", exact=True).click)
        await self.rerun("overview month", page.get_by_role("radio", name="month", exact=True).click)
        for name in ("Segments", "Personas", "Recommendations", "Campaigns"):
            await self.go(name)
        await self.filter_channel(rng)
        await self.export(downloads)
        await self.go("Experiments")
        await self.go("Data")
        if upload_file is not None:
            await self.upload(upload_file)
        await self.go("Overview")

    async def filter_channel(self, rng: random.Random) -> None:
        page = self.page
        self.person.step = "campaigns channel filter"
        box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Channels").first
        await box.click()
        options = page.get_by_role("option")
        await options.first.wait_for()
        names = sorted(await options.all_inner_texts())
        channel = names[rng.randrange(len(names))].strip()

        async def pick() -> None:
            await page.get_by_role("option", name=channel, exact=True).click()
            await page.keyboard.press("Escape")

        await self.rerun("campaigns channel filter", pick)

    async def export(self, downloads: Path) -> None:
        page = self.page
        self.person.step = "campaigns export"
        button = page.get_by_role("button", name="Download campaign table CSV")
        await button.wait_for()
        started = time.monotonic()
        async with page.expect_download(timeout=self.timeout_ms) as info:
            await button.click()
        download = await info.value
        target = downloads / f"person{self.person.index}_campaigns.csv"
        await download.save_as(target)
        self.person.exports.append(time.monotonic() - started)
        rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
        if not rows or "campaign_id" not in rows[0]:
            raise StepFailure("check", f"the campaign export is empty or malformed ({len(rows)} rows)")
        await self.check()

    async def upload(self, upload_file: Path) -> None:
        """The clicks of tests/e2e/test_upload_browser.py: table, file, append, Load."""
        page = self.page

        async def choose_orders() -> None:
            await page.get_by_role("combobox", name="This file holds").click()
            await page.get_by_role("option", name="orders", exact=True).click()

        await self.rerun("upload choose table", choose_orders)
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        await self.rerun(
            "upload file",
            lambda: uploader.set_input_files(str(upload_file)),
            lambda: page.get_by_text("How to load").wait_for(),
        )
        body = await page.locator('[data-testid="stMain"]').inner_text()
        if not re.search(rf"Will load\s+{UPLOAD_ROWS}\b", body):
            raise StepFailure("check", f"the validation report does not say 'Will load {UPLOAD_ROWS}'")
        await self.rerun("upload append mode", page.get_by_text("Append to orders").click)
        confirm = page.get_by_text("I checked the mapping and the questions above")
        if await confirm.count():
            await self.rerun("upload confirm mapping", confirm.click)
        load = page.get_by_role("button", name=re.compile("Load$")).first
        loaded = page.get_by_text(re.compile(r"Loaded [\d,]+ rows into"))
        await self.rerun("upload load", load.click, lambda: loaded.wait_for())
        text = await loaded.inner_text()
        self.person.rows_loaded = int(re.search(r"Loaded ([\d,]+) rows", text).group(1).replace(",", ""))
        self.person.upload_ok = True


async def run_person(
    browser: Browser, base: str, person: Person, args, level: int, work: Path, delay: float
) -> Person:
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    try:
        page = await context.new_page()
        await page.add_init_script(RUN_OBSERVER)
        thinking = random.Random(level * 1000 + person.index + 1)
        session = Session(
            page, base, person, args.step_timeout, work if args.keep else None, args.think, thinking
        )
        upload = (
            orders_csv(work / f"orders_{level}_{person.index}.csv", level, person.index)
            if person.uploads
            else None
        )
        rng = random.Random(level * 100 + person.index)
        try:
            await asyncio.wait_for(session.visit(rng, upload, work), args.session_timeout)
        except StepFailure as error:
            person.failure = (error.kind, person.step, str(error))
        except (PlaywrightTimeout, TimeoutError) as error:
            message = (
                str(error).splitlines()[0][:300]
                if str(error)
                else f"over {args.session_timeout:.0f} s in all"
            )
            person.failure = ("timeout", person.step, message)
        except PlaywrightError as error:
            person.failure = ("other", person.step, str(error).splitlines()[0][:300])
        if person.failure and person.failure[0] == "timeout":
            # say what the page showed when it stopped: an exception box or a lost connection explains a timeout
            try:
                await asyncio.wait_for(session.check(), 10)
            except StepFailure as error:
                person.failure = (error.kind, person.step, f"{error} (seen after a timeout)")
            except (PlaywrightError, TimeoutError):
                pass
        if person.failure is None and person.http_errors:
            person.failure = ("http", "end", "; ".join(person.http_errors[:3]))
    except StepFailure as error:
        person.failure = (error.kind, person.step, str(error))
    finally:
        with contextlib.suppress(PlaywrightError):
            await context.close()
    return person


async def warm_up(browser: Browser, base: str, timeout: float) -> tuple[float, int]:
    """Open every page once (the sample loads and heavy results are computed); returns seconds and the
    orders count shown in the sidebar."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        page = await context.new_page()
        await page.add_init_script(RUN_OBSERVER)
        session = Session(page, base, Person(-1, False), timeout)
        started = time.monotonic()
        await session.open("/", "Overview")
        for name in PAGES[1:]:
            await session.go(name)
        seconds = time.monotonic() - started
        sidebar = await page.locator('[data-testid="stSidebar"]').inner_text()
        orders = int(re.search(r"([\d,]+) order lines", sidebar).group(1).replace(",", ""))
        return seconds, orders
    finally:
        await context.close()


# --------------------------------------------------------------------------- one level


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def server_errors(log_text: str) -> list[str]:
    """Lines of the server log that report an error, without repeats."""
    seen: dict[str, None] = {}
    for line in log_text.splitlines():
        if re.search(r"Traceback|Error|Exception|error", line) and "gatherUsageStats" not in line:
            seen.setdefault(line.strip()[:300], None)
    return list(seen)


RUN_LINE = re.compile(r"run page=(\S+) seconds=([0-9.]+)")


def server_runs(log_path: Path, offset: int) -> list[tuple[str, float]]:
    """(page, seconds) of every script run the server logged after byte ``offset`` of its log."""
    with open(log_path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
    return [(m.group(1), float(m.group(2))) for m in RUN_LINE.finditer(text)]


async def drive(
    base: str, args, level: int, uploaders: set[int], work: Path, sampler: Sampler, log_path: Path
) -> dict:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            mark = sampler.mark()
            warm, orders_before = await asyncio.wait_for(warm_up(browser, base, args.step_timeout * 3), 600)
            warm_rss = sampler.summary(mark)["peak_rss"]
            rng = random.Random(level)
            people = [Person(i, i in uploaders) for i in range(level)]
            delays = [rng.uniform(0, args.stagger) for _ in people]
            mark = sampler.mark()
            log_offset = log_path.stat().st_size
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            done = await asyncio.gather(
                *(
                    run_person(browser, base, person, args, level, work, d)
                    for person, d in zip(people, delays, strict=True)
                )
            )
            wall = time.monotonic() - started
            usage = sampler.summary(mark)
            load_after = os.getloadavg()[0]
        finally:
            await browser.close()
    return {
        "people": done, "warm": warm, "warm_rss": warm_rss, "orders_before": orders_before, "wall": wall,
        "usage": usage, "load": (load_before, load_after), "log_offset": log_offset,
    }  # fmt: skip


def run_level(level: int, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"segmint_load_{level}_"))
    db = work / "segmint.duckdb"
    log_path = work / "server.log"
    port = args.port or free_port()
    base = f"http://{HOST}:{port}"
    count = round(level * args.upload_share)
    uploaders = set(random.Random(level).sample(range(level), count))
    # the server logs each run's duration (SEGMINT_RUN_LOG)
    server: Server = start_server(db, log_path=log_path, port=port, env={"SEGMINT_RUN_LOG": "1"})
    sampler = Sampler(server.process.pid)
    sampler.nice = args.nice_browsers
    sampler.start()
    try:
        result = asyncio.run(drive(base, args, level, uploaders, work, sampler, log_path))
    finally:
        sampler.stopped.set()
        sampler.join()
        hwm = sampler.hwm
        server.stop()
    orders_after, loads_recorded = store_counts(db)
    result.update(
        level=level, orders_after=orders_after, loads_recorded=loads_recorded, hwm=hwm,
        errors=server_errors(log_path.read_text()), log=log_path, work=work,
        server_runs=server_runs(log_path, result["log_offset"]),
    )  # fmt: skip
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def orders_check(result: dict, loaded: int) -> str:
    """ " ok" when the orders table grew by exactly the rows the browsers saw loaded (and the store's load log
    agrees); the first file of one's own data sets the sample aside, so then the table holds just those rows."""
    if loaded != result["loads_recorded"]:
        return " MISMATCH"
    if result["orders_after"] - result["orders_before"] == loaded:
        return " ok"
    return " ok (sample set aside)" if result["orders_after"] == loaded else " MISMATCH"


def row(result: dict) -> dict[str, str]:
    people: list[Person] = result["people"]
    failed = [p for p in people if p.failure]
    kinds = {
        k: sum(1 for p in failed if p.failure[0] == k) for k in ("timeout", "exception", "http", "connection")
    }
    kinds["other"] = len(failed) - sum(kinds.values())
    initial = [p.initial_load for p in people if p.initial_load is not None]
    reruns = [s for p in people for _, s in p.reruns]
    exports = [s for p in people for s in p.exports]
    runs = [seconds for _, seconds in result["server_runs"]]
    uploads = [p for p in people if p.uploads]
    loaded = sum(p.rows_loaded for p in people)
    delta = result["orders_after"] - result["orders_before"]
    return {
        "N": str(result["level"]),
        "ok/failed": f"{len(people) - len(failed)}/{len(failed)}",
        "init p50": fmt_s(percentile(initial, 50)),
        "init p95": fmt_s(percentile(initial, 95)),
        "rerun p50": fmt_s(percentile(reruns, 50)),
        "rerun p95": fmt_s(percentile(reruns, 95)),
        "rerun max": fmt_s(max(reruns) if reruns else None),
        "reruns": str(len(reruns)),
        "server run p50": fmt_s(percentile(runs, 50)),
        "server run p95": fmt_s(percentile(runs, 95)),
        "click wait p95": fmt_s(percentile([w for p in people for w in p.input_waits], 95)),
        "export p50": fmt_s(percentile(exports, 50)),
        "timeout/exc/http/conn/other": "/".join(str(kinds[k]) for k in ("timeout", "exception", "http", "connection", "other")),
        "media 404": str(sum(len(p.media_404) for p in people)),
        "peak RSS MB": f"{max(result['usage']['peak_rss'], result['hwm']) / 1024**2:,.0f}",
        "server CPU %": f"{result['usage']['server_cpu']:.0f}",
        "browsers CPU %": f"{result['usage']['browser_cpu']:.0f}",
        "CPU pressure %": f"{result['usage']['pressure']:.0f}",
        "uploads ok": f"{sum(p.upload_ok for p in uploads)}/{len(uploads)}",
        "orders +rows / loaded": f"{delta:+,}/{loaded:,}" + orders_check(result, loaded),
        "wall s": f"{result['wall']:.0f}",
        "load avg": f"{result['load'][0]:.1f}->{result['load'][1]:.1f}",
    }  # fmt: skip


def print_table(rows: list[dict[str, str]]) -> None:
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    print("| " + " | ".join(h.ljust(widths[h]) for h in headers) + " |")
    print("|" + "|".join("-" * (widths[h] + 2) for h in headers) + "|")
    for r in rows:
        print("| " + " | ".join(r[h].rjust(widths[h]) for h in headers) + " |")


def print_details(result: dict) -> None:
    level = result["level"]
    print(
        f"\nN={level}: cold start (sample load + every page once) {result['warm']:.1f} s, server RSS after it "
        f"{result['warm_rss'] / 1024**2:,.0f} MB; orders {result['orders_before']:,} -> {result['orders_after']:,} "
        f"(store's load log: {result['loads_recorded']:,} rows appended)"
    )
    by_step: dict[str, list[float]] = {}
    for p in result["people"]:
        for label, seconds in p.reruns:
            by_step.setdefault(label, []).append(seconds)
    if by_step:
        print(
            "  rerun p50/max by step (s): "
            + ", ".join(f"{label} {percentile(v, 50):.2f}/{max(v):.2f}" for label, v in by_step.items())
        )
    by_page: dict[str, list[float]] = {}
    for page, seconds in result["server_runs"]:
        by_page.setdefault(page, []).append(seconds)
    if by_page:
        print(
            "  server run p50/p95 by page (s): "
            + ", ".join(
                f"{page} {percentile(v, 50):.2f}/{percentile(v, 95):.2f}" for page, v in by_page.items()
            )
        )
    for p in result["people"]:
        if p.failure:
            kind, step, message = p.failure
            print(f"  person {p.index} failed: {kind} at '{step}': {message}")
    media = sorted({line for p in result["people"] for line in p.media_404})
    if media:
        who = sum(1 for p in result["people"] if p.media_404)
        print(f"  {len(media)} distinct /media/ 404(s) seen by {who} people, e.g. {media[0]}")
    if result["errors"]:
        print(f"  server log ({result['log']}): {len(result['errors'])} error line(s):")
        for line in result["errors"][:12]:
            print("    " + line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,5,10", help="comma-separated numbers of concurrent people")
    parser.add_argument("--upload-share", type=float, default=0.2, help="share of people who upload a file")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one per level)")
    parser.add_argument("--step-timeout", type=float, default=90, help="seconds one step may take")
    parser.add_argument("--session-timeout", type=float, default=600, help="seconds one person may take")
    parser.add_argument("--stagger", type=float, default=2.0, help="people start within this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (store, server log)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a person looks at a page before the next click (0: click as fast as possible)",
    )
    parser.add_argument(
        "--nice-browsers",
        type=int,
        default=0,
        help="niceness for the browser processes (e.g. 10: the server gets the CPU first, as when the "
        "browsers run on people's own computers); 0 leaves them at the server's priority",
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not levels or any(n < 1 or n > 50 for n in levels):
        parser.error("--sessions takes numbers from 1 to 50")
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} not found (apt-get install chromium, or set SEGMINT_CHROMIUM)")
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; upload share "
        f"{args.upload_share}; think time {args.think:g} s; browser niceness {args.nice_browsers}"
    )
    results = []
    for level in levels:
        print(f"N={level} ...", flush=True)
        results.append(run_level(level, args))
    rows = [row(r) for r in results]
    single = next((r for r in rows if r["N"] == "1"), None)
    for r in rows:
        ratio = single and single["rerun p95"] != "-" and r["rerun p95"] != "-"
        r["p95 vs N=1"] = f"{float(r['rerun p95']) / float(single['rerun p95']):.1f}x" if ratio else "-"
    print()
    print_table(rows)
    for result in results:
        print_details(result)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    failed = sum(1 for r in results for p in r["people"] if p.failure)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
