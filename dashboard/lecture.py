"""Lecture mode: the class follows the lecturer's page and controls, explores from there, and trains together.

Every control of every page lives in the address, so following the lecturer means taking her page and
her query string. ``streamlit_app.py`` runs each page through :func:`run_page`:

- the lecturer's session (the one that started the room, or one opened with its lecturer link) writes
  her page and query to the room after every run, only when they changed (:mod:`softmax_core.lecture_rooms`);
- a follower's poll fragment stats the room file; when the lecturer's version moved, it forgets the page's
  controls (so they seed from the URL, as on a fresh load) and opens her page with her query. As soon as
  the room file changes, the server (:mod:`dashboard.room_watch`, :func:`catch_up`) starts a run of her
  page with her query itself, whose poll finds it shows the room and takes it; the browser's timer runs
  the poll only every ``HEARTBEAT_SECONDS``, to count the follower. Followers' page runs take turns;
- a follower whose page or controls differ from the lecturer's after a run of their own has touched
  something: they are detached, starting from the lecturer's state. "Follow the lecture" jumps back.

The join link (``?lecture=CODE``) and the code never give control; the lecturer link
(``?lecture=CODE&lecturer=KEY``) does, and is taken out of the address bar at once (the projector
shows the address bar).
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from urllib.parse import parse_qsl, urlencode

import segno
import streamlit as st

from dashboard import streamlit_internals, user_text
from dashboard.catalog import PAGES
from dashboard.presenter import PARAM as PRESENT_PARAM
from dashboard.presenter import chart, presenting
from dashboard.room_watch import RoomWatch
from dashboard.sign_in import may_act
from dashboard.training_jobs import client_address
from softmax_core.class_experiment import room_points
from softmax_core.figures.class_figures import class_experiment_alt, class_experiment_figure
from softmax_core.figures.training_figures import LabelledHistory, compare_curves, compare_curves_alt
from softmax_core.lecture_rooms import RoomError, RoomStore, clean_nickname, normalize_code
from softmax_core.run_store import RunStore, default_runs_dir

JOIN_PARAM = "lecture"
KEY_PARAM = "lecturer"
NOT_FOLLOWED = {JOIN_PARAM, KEY_PARAM, PRESENT_PARAM, "embed", "embed_options"}  # each viewer's own
LECTURER_POLL_SECONDS = 5.0  # how often the lecturer's count of followers refreshes
HEARTBEAT_SECONDS = 10.0  # how often a follower's browser runs its poll: marks it present, and a safety net
QR_SCALE = 12  # pixels per QR module: a join link's QR is about 40 modules, so ~500 px on the projector

# Session state (one browser tab)
CODE = "_lecture_code"
KEY = "_lecture_key"
FOLLOWING = "_lecture_following"
APPLIED = "_lecture_applied"  # (version, page, query) the follower last took
PUBLISHED = "_lecture_published"  # (page, query) the lecturer last wrote
SIGNATURE = "_lecture_signature"
SEEN_AT = "_lecture_seen_at"
ID = "_lecture_id"
NICKNAME = "_lecture_nickname"
NOTICE = "_lecture_notice"

# Followers' page runs take turns, this many at once: after a lecturer's change, 100 runs at once each cost
# more (Streamlit's config lock, the interpreter's lock passed among 100 threads) and all ended together
# near the last; in turns, the first followers see the change at once (docs/lecture-mode.md).
FOLLOWER_RUNS_AT_ONCE = 2
_FOLLOWER_TURNS = threading.BoundedSemaphore(FOLLOWER_RUNS_AT_ONCE)


_ROOM_STORES: dict[str, RoomStore] = {}


def rooms() -> RoomStore:
    """One RoomStore per folder and process: it caches parsed room files by their (inode, mtime, size).

    A plain dict, not ``st.cache_resource``: every follower's poll asks for it (the cache's argument hashing
    was a visible share of a poll), and a viewer's "Clear cache" must not drop it.
    """
    runs_dir = str(default_runs_dir())
    store = _ROOM_STORES.get(runs_dir)
    if store is None:
        store = _ROOM_STORES.setdefault(runs_dir, RoomStore(runs_dir))
    return store


_WATCH: RoomWatch | None = None


def watch() -> RoomWatch:
    """This process's watch over the rooms its followers follow (one thread, started by the first follower)."""
    global _WATCH
    if _WATCH is None:
        _WATCH = RoomWatch(signature=lambda code: rooms().signature(code), poke=catch_up)
    return _WATCH


