"""``bench_class.py --follow N``: a scripted lecturer and N followers over Streamlit's own websocket.

The lecturer presses "Start a lecture", opens the losses page, then moves its "prediction ŷ" slider
every few seconds (a widget state, as her browser sends it). Each follower joins with the join link and
then behaves as a browser does: a fragment's ``run_every`` is timed by the browser (``setInterval`` from the
fragment's first ``auto_rerun`` message), so the follower sends the poll fragment's reruns itself (the heartbeat),
and reads whatever the server sends (its heartbeat's run; or, when the lecturer moved, the poll the server starts
itself, the address change and the full run of her page). Reported: the lecturer's change to each follower's
finished full script run with the new value (p50 / p95 / max, and how many never arrived), and the server's CPU
while the followers idle.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from collections import Counter
from urllib.parse import parse_qs

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import DoubleArray
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from scripts.class_sessions import (
    FINISHED,
    PAGE_NAMES,
    Session,
    cpu_seconds,
    last_curves_after,
    one_trainer,
    run_wave,
    storm_configs,
    summarise,
)

SLIDER_LABEL = "prediction ŷ"
SLIDER_PARAM = "loss_y_hat"
SLIDER_DEFAULT = 2.5  # pages/loss_curves.py: Y_HAT

REPLICA_COOKIE = "STREAMLIT_REPLICA"  # deploy/haproxy.cfg: which replica a browser is stuck to
CODE_RE = re.compile(r"\*\*Lecture\*\* `([2-9A-Z]{3}) ([2-9A-Z]{3})`")


def change_values(n: int) -> list[float]:
    """The lecturer's ``n`` values: each differs from the one before, all lie in the slider's range (-5 to 5),
    and none is the default, which the address leaves out, so a follower could not be seen to reach it
    (the 20th change of 20 was 2.5 and always counted as missed)."""
    magnitudes = [m for m in (round(0.5 + 0.1 * k, 1) for k in range(1, 45)) if m != SLIDER_DEFAULT]  # 0.6 .. 4.9
    return [(-1) ** k * magnitudes[(k - 1) % len(magnitudes)] for k in range(1, n + 1)]


def _rerun_msg(page: str = "", query: str = "", widgets=(), fragment: tuple[str, str] | None = None) -> bytes:
    msg = BackMsg()
    msg.rerun_script.page_name = page
    msg.rerun_script.query_string = query
    msg.rerun_script.widget_states.widgets.extend(widgets)
    if fragment is not None:
        msg.rerun_script.fragment_id, msg.rerun_script.page_script_hash = fragment
        msg.rerun_script.is_auto_rerun = True
        msg.rerun_script.page_name = ""
    return msg.SerializeToString()


async def _run(session: Session, payload: bytes, timeout: float) -> dict:
    """Send one rerun and read until it finished: the texts, button ids and slider ids it drew."""
    seen = {"texts": [], "buttons": {}, "sliders": {}}
    await session.ws.send(payload)
    async with asyncio.timeout(timeout):
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await session.ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                what = element.WhichOneof("type")
                if what == "markdown":
                    seen["texts"].append(element.markdown.body)
                elif what == "button":
                    seen["buttons"][element.button.label] = element.button.id
                elif what == "slider":
                    seen["sliders"][element.slider.label] = element.slider.id
                elif what == "exception":
                    raise RuntimeError(f"{element.exception.type}: {element.exception.message}")
            elif kind == "script_finished" and fwd.script_finished in FINISHED:
                return seen


class Follower:
    """One phone: joins, then polls the room on the fragment's timer as its browser would."""

    def __init__(self, url: str):
        self.session = Session(url)
        self.fragment: tuple[str, float] | None = None
        self.page_hash = ""
        self.query = ""
        self.arrivals: dict[float, float] = {}  # a value of the slider's parameter -> first full run showing it
        self.polls = 0
        self.error = ""

    async def read(self) -> None:
        try:
            async for raw in self.session.ws:
                fwd = ForwardMsg()
                fwd.ParseFromString(raw)
                kind = fwd.WhichOneof("type")
                if kind == "page_info_changed":
                    self.query = fwd.page_info_changed.query_string
                elif kind == "navigation":
                    self.page_hash = fwd.navigation.page_script_hash
                elif kind == "auto_rerun":
                    self.fragment = (fwd.auto_rerun.fragment_id, fwd.auto_rerun.interval)
                elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                    if fwd.delta.new_element.WhichOneof("type") == "exception":
                        self.error = self.error or fwd.delta.new_element.exception.message
                elif kind == "script_finished" and fwd.script_finished in FINISHED:
                    if fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:  # a full run of the page
                        for value in parse_qs(self.query).get(SLIDER_PARAM, []):
                            self.arrivals.setdefault(float(value), time.perf_counter())
        except Exception as exc:  # the socket closed at the end, or broke: the report counts missed changes
            self.error = self.error or f"{type(exc).__name__}: {exc}"

    async def poll(self, stop: asyncio.Event) -> None:
        """The browser's timer: ``setInterval`` from the first ``auto_rerun`` of a fragment, every interval,
        whether or not the previous run finished (the server folds a request that arrives mid-run into one)."""
        timer = None
        while not stop.is_set():
            if self.fragment is None:
                await asyncio.sleep(0.05)
                continue
            if self.fragment != timer:  # a new fragment or interval: the browser restarts its timer
                timer, next_tick = self.fragment, time.perf_counter() + self.fragment[1]
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
            next_tick += timer[1]
            if stop.is_set() or self.fragment != timer:
                continue
            self.polls += 1
            await self.session.ws.send(_rerun_msg(query=self.query or "", fragment=(timer[0], self.page_hash)))


