"""A class over Streamlit's own websocket, without browsers: one ``Session`` is one browser tab.

What the class benchmark (``bench_class.py``), the lecture benchmark (``bench_follow.py``) and the
protocol tests share: a session that loads pages and presses buttons, a page load's figures, the
server's CPU and memory from ``/proc``, a wave of students, a storm of trainings.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from dashboard.catalog import PAGES

# url_pathname of each page: st.Page names it after the file ("" is the default page).
PAGE_NAMES = ["", *[Path(p.path).stem for p in PAGES]]
CLK_TCK = os.sysconf("SC_CLK_TCK")
FULL_RUN_FINISHED = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)
FINISHED = (*FULL_RUN_FINISHED, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)  # a full run's or a fragment's


# ---------------------------------------------------------------- one session


@dataclass
class PageLoad:
    page: str
    seconds: float
    bytes: int
    error: str = ""
    texts: list[str] = field(default_factory=list)
    buttons: dict[str, str] = field(default_factory=dict)  # widget key (or label) -> widget id
    auto_rerun: tuple[str, float] | None = None  # (fragment id, seconds): a fragment the browser reruns on a timer
    page_script_hash: str = ""  # the page that ran (a fragment rerun names it, as the browser does)
    query: str | None = None  # the address's query the server set during the run, if it set one
    finishes: list[int] = field(default_factory=list)  # every script_finished status read, in order


def _texts_of(element) -> tuple[str, str, str]:
    """(kind, text, widget id) of one element, enough to find a message or a button."""
    kind = element.WhichOneof("type")
    if kind == "alert":
        return kind, element.alert.body, ""
    if kind == "markdown":
        return kind, element.markdown.body, ""
    if kind == "progress":
        return kind, element.progress.text, ""
    if kind == "exception":
        return kind, f"{element.exception.type}: {element.exception.message}", ""
    if kind == "code":
        return kind, element.code.code_text, ""
    if kind == "button":
        return kind, element.button.label, element.button.id
    return kind or "", "", ""


class Session:
    """One browser tab's websocket: load pages, press a button, read what came back.

    ``cookies`` is the browser's cookie jar (name -> value): a new tab or a reload of the same browser
    passes the jar of the one before, a new browser a fresh one. ``headers`` go with every request
    (e.g. the ``X-Forwarded-For`` a balancer would add); ``local_host`` is the address the websocket
    comes from (any of 127.0.0.0/8 on Linux: clients at different addresses on one machine).
    """

    def __init__(
        self,
        url: str,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        local_host: str | None = None,
    ):
        parsed = urlparse(url)
        scheme = "wss" if parsed.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/_stcore/stream"
        self.http_url = url.rstrip("/")
        self.cookies = {} if cookies is None else cookies
        self.headers = dict(headers or {})
        self.local_host = local_host  # the websocket's own address (e.g. 127.0.0.2: another client on this machine)
        self.ws = None

    async def connect(self, timeout: float) -> None:
        await asyncio.to_thread(self._first_visit, timeout)
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        local = {"local_addr": (self.local_host, 0)} if self.local_host else {}
        self.ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=timeout,
            additional_headers=headers,
            **local,
        )

    def _first_visit(self, timeout: float) -> None:
        """As a browser: GET the page (behind a balancer its answer sets the sticky cookie), then, as Streamlit's
        frontend does before it opens the websocket, ``/_stcore/health`` (whose answer sets the XSRF cookie)."""
        for path in ("/", "/_stcore/health"):
            request = urllib.request.Request(self.http_url + path, headers=self.headers)
            if self.cookies:
                request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            with urllib.request.urlopen(request, timeout=timeout) as response:
                for cookie in response.headers.get_all("Set-Cookie") or []:
                    name, _, value = cookie.split(";", 1)[0].partition("=")
                    self.cookies[name.strip()] = value.strip()

    async def clear_cache(self) -> None:
        """What the menu's "Clear cache" sends (any session may send it, whatever the toolbar shows)."""
        msg = BackMsg()
        msg.clear_cache = True
        await self.ws.send(msg.SerializeToString())

    async def press(self, page: str, query: str, button_id: str, timeout: float = 300) -> PageLoad:
        """Click the button with widget id ``button_id`` on ``page`` (a full rerun with its trigger set)."""
        return await self.load(page, query, widgets=[WidgetState(id=button_id, trigger_value=True)], timeout=timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def load(
        self, page: str, query: str = "", widgets=None, timeout: float = 300, fragment: tuple[str, str] = ("", "")
    ) -> PageLoad:
        """Run ``page``, or only ``fragment`` = (fragment id, page script hash) as a browser's timer does."""
        msg = BackMsg()
        msg.rerun_script.page_name = page
        msg.rerun_script.query_string = query
        if widgets:
            msg.rerun_script.widget_states.widgets.extend(widgets)
        if fragment[0]:  # as the browser's timer sends it: the page by its hash, not by name
            msg.rerun_script.fragment_id, msg.rerun_script.page_script_hash = fragment
            msg.rerun_script.is_auto_rerun = True
            msg.rerun_script.page_name = ""
        await self.ws.send(msg.SerializeToString())
        return await self._read(page, timeout, FINISHED)

    async def listen(self, timeout: float = 60) -> PageLoad:
        """Send nothing; read what the server starts on its own until a full run ends (a lecture's push)."""
        return await self._read("", timeout, FULL_RUN_FINISHED)

    async def _read(self, page: str, timeout: float, finished: tuple) -> PageLoad:
        started = time.perf_counter()
        received, load = 0, PageLoad(page, 0.0, 0)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.ws.recv()
                    received += len(raw)
                    fwd = ForwardMsg()
                    fwd.ParseFromString(raw)
                    kind = fwd.WhichOneof("type")
                    if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                        what, text, wid = _texts_of(fwd.delta.new_element)
                        if what == "exception":
                            load.error = load.error or text
                        if text:
                            load.texts.append(text)
                        if wid:
                            load.buttons[text] = wid
                    elif kind == "navigation":  # st.navigation names the page that runs
                        load.page_script_hash = fwd.navigation.page_script_hash
                    elif kind == "auto_rerun":
                        load.auto_rerun = (fwd.auto_rerun.fragment_id, fwd.auto_rerun.interval)
                    elif kind == "page_info_changed":
                        load.query = fwd.page_info_changed.query_string
                    elif kind == "page_not_found":
                        load.error = f"page not found: {page!r}"
                    elif kind == "script_finished":
                        load.finishes.append(fwd.script_finished)
                        if fwd.script_finished in finished:
                            break
        except TimeoutError:
            load.error = f"no script_finished within {timeout:.0f} s"
        load.seconds = time.perf_counter() - started
        load.bytes = received
        return load


# ---------------------------------------------------------------- the server


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


# ---------------------------------------------------------------- a class


async def one_student(url: str, pages: list[str], timeout: float, loads: list[PageLoad], stagger: float = 0.0) -> None:
    await asyncio.sleep(stagger)
    session = Session(url)
    try:
        await session.connect(timeout)
    except Exception as exc:  # a refused or timed-out connection is an error of every page
        loads.extend(PageLoad(p, 0.0, 0, error=f"connect: {type(exc).__name__}: {exc}") for p in pages)
        return
    try:
        for page in pages:
            try:
                loads.append(await session.load(page, timeout=timeout))
            except Exception as exc:
                loads.append(PageLoad(page, 0.0, 0, error=f"{type(exc).__name__}: {exc}"))
                break
    finally:
        await session.close()


def storm_configs(k: int, impl: str | None = None) -> list[str]:
    """K different short trainings (1 epoch, large batches, different seeds) as training-page query strings.

    ``impl`` picks the implementation (``train_impl``); None leaves the page's default.
    """
    chosen = f"&train_impl={impl}" if impl else ""  # before the seed: the report reads the seed off the end
    return [f"train_epochs=1&train_batch_size=1024{chosen}&train_seed={1000 + i}" for i in range(k)]


def last_curves_after(storm: list[dict]) -> float | None:
    """Seconds from the first press to the last student seeing curves; None unless every training was shown."""
    if not storm or any("done" not in s for s in storm):
        return None
    return max(s["done"] for s in storm) - min(s["pressed"] for s in storm)


async def one_trainer(url: str, query: str, timeout: float, result: dict) -> None:
    """Open the training page with a config in its URL, press Train, then poll as the browser would.

    The browser reruns the page's progress fragment on the timer the server sent with it
    (``auto_rerun``); when the training ends, that fragment reruns the whole page, which shows the run.
    """
    session = Session(url)
    await session.connect(timeout)
    try:
        first = await session.load("training", query, timeout=timeout)
        train_id = next((wid for label, wid in first.buttons.items() if label == "Train"), None)
        if train_id is None:
            result["error"] = first.error or "no Train button on the training page"
            return
        press = WidgetState(id=train_id, trigger_value=True)
        result["pressed"] = time.perf_counter()
        shown = await session.load("training", query, widgets=[press], timeout=timeout)
        result["texts"] = shown.texts[-3:]
        poll, page_hash, result["polls"] = shown.auto_rerun, shown.page_script_hash, 0
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            outcome = next((t for t in shown.texts if t.startswith(("Trained just now", "**Cached**"))), None)
            if outcome is not None:
                result["done"], result["shown"] = time.perf_counter(), outcome
                return
            if shown.error or poll is None:
                result["error"] = shown.error or "neither the run nor a progress poll on the page"
                return
            await asyncio.sleep(poll[1])
            page_hash = shown.page_script_hash or page_hash
            shown = await session.load("training", query, timeout=timeout, fragment=(poll[0], page_hash))
            poll = shown.auto_rerun or poll  # a full rerun (the poller changed, or the job ended) sends its timer
            result["polls"] += 1
        result["error"] = f"not done within {timeout:.0f} s"
    finally:
        await session.close()


def summarise(loads: list[PageLoad]) -> dict:
    def stats(xs: list[float]) -> dict:
        if not xs:
            return {"n": 0}
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]
        return {"n": len(xs), "median": statistics.median(xs), "p95": p95, "max": xs[-1]}

    ok = [x for x in loads if not x.error]
    per_page = {}
    for page in dict.fromkeys(x.page for x in loads):
        mine = [x for x in ok if x.page == page]
        per_page[page or "home"] = {
            **stats([x.seconds for x in mine]),
            "errors": sum(1 for x in loads if x.page == page and x.error),
            "bytes": int(statistics.median([x.bytes for x in mine])) if mine else 0,
        }
    return {
        "page_loads": len(ok),
        "errors": len(loads) - len(ok),
        "overall": stats([x.seconds for x in ok]),
        "per_page": per_page,
        "first_errors": sorted({x.error for x in loads if x.error})[:5],
    }


async def run_wave(url: str, n: int, pages: list[str], timeout: float, spread: float) -> list[PageLoad]:
    loads: list[PageLoad] = []
    await asyncio.gather(*(one_student(url, pages, timeout, loads, stagger=spread * i / max(1, n)) for i in range(n)))
    return loads