def _unwatch() -> None:
    session_id = streamlit_internals.this_session_id()
    if session_id is not None:
        watch().forget(session_id)


def page_paths() -> dict[str, str]:
    """URL path -> page file, for ``st.switch_page`` ("" is home)."""
    return {"": "pages/home.py"} | {p.path.removeprefix("pages/").removesuffix(".py"): p.path for p in PAGES}


def anonymous_id() -> str:
    return st.session_state.setdefault(ID, secrets.token_urlsafe(12))


def client_id() -> str:
    """Who creates a room, for the per-client bound: the address the training queue counts by (a forwarded
    address only from a trusted balancer, never one the client wrote itself)."""
    return client_address()


# ---------------------------------------------------------------- the state a page is in


def _pairs(query: dict) -> tuple[tuple[str, str], ...]:
    pairs = []
    for name in sorted(query):
        if name in NOT_FOLLOWED:
            continue
        values = query[name]
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(name), str(value)))
    return tuple(pairs)


def current_query() -> tuple[tuple[str, str], ...]:
    """This run's query string as the browser's address bar holds it once the run ends.

    ``st.query_params`` is not refreshed on same-page reruns in Streamlit 1.67, so a control the user
    just moved may still show its old value there: each control bound to the URL is read from its
    widget's value instead, written as the binding writes it (default values leave the address).
    """
    query: dict[str, str | list[str]] = {name: st.query_params.get_all(name) for name in st.query_params}
    for name, text in streamlit_internals.bound_values_in_url_form(st.session_state).items():
        if text is None:
            query.pop(name, None)
        else:
            query[name] = text
    return _pairs(query)


def current_page(page) -> str:
    return page.url_path


# ---------------------------------------------------------------- entering a room from a link


def _take_link() -> None:
    """``?lecture=CODE`` joins as a follower; with ``&lecturer=KEY`` it steers (the key leaves the URL)."""
    code = st.query_params.get(JOIN_PARAM)
    key = st.query_params.get(KEY_PARAM)
    if key is not None:
        del st.query_params[KEY_PARAM]
    if code is None:
        return
    room, sentence = rooms().live(code)
    if room is None:
        del st.query_params[JOIN_PARAM]
        st.session_state[NOTICE] = sentence
        return
    if key is not None and rooms().is_lecturer(room.code, key):
        del st.query_params[JOIN_PARAM]
        _become_lecturer(room.code, key)
    elif key is not None:
        st.session_state[NOTICE] = "This lecturer link does not fit its lecture: you follow it instead."
        join(room.code)
    elif st.session_state.get(CODE) != room.code:
        join(room.code)


def join(code: str, nickname: str = "") -> str:
    """Follow the live room ``code``; returns "" or the sentence why not (unknown, ended)."""
    room, sentence = rooms().live(code)
    if room is None:
        return sentence
    st.session_state.pop(KEY, None)
    st.session_state[CODE] = room.code
    st.session_state[FOLLOWING] = True
    st.session_state.pop(APPLIED, None)
    st.session_state.pop(SIGNATURE, None)
    if nickname:
        st.session_state[NICKNAME] = clean_nickname(nickname)
        st.session_state.pop(BANNER_NICKNAME, None)  # the banner's field shows the name just typed
    return ""


def _become_lecturer(code: str, key: str) -> None:
    _unwatch()
    st.session_state[CODE] = code
    st.session_state[KEY] = key
    st.session_state[FOLLOWING] = False
    st.session_state.pop(PUBLISHED, None)


def leave() -> None:
    code = st.session_state.get(CODE)
    if code:
        rooms().left(code, anonymous_id())
    _unwatch()
    for name in (CODE, KEY, FOLLOWING, APPLIED, PUBLISHED, SIGNATURE, SEEN_AT):
        st.session_state.pop(name, None)
    if JOIN_PARAM in st.query_params:
        del st.query_params[JOIN_PARAM]


def is_lecturer() -> bool:
    return bool(st.session_state.get(CODE)) and bool(st.session_state.get(KEY))


def is_follower() -> bool:
    return bool(st.session_state.get(CODE)) and not st.session_state.get(KEY)


def following() -> bool:
    return is_follower() and bool(st.session_state.get(FOLLOWING))