async def _lecturer(url: str, timeout: float) -> tuple[Session, str, str]:
    lecturer = Session(url)
    await lecturer.connect(timeout)
    home = await _run(lecturer, _rerun_msg(""), timeout)
    press = WidgetState(id=home["buttons"]["Start a lecture"], trigger_value=True)
    started = await _run(lecturer, _rerun_msg("", widgets=[press]), timeout)
    code = next(("".join(m.groups()) for t in started["texts"] if (m := CODE_RE.search(t))), None)
    if code is None:
        raise RuntimeError("the lecturer's page shows no lecture code")
    losses = await _run(lecturer, _rerun_msg("loss_curves"), timeout)
    return lecturer, code, losses["sliders"][SLIDER_LABEL]


def _percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def class_meanwhile(url: str, sessions: int, storm: int, impl: str | None, timeout: float) -> dict:
    """While the lecture goes on: ``storm`` students press Train at once, then ``sessions`` more load every page."""
    trainings = [{"query": q} for q in storm_configs(storm, impl)]
    trainers = [asyncio.create_task(one_trainer(url, t["query"], timeout, t)) for t in trainings]
    if trainers:
        await asyncio.sleep(1.0)  # the presses are in: the first trainings compute, the rest queue
    loads = await run_wave(url, sessions, PAGE_NAMES, timeout, 0.0) if sessions else []
    await asyncio.gather(*trainers, return_exceptions=True)
    return {
        "sessions": sessions,
        "page_loads": summarise(loads),
        "storm": storm,
        "storm_finished": sum(1 for t in trainings if "done" in t),
        "storm_last_curves_seconds": last_curves_after(trainings),
        "storm_errors": sorted({t["error"] for t in trainings if "error" in t})[:3],
    }


