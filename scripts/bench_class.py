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
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_follow import print_follow_report, run_follow  # noqa: E402
from scripts.chromium import launch_chromium  # noqa: E402
from scripts.class_sessions import (  # noqa: E402
    PAGE_NAMES,
    PageLoad,
    Session,
    cpu_seconds,
    last_curves_after,
    one_trainer,
    rss_mb,
    run_wave,
    storm_configs,
    summarise,
)
from scripts.local_server import start_streamlit, stop_streamlit, wait_healthy  # noqa: E402
from softmax_core.figures.style import wrap_title  # noqa: E402
from softmax_core.figures.training_figures import config_label  # noqa: E402


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

    from softmax_core.training import TrainConfig  # imports torch: only for the browser latency run

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
        "--follow-settle",
        type=float,
        default=10.0,
        help="with --follow: seconds the followers get to reach the lecturer's page before anything is measured",
    )
    parser.add_argument(
        "--follow-idle", type=float, default=20.0, help="with --follow: seconds of idle polling measured"
    )
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
                meanwhile = {"sessions": args.follow_sessions, "storm": args.storm, "storm_impl": args.storm_impl}
                report = asyncio.run(
                    run_follow(
                        url,
                        pids,
                        args.follow,
                        args.follow_changes,
                        args.follow_every,
                        args.follow_idle,
                        args.timeout,
                        settle=args.follow_settle,
                        **meanwhile,
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