def room_code() -> str | None:
    return st.session_state.get(CODE)


# ---------------------------------------------------------------- the lecturer


def start_lecture() -> None:
    if not may_act():  # with sign-in on: only a signed-in user on the access list starts a room
        st.session_state[NOTICE] = "Sign in with an account on the access list to start a lecture."
        return
    try:
        room, key = rooms().create(client_id())
    except RoomError as exc:
        st.session_state[NOTICE] = str(exc)
        return
    _become_lecturer(room.code, key)


def end_lecture() -> None:
    code, key = st.session_state.get(CODE), st.session_state.get(KEY)
    if code and key:
        try:
            rooms().end(code, key)
        except RoomError:
            pass  # already ended or expired: it ends here either way
    leave()


def publish(page) -> None:
    """Write the lecturer's page and query to the room, when they changed (or once a minute as a heartbeat)."""
    where = (current_page(page), current_query())
    last = st.session_state.get(PUBLISHED)
    if last is not None and last[0] == where and time.time() - last[1] < 60:
        return
    try:
        rooms().publish(st.session_state[CODE], st.session_state[KEY], where[0], where[1])
    except RoomError as exc:
        leave()
        st.session_state[NOTICE] = f"{exc} Lecture mode is off."
        return
    st.session_state[PUBLISHED] = (where, time.time())
    watch().nudge()  # followers in this process catch up now, not at the watch's next tick


def base_url(page) -> str:
    """The app's address as the browser sees it, without the page's path and the query."""
    url = (st.context.url or "").rstrip("/")
    path = current_page(page)
    if path and url.endswith("/" + path):
        url = url[: -len(path) - 1]
    return url


def join_link(base: str, code: str) -> str:
    return f"{base}/?{urlencode({JOIN_PARAM: code})}"


def lecturer_link(base: str, code: str, key: str) -> str:
    return f"{base}/?{urlencode({JOIN_PARAM: code, KEY_PARAM: key})}"


def qr_png(text: str, scale: int = QR_SCALE) -> bytes:
    """A QR code of ``text``, black on white with the standard quiet zone (scanners need both, in any theme)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=4, dark="black", light="white")
    return buffer.getvalue()


def spaced(code: str) -> str:
    """ABC DEF: two groups of three, easier to read aloud."""
    return f"{code[:3]} {code[3:]}"


def qr_alt(code: str) -> str:
    """The QR code's text alternative: what it opens, and the code that does the same when typed."""
    return f"QR code of the join link for lecture {spaced(code)}"


@st.dialog("Join the lecture", width="large")
def _show_qr(link: str, code: str) -> None:
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.image(qr_png(link), width=460, alt=qr_alt(code))
    right.markdown("**Code**")
    right.title(spaced(code), anchor=False)  # our own alphabet: no user text
    right.text(link)
    right.caption("Scan the QR code, or open the home page and type the code.")


def lecturer_panel(page) -> None:
    """Sidebar (or, presenting, the top of the page): code, join link, QR, lecturer link, followers, End."""
    code, key = st.session_state[CODE], st.session_state[KEY]
    base = base_url(page)
    link = join_link(base, code)
    if presenting():
        top = st.container(key="lecture_present_row")
        left, count, right = top.columns([4, 1, 1], vertical_alignment="center")
        left.markdown(f"**Join:** code `{spaced(code)}` at {user_text.code(base)}")  # the Host header: as text
        with count:
            _follower_count()
        if right.button("QR code", icon=":material/qr_code_2:", key="lecture_qr_present"):
            _show_qr(link, code)
        return
    with st.sidebar.container(border=True, key="lecture_panel"):
        st.markdown(f"**Lecture** `{spaced(code)}`")
        st.image(qr_png(link, scale=5), width=200, alt=qr_alt(code))
        st.text(link)
        _follower_count()
        if st.button("Show the QR code large", icon=":material/qr_code_2:", key="lecture_qr", width="stretch"):
            _show_qr(link, code)
        with st.expander("Lecturer link (keep it, keep it private)"):
            st.caption(
                "It steers this lecture: open it on another device, or here again after reloading this tab "
                "(a reload starts a new session, outside the lecture until it opens this link)."
            )
            st.code(lecturer_link(base, code, key), language=None, wrap_lines=True)
        st.button("End the lecture", icon=":material/stop_circle:", key="lecture_end", on_click=end_lecture)


