"""A class opening the dashboard at once: N sessions load every page over Streamlit's own websocket.

Each session is what a browser's first visit is to the server: one websocket to
``/_stcore/stream`` and, per page, a ``BackMsg.rerun_script`` with the page name
and query string, then ``ForwardMsg``s until ``script_finished``. Prints page
loads, errors (a failed connection, an exception element, a page not found),
median / p95 / max seconds per page and overall, the server's CPU milliseconds
per page load and its RSS (from ``/proc``), and the bytes received per page.

    python scripts/bench_class.py --sessions 100                  # starts its own server
    python scripts/bench_class.py --url http://127.0.0.1:8501 --server-pid 1234
    python scripts/bench_class.py --sessions 100 --waves 10       # soak: 10 waves that load and leave
    python scripts/bench_class.py --sessions 25 --storm 5         # 5 of them press Train with 5 configs
    python scripts/bench_class.py --sessions 100 --clear-cache-rate 4   # a viewer sends "clear cache" 4x a second
    python scripts/bench_class.py --sessions 25 --storm 5 --storm-impl byhand   # ... with the by-hand model
    python scripts/bench_class.py --follow 100                    # a lecture: 100 followers of a scripted lecturer
    python scripts/bench_class.py --follow 50 --follow-sessions 25 --storm 5   # ... while a class loads and trains

Without ``--url`` it starts ``streamlit run`` on a free 127.0.0.1 port with the
repository's settings and stops it at the end. ``--json`` prints one JSON
object as the last line (the test reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.catalog import PAGES  # noqa: E402
from scripts.local_server import start_streamlit, stop_streamlit, wait_healthy  # noqa: E402

# url_pathname of each page: st.Page names it after the file ("" is the default page).
PAGE_NAMES = ["", *[Path(p.path).stem for p in PAGES]]
CLK_TCK = os.sysconf("SC_CLK_TCK")
FINISHED = (
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
)


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
        from streamlit.proto.WidgetStates_pb2 import WidgetState

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
        started = time.perf_counter()
        received, load = 0, PageLoad(page, 0.0, 0)
        await self.ws.send(msg.SerializeToString())
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
                    elif kind == "page_not_found":
                        load.error = f"page not found: {page!r}"
                    elif kind == "script_finished" and fwd.script_finished in FINISHED:
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
        from streamlit.proto.WidgetStates_pb2 import WidgetState

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


async def clear_caches(url: str, rate: float, timeout: float, sent: list[float]) -> None:
    """A viewer that sends "clear cache" ``rate`` times a second over one websocket until cancelled."""
    session = Session(url)
    await session.connect(timeout)
    try:
        while True:
            await session.clear_cache()
            sent.append(time.perf_counter())
            await asyncio.sleep(1.0 / rate)
    finally:
        await session.close()


async def run_class(args, url: str, pids: list[int]) -> dict:
    pages = args.pages or PAGE_NAMES
    report: dict = {"url": url, "sessions": args.sessions, "pages": pages, "waves": args.waves}
    if args.warmup:  # the lecturer opens every page once before class: imports, data and caches are loaded
        warm = await run_wave(url, max(1, len(pids)), pages, args.timeout, 0.0)  # behind a balancer: each replica
        report["warmup_seconds"] = {x.page or "home": round(x.seconds, 3) for x in warm}
    if pids:
        report["rss_mb_before"] = rss_mb(pids)
    clears: list[float] = []
    clearer = (
        asyncio.create_task(clear_caches(url, args.clear_cache_rate, args.timeout, clears))
        if args.clear_cache_rate
        else None
    )
    cpu0 = cpu_seconds(pids) if pids else 0.0
    started = time.perf_counter()
    loads: list[PageLoad] = []
    wave_rss = []
    for _ in range(args.waves):
        loads += await run_wave(url, args.sessions, pages, args.timeout, args.spread)
        if pids:
            wave_rss.append(round(rss_mb(pids), 1))
    report["wall_seconds"] = time.perf_counter() - started
    if clearer is not None:
        clearer.cancel()
        await asyncio.gather(clearer, return_exceptions=True)
        report["clear_cache_requests"] = len(clears)
        report["clear_cache_per_second"] = len(clears) / max(1e-9, report["wall_seconds"])
    report.update(summarise(loads))
    if pids:
        cpu = cpu_seconds(pids) - cpu0
        report["server_cpu_seconds"] = cpu
        report["server_cpu_ms_per_page_load"] = 1000 * cpu / max(1, report["page_loads"])
        report["rss_mb_after"] = rss_mb(pids)
        report["rss_mb_after_each_wave"] = wave_rss
        report["rss_mb_per_session"] = (report["rss_mb_after"] - report["rss_mb_before"]) / args.sessions
        if args.settle:  # the last wave's sessions are let go after server.disconnectedSessionTTL
            await asyncio.sleep(args.settle)
            report["rss_mb_settled"] = rss_mb(pids)
    if args.storm:  # then K sessions press Train at once, and the class loads every page again meanwhile
        storm = [{"query": q} for q in storm_configs(args.storm, args.storm_impl)]
        trainers = [asyncio.create_task(one_trainer(url, s["query"], args.timeout, s)) for s in storm]
        await asyncio.sleep(1.0)  # the presses are in: the first trainings compute, the rest queue
        during = await run_wave(url, args.sessions, pages, args.timeout, args.spread)
        await asyncio.gather(*trainers, return_exceptions=True)
        report["during_storm"] = summarise(during)
        report["storm"] = [{k: v for k, v in s.items() if k != "texts"} for s in storm]
        report["storm_finished"] = sum(1 for s in storm if "done" in s)
        report["storm_impl"] = args.storm_impl
        report["storm_last_curves_seconds"] = last_curves_after(storm)
    return report


# Records in the page when each watched element first appears (a MutationObserver) and when the next
# animation frame after that ran (the browser paints right after it): "on screen", without the lag of
# polling from Playwright, which measured 0.3-0.6 s late while Chromium was busy drawing the page.
# The click is the page's own click event: Playwright's click() spent up to 0.3 s on its checks first.
SCREEN_MARKS = """
window.__marks = {};
window.__watch = [];
document.addEventListener("click", () => { window.__marks.click = Date.now() / 1000; }, true);
new MutationObserver(() => {
  for (const [name, selector, text] of window.__watch) {
    if (window.__marks[name]) continue;
    if ([...document.querySelectorAll(selector)].some(e => e.textContent.includes(text))) {
      const mark = window.__marks[name] = {dom: Date.now() / 1000};
      requestAnimationFrame(() => { mark.frame = Date.now() / 1000; });
    }
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def watch_marks(page, watch: dict[str, tuple[str, str]]) -> None:
    """Start recording when each ``name: (css selector, text it contains)`` is first on screen."""
    page.evaluate("w => { window.__marks = {}; window.__watch = w; }", [[n, *sel] for n, sel in watch.items()])


def screen_time(page, name: str, timeout: float = 120.0) -> float:
    """Wall-clock time (s) of the first animation frame with ``name``'s element in the page."""
    page.wait_for_function(f"() => window.__marks[{name!r}] && window.__marks[{name!r}].frame", timeout=timeout * 1000)
    return page.evaluate(f"window.__marks[{name!r}].frame")


def chart_title_text(title: str) -> str:
    """A plotly title as its element's ``textContent``: each ``<br>`` line is a tspan, joined with nothing between."""
    return "".join(title.split("<br>"))


def browser_latency(url: str, runs_dir: Path, repeats: int) -> list[dict]:
    """In Chromium: click Train -> first progress on screen, and training's end -> final curves on screen.

    The end of a training is the ``created_at`` its run store record was stamped with (same clock);
    the final curves are the curves chart titled with the run's settings, with "Trained just now" beside it.
    """
    from datetime import datetime

    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium
    from softmax_core.figures.style import wrap_title
    from softmax_core.figures.training_figures import config_label
    from softmax_core.training import TrainConfig

    rows = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.add_init_script(SCREEN_MARKS)
        page.goto(url, wait_until="networkidle")
        for i in range(repeats):
            for impl in ("scratch", "concise"):
                seed = 5000 + 2 * i + (impl == "concise") + int(time.time()) % 100_000 * 10
                page.goto(
                    f"{url}/training?train_impl={impl}&train_epochs=3&train_seed={seed}", wait_until="networkidle"
                )
                button = page.get_by_role("button", name="Train", exact=True)
                button.wait_for(timeout=60_000)
                page.wait_for_timeout(500)
                title = chart_title_text(wrap_title(config_label(TrainConfig(impl=impl, epochs=3, seed=seed))))
                watch_marks(
                    page,
                    {
                        "progress": ('[data-testid="stProgress"]', ""),
                        "curves": ('[data-testid="stPlotlyChart"] .gtitle', title),
                        "trained": ('[data-testid="stAlert"]', "Trained just now"),
                    },
                )
                button.click()
                progress = screen_time(page, "progress", 60)
                clicked = page.evaluate("window.__marks.click")
                final = max(screen_time(page, "curves"), screen_time(page, "trained"))
                records = [json.loads(p.read_text()) for p in runs_dir.glob("*/run.json")]
                [record] = [r for r in records if r["config"]["seed"] == seed]
                ended = datetime.fromisoformat(record["created_at"]).timestamp()
                rows.append(
                    {
                        "impl": impl,
                        "click_to_progress": progress - clicked,
                        "end_to_curves": final - ended,
                        "train_seconds": record["train_seconds"],
                    }
                )
                print(
                    f"{impl:<8} click -> first progress {progress - clicked:.2f} s; "
                    f"end of training -> final curves {final - ended:.2f} s (trained {record['train_seconds']:.1f} s)"
                )
        browser.close()
    return rows


def browser_tabs(url: str, tabs: int, waves: int, timeout: float) -> list[dict]:
    """In Chromium: ``tabs`` students' tabs each press Train on their own one-epoch setting, in ``waves`` waves.

    A wave starts when the previous one has ended; each tab then opens the training page with a new
    seed (a new setting, so nothing is cached) and all press Train within a second or two. Reported
    per wave: tabs done, seconds until the last one showed its run, and whether they finished in the
    order they were pressed (first come, first served). A tab still waiting at ``timeout`` is stalled.
    """
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    stamp = int(time.time()) % 100_000
    rows = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        # One browser (context) per tab: tabs of one browser are one student, who trains one thing at a time.
        pages = [browser.new_context(viewport={"width": 1280, "height": 720}).new_page() for _ in range(tabs)]
        for wave in range(1, waves + 1):
            for i, page in enumerate(pages):
                seed = stamp * 1000 + wave * tabs + i
                page.goto(f"{url}/training?train_epochs=1&train_seed={seed}", wait_until="domcontentloaded")
            buttons = [page.get_by_role("button", name="Train", exact=True) for page in pages]
            for button in buttons:
                button.wait_for(timeout=timeout * 1000)
            start = time.perf_counter()
            for button in buttons:  # in tab order: the order the server should train them in
                button.click()
            pressed = time.perf_counter() - start
            done: list[float | None] = [None] * tabs
            while None in done and time.perf_counter() - start < timeout:
                for i, page in enumerate(pages):
                    if done[i] is None and page.get_by_text("Trained just now").count():
                        done[i] = time.perf_counter() - start
                time.sleep(0.25)
            finished = [(t, i) for i, t in enumerate(done) if t is not None]
            order = [i for _, i in sorted(finished)]
            row = {
                "wave": wave,
                "tabs": tabs,
                "done": len(finished),
                "stalled": tabs - len(finished),
                "pressed_within_s": pressed,
                "last_done_s": max((t for t, _ in finished), default=None),
                "in_press_order": order == sorted(order),
            }
            rows.append(row)
            last = f"{row['last_done_s']:.1f} s" if row["last_done_s"] is not None else "never"
            print(
                f"wave {wave}: {row['done']} of {tabs} tabs done (pressed within {pressed:.1f} s), "
                f"last after {last}, stalled {row['stalled']}, finished in press order: {row['in_press_order']}"
            )
        browser.close()
    return rows


def print_report(report: dict) -> None:
    print(
        f"{report['sessions']} sessions x {len(report['pages'])} pages x {report['waves']} wave(s) "
        f"against {report['url']}: {report['page_loads']} page loads, {report['errors']} errors, "
        f"{report['wall_seconds']:.1f} s wall"
    )
    print(f"{'page':<22} {'loads':>6} {'median s':>9} {'p95 s':>8} {'max s':>8} {'KB':>8} {'errors':>7}")
    for page, s in report["per_page"].items():
        if s["n"]:
            print(
                f"{page:<22} {s['n']:>6} {s['median']:>9.3f} {s['p95']:>8.3f} {s['max']:>8.3f} "
                f"{s['bytes'] / 1024:>8.1f} {s['errors']:>7}"
            )
        else:
            print(f"{page:<22} {0:>6} {'-':>9} {'-':>8} {'-':>8} {'-':>8} {s['errors']:>7}")
    o = report["overall"]
    if o["n"]:
        print(f"{'overall':<22} {o['n']:>6} {o['median']:>9.3f} {o['p95']:>8.3f} {o['max']:>8.3f}")
    if "server_cpu_seconds" in report:
        print(
            f"server CPU {report['server_cpu_seconds']:.1f} s = {report['server_cpu_ms_per_page_load']:.1f} ms "
            f"per page load; RSS {report['rss_mb_before']:.0f} -> {report['rss_mb_after']:.0f} MB "
            f"({report['rss_mb_per_session']:+.2f} MB per session); after each wave: {report['rss_mb_after_each_wave']}"
        )
    if "rss_mb_settled" in report:
        print(f"RSS once the last wave's sessions were let go: {report['rss_mb_settled']:.0f} MB")
    if "clear_cache_requests" in report:
        print(
            f"clear-cache requests sent meanwhile: {report['clear_cache_requests']} "
            f"({report['clear_cache_per_second']:.1f} a second)"
        )
    for error in report["first_errors"]:
        print(f"error: {error}")
    if "during_storm" in report:
        d = report["during_storm"]
        if d["overall"]["n"]:
            print(
                f"page loads during the storm: {d['page_loads']}, {d['errors']} errors, median "
                f"{d['overall']['median']:.3f} s, p95 {d['overall']['p95']:.3f} s, max {d['overall']['max']:.3f} s "
                f"(idle p95 {report['overall'].get('p95', float('nan')):.3f} s)"
            )
        done = [s for s in report["storm"] if "done" in s]
        print(f"storm: {report['storm_finished']} of {len(report['storm'])} trainings finished")
        if report.get("storm_last_curves_seconds") is not None:
            impl = report.get("storm_impl") or "the page's default implementation"
            print(
                f"  the last student saw curves {report['storm_last_curves_seconds']:.1f} s after the first press ({impl})"
            )
        for s in report["storm"]:
            took = f"{s['done'] - s['pressed']:.1f} s" if "done" in s else s.get("error", "not done")
            print(f"  {s['query']}: {took}, {s.get('polls', 0)} progress polls")
        if done:
            seeds = {s["query"]: s["query"].rsplit("=", 1)[1] for s in report["storm"]}
            pressed = [seeds[s["query"]] for s in sorted(report["storm"], key=lambda s: s.get("pressed", 0))]
            finished = [seeds[s["query"]] for s in sorted(done, key=lambda s: s["done"])]
            print(f"  seeds in the order pressed: {pressed}; in the order finished: {finished}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server (or a balancer); else one is started")
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="with --url: the server process(es) whose CPU and RSS to read (repeatable)",
    )
    parser.add_argument("--sessions", "-n", type=int, default=25, help="sessions opened at once (default 25)")
    parser.add_argument("--waves", type=int, default=1, help="soak: this many waves of --sessions, one after another")
    parser.add_argument("--storm", type=int, default=0, help="K more sessions press Train with K configs at once")
    parser.add_argument(
        "--storm-impl", metavar="IMPL", help="the implementation the storm trains, e.g. byhand (default: the page's)"
    )
    parser.add_argument("--pages", nargs="*", help=f"page names (default all: {PAGE_NAMES})")
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="measure the very first visit too (default: one session loads every page first, unmeasured)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="S",
        help="after the waves, wait S seconds (more than server.disconnectedSessionTTL) and read RSS again",
    )
    parser.add_argument("--spread", type=float, default=0.0, help="seconds over which a wave's sessions arrive")
    parser.add_argument(
        "--clear-cache-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="meanwhile one more session sends Streamlit's clear-cache message R times a second",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per page load before it is an error")
    parser.add_argument(
        "--data-dir",
        default=str(ROOT.parent / "shared" / "data" / "fashion-mnist"),
        help="Fashion-MNIST for the server this starts",
    )
    parser.add_argument("--runs-dir", help="run store for the server this starts (default: a fresh temp folder)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra `streamlit run` option for the server this starts, e.g. --server-arg=--runner.postScriptGC=true",
    )
    parser.add_argument(
        "--latency",
        type=int,
        default=0,
        metavar="R",
        help="instead: R times per model, Chromium clicks Train and times the first progress and the "
        "final curves (needs --runs-dir with --url)",
    )
    parser.add_argument(
        "--tabs",
        type=int,
        default=0,
        metavar="N",
        help="instead: N Chromium tabs each press Train on their own one-epoch setting, --tab-waves times",
    )
    parser.add_argument("--tab-waves", type=int, default=2, help="with --tabs: waves, one after another (default 2)")
    parser.add_argument("--follow", type=int, default=0, metavar="N", help="instead: N followers of a lecture")
    parser.add_argument("--follow-changes", type=int, default=10, help="with --follow: the lecturer's changes")
    parser.add_argument("--follow-every", type=float, default=4.0, help="with --follow: seconds between changes")
    parser.add_argument(
        "--follow-sessions",
        type=int,
        default=0,
        metavar="S",
        help="with --follow: while the lecturer changes, S more students load every page (and --storm K of "
        "them press Train at once first)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line at the end")
    args = parser.parse_args(argv)

    if args.storm_impl is not None:
        from softmax_core.training import IMPLS  # imports torch: only when asked

        if args.storm_impl not in IMPLS:
            parser.error(f"--storm-impl must be one of {', '.join(IMPLS)}")

    proc = None
    with tempfile.TemporaryDirectory(prefix="bench-class-runs-") as tmp:
        if args.url:
            url, pids = args.url.rstrip("/"), args.server_pid
            wait_healthy(url)
        else:
            env = {"SOFTMAX_DATA_DIR": args.data_dir, "SOFTMAX_RUNS_DIR": args.runs_dir or tmp}
            proc, url = start_streamlit(env, args.server_arg, timeout=90)
            pids = [proc.pid]
        try:
            if args.latency:
                rows = browser_latency(url, Path(args.runs_dir or tmp), args.latency)
                if args.json:
                    print(json.dumps(rows))
                return 0
            if args.tabs:
                rows = browser_tabs(url, args.tabs, args.tab_waves, args.timeout)
                if args.json:
                    print(json.dumps(rows))
                return 0 if all(r["stalled"] == 0 for r in rows) else 1
            if args.follow:  # lecture mode (scripts/bench_follow.py)
                from scripts.bench_follow import print_follow_report, run_follow

                meanwhile = {"sessions": args.follow_sessions, "storm": args.storm, "storm_impl": args.storm_impl}
                report = asyncio.run(
                    run_follow(
                        url, pids, args.follow, args.follow_changes, args.follow_every, 20.0, args.timeout, **meanwhile
                    )
                )
                print_follow_report(report)
                if args.json:
                    print(json.dumps(report))
                meanwhile_errors = (report["class_meanwhile"] or {}).get("page_loads", {}).get("errors", 0)
                return 1 if report["missed"] or report["follower_errors"] or meanwhile_errors else 0
            report = asyncio.run(run_class(args, url, pids))
        finally:
            if proc is not None:
                stop_streamlit(proc, timeout=15)
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 1 if report["errors"] or report.get("during_storm", {}).get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(main())