async def run_follow(
    url: str,
    pids: list[int],
    n: int,
    changes: int,
    every: float,
    idle: float,
    timeout: float,
    sessions: int = 0,
    storm: int = 0,
    storm_impl: str | None = None,
    settle: float = 10.0,
):
    """N followers; with ``sessions`` or ``storm``, a class loads pages and trains while the lecturer changes."""
    lecturer, code, slider_id = await _lecturer(url, timeout)
    followers = [Follower(url) for _ in range(n)]
    stop = asyncio.Event()
    tasks = []
    for follower in followers:
        await follower.session.connect(timeout)
        tasks.append(asyncio.create_task(follower.read()))
        await follower.session.ws.send(_rerun_msg("", f"lecture={code}"))
        tasks.append(asyncio.create_task(follower.poll(stop)))
    await asyncio.sleep(settle)  # every follower reaches the lecturer's page and settles into polling

    cpu0, wall0, polls0 = cpu_seconds(pids), time.perf_counter(), sum(f.polls for f in followers)
    await asyncio.sleep(idle)
    idle_cpu = (cpu_seconds(pids) - cpu0) / (time.perf_counter() - wall0)
    idle_polls = (sum(f.polls for f in followers) - polls0) / (time.perf_counter() - wall0)

    latencies, missed = [], 0
    cpu0, wall0, client0 = cpu_seconds(pids), time.perf_counter(), time.process_time()
    values = change_values(changes)
    meanwhile = (
        asyncio.create_task(class_meanwhile(url, sessions, storm, storm_impl, timeout)) if sessions or storm else None
    )
    for value in values:
        changed = time.perf_counter()
        state = WidgetState(id=slider_id, double_array_value=DoubleArray(data=[value]))
        await _run(lecturer, _rerun_msg("loss_curves", widgets=[state]), timeout)
        await asyncio.sleep(every)
        for follower in followers:
            arrived = follower.arrivals.get(value)
            if arrived is None:
                missed += 1
            else:
                latencies.append(arrived - changed)
    change_cpu = cpu_seconds(pids) - cpu0
    change_wall = time.perf_counter() - wall0
    client_cpu = time.process_time() - client0
    class_report = await meanwhile if meanwhile is not None else None
    stop.set()
    for follower in followers:
        await follower.session.close()
    await lecturer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "followers": n,
        "changes": changes,
        "every_s": every,
        "latency_s": {
            "n": len(latencies),
            "p50": statistics.median(latencies) if latencies else None,
            "p95": _percentile(latencies, 0.95) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "missed": missed,
        "idle_server_cpu_share_of_one_core": idle_cpu,
        "idle_polls_per_s": idle_polls,
        "follower_timers_s": sorted({f.fragment[1] for f in followers if f.fragment is not None}),
        "server_cpu_s_per_change": change_cpu / max(1, changes),
        "server_cpu_share_while_changing": change_cpu / change_wall,
        "client_cpu_share_while_changing": client_cpu / change_wall,
        "follower_errors": sorted({f.error for f in followers if f.error})[:3],
        "load_average": os.getloadavg(),
        "class_meanwhile": class_report,
        "lecturer_replica": lecturer.cookies.get(REPLICA_COOKIE),
        "followers_per_replica": dict(
            Counter(f.session.cookies.get(REPLICA_COOKIE) for f in followers if f.session.cookies.get(REPLICA_COOKIE))
        ),
    }


def print_follow_report(report: dict) -> None:
    lat = report["latency_s"]
    print(f"{report['followers']} followers, {report['changes']} lecturer changes every {report['every_s']:g} s")
    if lat["n"]:
        print(
            f"change -> follower's finished run: p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, "
            f"max {lat['max']:.2f} s ({lat['n']} arrivals, {report['missed']} missed)"
        )
    else:
        print(f"no follower saw a change ({report['missed']} missed)")
    print(
        f"idle followers: server CPU {100 * report['idle_server_cpu_share_of_one_core']:.1f} % of one core "
        f"({report['idle_polls_per_s']:.1f} polls/s; the followers' browser timers: "
        f"{', '.join(f'{t:g} s' for t in report['follower_timers_s']) or 'none'})"
    )
    print(
        f"while the lecturer changes: server CPU {report['server_cpu_s_per_change']:.2f} s per change "
        f"({100 * report['server_cpu_share_while_changing']:.0f} % of one core; this client "
        f"{100 * report['client_cpu_share_while_changing']:.0f} %)"
    )
    if report.get("followers_per_replica"):  # behind deploy/serve.sh's HAProxy
        spread = ", ".join(f"{n} on {r}" for r, n in sorted(report["followers_per_replica"].items()))
        print(f"through the balancer: the lecturer on {report['lecturer_replica']}, followers {spread}")
    class_report = report.get("class_meanwhile")
    if class_report:
        loads = class_report["page_loads"]
        print(
            f"meanwhile {class_report['sessions']} students loaded every page: {loads['page_loads']} loads, "
            f"{loads['errors']} errors"
            + (f", overall p95 {loads['overall']['p95']:.2f} s" if loads["overall"]["n"] else "")
        )
        for page, row in loads["per_page"].items():
            if row["n"]:
                print(f"  {page:<22} p50 {row['median']:.2f}  p95 {row['p95']:.2f}  max {row['max']:.2f} s")
        if class_report["storm"]:
            last = class_report["storm_last_curves_seconds"]
            print(
                f"  and {class_report['storm']} pressed Train at once: {class_report['storm_finished']} finished"
                + (f", the last curves on screen after {last:.1f} s" if last is not None else "")
            )
        for error in loads["first_errors"] + class_report["storm_errors"]:
            print(f"  error: {error}")
    print("load average: " + " ".join(f"{x:.2f}" for x in report["load_average"]))
    for error in report["follower_errors"]:
        print(f"follower error: {error}")