@st.fragment(run_every=LECTURER_POLL_SECONDS)
def _follower_count() -> None:
    code = st.session_state.get(CODE)
    if code:
        count = rooms().follower_count(code)
        st.markdown(f"**{count}** following" if count != 1 else "**1** following")


# ---------------------------------------------------------------- the follower


def forget_unbound(names) -> None:
    """Drop the session's copies of controls without a URL binding (the editable tables) and the link
    checks, so the next run seeds them from the URL as a fresh load does. Bound controls are reseeded
    by the history-navigation rerun in :func:`navigate`."""
    bound = set(streamlit_internals.bound_query_param_names())
    for name in [n for n in names if n not in bound]:
        st.session_state.pop(name, None)
    for name in [n for n in st.session_state if str(n).startswith("_link_checked:")]:
        del st.session_state[name]


def navigate(target: str, pairs: list[tuple[str, str]]) -> None:
    """Open page file ``target`` with query ``pairs`` as the browser's Back button would: the URL wins.

    ``st.switch_page`` refuses a query that names a control bound on the current page, and keeps the
    controls' session values over the URL (see ``streamlit_internals.navigate_as_history``);
    tests/test_browser_lecture.py fails if a later Streamlit changes it.
    """
    streamlit_internals.navigate_as_history(target, pairs)


def followed_pairs(query, own_query: list[tuple[str, str]], code: str) -> list[tuple[str, str]]:
    """The follower's address for the lecturer's ``query``: hers, the follower's own presenter mode, the room."""
    own = [(name, value) for name, value in own_query if name == PRESENT_PARAM]
    return [*query, *own, (JOIN_PARAM, code)]


def go_to(page: str, query: tuple[tuple[str, str], ...], version: int) -> None:
    """Show the lecturer's ``page`` with her ``query`` (the viewer's own presenter mode kept)."""
    target = page_paths().get(page)
    if target is None:
        return  # a page this version of the app does not have
    own = [(name, value) for name in st.query_params for value in st.query_params.get_all(name)]
    pairs = followed_pairs(query, own, st.session_state[CODE])
    forget_unbound({*st.query_params, *(name for name, _ in query)})
    st.session_state[APPLIED] = (version, page, query)
    navigate(target, pairs)


def shows(room) -> bool:
    """This run already has the lecturer's page and query: the push opened them (:func:`catch_up`)."""
    target = page_paths().get(room.page)
    return target is not None and streamlit_internals.running_page_is(target) and current_query() == tuple(room.query)


def take(room) -> None:
    """Follow ``room`` in this run, which shows her page and query already: no page switch."""
    applied = st.session_state.get(APPLIED)
    shown_before = applied[2] if applied is not None else ()
    forget_unbound({*(name for name, _ in shown_before), *(name for name, _ in room.query)})
    st.session_state[APPLIED] = (room.version, room.page, tuple(room.query))


def catch_up(session_id: str, code: str, fragment_id: str) -> bool:
    """The push's request (dashboard/room_watch.py, on its thread): the follower's next run is the lecturer's
    page with her query, whose poll then takes it (:func:`take`). One run, where starting the poll fragment
    first cost a second run (docs/lecture-mode.md). An ended room or a page this version lacks goes through
    the poll, which says so or stays. False if the session is gone."""
    room, _ = rooms().live(code)
    target = page_paths().get(room.page) if room is not None else None
    if target is None:
        return streamlit_internals.run_fragment(session_id, fragment_id)

    def query_for(last_query: str) -> str:
        return urlencode(followed_pairs(room.query, parse_qsl(last_query, keep_blank_values=True), code))

    return streamlit_internals.run_page_as_history(session_id, fragment_id, target, query_for)


def follow_now() -> None:
    """'Follow the lecture': jump to where she is now."""
    st.session_state[FOLLOWING] = True
    st.session_state.pop(APPLIED, None)
    st.session_state.pop(SIGNATURE, None)


def detach() -> None:
    st.session_state[FOLLOWING] = False
    _unwatch()


def _poll_room() -> None:
    """The follower's poll: one ``stat`` of the room file; a read and a page switch only when it changed."""
    code = st.session_state.get(CODE)
    if not code or st.session_state.get(KEY):
        return
    store = rooms()
    now = time.time()
    if now - st.session_state.get(SEEN_AT, 0) >= HEARTBEAT_SECONDS:
        store.seen_follower(code, anonymous_id())
        st.session_state[SEEN_AT] = now
    if not st.session_state.get(FOLLOWING):
        _unwatch()
        return
    signature = store.signature(code)
    session_id, fragment_id = streamlit_internals.this_session_id(), streamlit_internals.this_fragment_id()
    if session_id is not None and fragment_id is not None:
        watch().polled(session_id, code, fragment_id, signature)  # the server starts this poll when the room changes
    if signature is not None and signature == st.session_state.get(SIGNATURE):
        return
    st.session_state[SIGNATURE] = signature
    room, sentence = store.live(code)
    if room is None:
        leave()
        st.session_state[NOTICE] = sentence
        st.rerun(scope="app")
    applied = st.session_state.get(APPLIED)
    if applied is not None and applied[0] == room.version:
        return
    if shows(room):
        take(room)
    else:
        go_to(room.page, room.query, room.version)


# The browser runs the poll only as a heartbeat (each run is a script rerun, the whole cost of an idle
# follower: docs/lecture-mode.md); while following, the server starts it when the lecturer moves.
_poll = st.fragment(_poll_room, run_every=HEARTBEAT_SECONDS)


def _check_detached(page) -> None:
    """After a follower's own run: a page or a control that differs from the lecturer's means they moved it."""
    applied = st.session_state.get(APPLIED)
    if applied is None:
        return
    _, lecturer_page, lecturer_query = applied
    if (current_page(page), current_query()) != (lecturer_page, lecturer_query):
        detach()


def follower_banner() -> None:
    code = st.session_state[CODE]
    with st.container(border=True, key="lecture_banner"):
        text, action = st.columns([3, 1], vertical_alignment="center")
        if st.session_state.get(FOLLOWING):
            text.markdown(f"**Following the lecture** `{spaced(code)}`: this page moves with the lecturer's.")
            action.button(
                "Explore on my own", icon=":material/explore:", key="lecture_detach", on_click=detach, width="stretch"
            )
        else:
            text.markdown(f"**Lecture** `{spaced(code)}`: you are exploring on your own.")
            action.button(
                "Follow the lecture",
                icon=":material/group:",
                key="lecture_follow",
                on_click=follow_now,
                type="primary",
                width="stretch",
            )
        with action.popover("Nickname", icon=":material/badge:", width="stretch"):
            nickname_field()


BANNER_NICKNAME = "lecture_nickname_banner"


def nickname_field() -> None:
    """A nickname for the class's runs, for a student who joined by link (the home page asks when joining by code).

    Not in the address (following never overwrites it, typing it never detaches); it goes on the runs they
    add from now on and on those they already added.
    """
    if BANNER_NICKNAME not in st.session_state:
        st.session_state[BANNER_NICKNAME] = st.session_state.get(NICKNAME, "")
    st.text_input(
        "Nickname (optional)",
        max_chars=24,
        key=BANNER_NICKNAME,
        on_change=_set_nickname,
        help="Shown to the class beside your runs; without one you are anonymous.",
    )


def _set_nickname() -> None:
    nickname = clean_nickname(st.session_state.get(BANNER_NICKNAME, ""))
    st.session_state[NICKNAME] = nickname
    code = st.session_state.get(CODE)
    if code:
        rooms().rename_student(code, anonymous_id(), nickname)


# ---------------------------------------------------------------- every page


def start_button() -> None:
    if not presenting() and may_act():
        with st.sidebar:
            st.button("Start a lecture", icon=":material/co_present:", key="lecture_start", on_click=start_lecture)


def _notice() -> None:
    sentence = st.session_state.pop(NOTICE, None)
    if sentence:
        user_text.info(sentence, icon=":material/info:")


def run_page(page) -> None:
    """Run the navigation's ``page`` in lecture mode: the one call ``streamlit_app.py`` makes."""
    _take_link()
    _notice()
    if is_lecturer():
        lecturer_panel(page)
    elif is_follower():
        follower_banner()
        _poll()
    else:
        start_button()
    try:
        if following():
            with _FOLLOWER_TURNS:
                page.run()
        else:
            page.run()
    finally:
        if is_lecturer():
            publish(page)
        elif following():
            _check_detached(page)


# ---------------------------------------------------------------- the home page's code field


def code_field() -> None:
    """Type the code read out in the lecture (and a nickname for the class's runs, if you like)."""
    if is_lecturer():
        return
    with st.form("lecture_join", border=True):
        st.markdown("**In a lecture?** Type the code on the projector.")
        code_col, name_col = st.columns(2)
        code = code_col.text_input("Lecture code", max_chars=12, placeholder="e.g. ABC 234", key="lecture_code_in")
        nickname = name_col.text_input(
            "Nickname (optional)",
            max_chars=24,
            key="lecture_nickname_in",
            help="Shown to the class beside your runs; without one you are anonymous.",
        )
        joined = st.form_submit_button("Join the lecture", icon=":material/group:")
    if joined:
        sentence = join(code, nickname)
        if sentence:
            user_text.warning(sentence)
        elif normalize_code(code):
            st.rerun()


# ---------------------------------------------------------------- the class experiment (training page)

RECORDED = "_lecture_recorded"
CLASS_TOGGLE = "lecture_class_runs"
CLASS_REFRESH_SECONDS = 3.0


def class_experiment(store, key: str | None) -> None:
    """The training page's one call: a student's run joins the room's experiment; the lecturer can show them all.

    A student's run counts when they press Train, or when a stored run is shown to them while they
    explore on their own (while following, the run on screen is the lecturer's choice, not theirs).
    """
    if is_follower() and key is not None:
        pressed = bool(st.session_state.get("train_submit"))
        if pressed or (not following() and store.get(key) is not None):
            _record(key)
    elif is_lecturer():
        if st.toggle("Show the class's runs", key=CLASS_TOGGLE, help="Every run the room trained since it started."):
            _class_runs(str(store.root))


def _record(key: str) -> None:
    done = st.session_state.setdefault(RECORDED, set())
    if key not in done:
        rooms().record_run(st.session_state[CODE], key, anonymous_id(), st.session_state.get(NICKNAME, ""))
        done.add(key)


def _run_links(points) -> list[dict]:
    return [
        {
            "settings": p.label,
            "students": p.students,
            "test acc": None if p.test_acc is None else round(p.test_acc, 4),
            "outcome": "diverged" if p.diverged else "finished",
            "inside the model": f"/inside_model?{urlencode({'run': p.key})}",
            "calibration": f"/calibration?{urlencode({'run': p.key})}",
        }
        for p in points
    ]


@st.fragment(run_every=CLASS_REFRESH_SECONDS)
def _class_runs(runs_dir: str) -> None:
    """Live: the room's runs as one chart (a click opens the run), a table of links, the loss curves on request."""
    code = st.session_state.get(CODE)
    if not code:
        return
    store = RunStore(runs_dir)
    points = room_points(rooms(), store, code)
    if not points:
        st.info(
            f"No runs from the class yet: students who joined {spaced(code)} and train (or open a stored run "
            "on their own) appear here within seconds.",
            icon=":material/groups:",
        )
        return
    event = chart(
        class_experiment_figure(points),
        "lecture_class_chart",
        class_experiment_alt(points),
        on_select="rerun",
        selection_mode="points",
    )
    picked = [p.get("customdata") for p in (event.selection.points if event else [])]
    for key in [k for k in picked if isinstance(k, str)][:1]:
        label = next(p.label for p in points if p.key == key)
        st.markdown(f"**{user_text.literal(label)}**")
        left, right = st.columns(2)
        left.page_link("pages/inside_model.py", label="Inside the model", icon=":material/visibility:",
                       query_params={"run": key})  # fmt: skip
        right.page_link("pages/calibration.py", label="Calibration", icon=":material/tune:", query_params={"run": key})
    st.dataframe(
        _run_links(points),
        hide_index=True,
        width="stretch",
        column_config={
            "inside the model": st.column_config.LinkColumn(display_text="open"),
            "calibration": st.column_config.LinkColumn(display_text="open"),
            "test acc": st.column_config.NumberColumn(format="%.4f"),
        },
    )
    if st.checkbox("Overlay their loss curves", key="lecture_class_curves"):
        runs = [store.get(p.key) for p in points]
        curves = tuple(LabelledHistory(p.label, r.history) for p, r in zip(points, runs) if r)
        chart(compare_curves(curves, "train_loss"), "lecture_class_loss", compare_curves_alt(curves, "train_loss"))
