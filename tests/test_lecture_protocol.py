"""A follower cannot steer a lecture, spoken in Streamlit's own websocket protocol (no browser to hide behind).

A lecturer's session presses "Start a lecture" and moves to a page with a control set; a follower then
sends everything a modified client could: its own page and query, a forged lecturer key, the lecturer's
own End button's widget id, and a fragment rerun. The room file keeps the lecturer's page, query and
version; then the lecturer steers once more and the room follows her (so the check can fail).
"""

from __future__ import annotations

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from scripts.class_sessions import Session
from scripts.local_server import running_streamlit
from softmax_core.lecture_rooms import RoomStore
from tests.async_loop import run_async

pytestmark = pytest.mark.server

TIMEOUT = 120


async def _scenario(url: str, rooms: RoomStore) -> dict:
    lecturer, follower = Session(url), Session(url)
    await lecturer.connect(TIMEOUT)
    await follower.connect(TIMEOUT)
    try:
        home = await lecturer.load("", timeout=TIMEOUT)
        start = home.buttons["Start a lecture"]
        started = await lecturer.load("", widgets=[WidgetState(id=start, trigger_value=True)], timeout=TIMEOUT)
        assert not started.error, started.error
        [room] = rooms.rooms()
        steered = await lecturer.load("softmax_temperature", "sm_T=2", timeout=TIMEOUT)
        end_id = steered.buttons["End the lecture"]
        before = rooms.get(room.code)

        joined = await follower.load("", f"lecture={room.code}", timeout=TIMEOUT)
        attempts = [
            await follower.load("softmax_temperature", f"lecture={room.code}&sm_T=5", timeout=TIMEOUT),
            await follower.load("loss_curves", f"lecture={room.code}&lecturer=forged-key-0000", timeout=TIMEOUT),
            await follower.load(
                "loss_curves", f"lecture={room.code}&lecturer={before.key_hash}", timeout=TIMEOUT
            ),  # the stored hash is not the key either
            await follower.load(
                "softmax_temperature", "", widgets=[WidgetState(id=end_id, trigger_value=True)], timeout=TIMEOUT
            ),
        ]
        poll = (joined.auto_rerun[0], joined.page_script_hash)  # the follower's poll, as its browser's timer sends it
        attempts.append(await follower.load("", timeout=TIMEOUT, fragment=poll))
        after_follower = rooms.get(room.code)

        await lecturer.load("loss_curves", "loss_y=1", timeout=TIMEOUT)
        after_lecturer = rooms.get(room.code)
        # The follower sends nothing (no timer): the server itself runs its poll and opens her page.
        pushed = await follower.listen(timeout=30)

        moved = await lecturer.load("loss_curves", timeout=TIMEOUT)
        await lecturer.load(
            "loss_curves", widgets=[WidgetState(id=moved.buttons["End the lecture"], trigger_value=True)]
        )
        told = []  # her last move (back to no query), then the ended lecture: both pushed, in that order
        for _ in range(3):
            told.extend((await follower.listen(timeout=30)).texts)
            if any("has ended" in t for t in told):
                break
        return dict(
            before=before,
            joined=joined,
            attempts=attempts,
            after_follower=after_follower,
            after_lecturer=after_lecturer,
            follower_texts=[t for a in attempts for t in a.texts],
            ended=rooms.get(room.code),
            told=told,
            pushed=pushed,
        )
    finally:
        await lecturer.close()
        await follower.close()


def test_a_follower_cannot_steer_the_room(shared_data_dir, tmp_path):
    runs = tmp_path / "runs"
    with running_streamlit({"SOFTMAX_DATA_DIR": str(shared_data_dir), "SOFTMAX_RUNS_DIR": str(runs)}) as url:
        seen = run_async(_scenario(url, RoomStore(runs)))
    before = seen["before"]
    assert (before.page, before.query) == ("softmax_temperature", (("sm_T", "2"),))
    assert any("Following the lecture" in t for t in seen["joined"].texts)
    assert all(not a.error for a in seen["attempts"]), [a.error for a in seen["attempts"]]
    assert any("does not fit its lecture" in t for t in seen["follower_texts"])  # the forged key, in words
    after = seen["after_follower"]
    assert (after.page, after.query, after.version, after.ended) == (before.page, before.query, before.version, False)
    lecturer = seen["after_lecturer"]
    assert (lecturer.page, lecturer.query) == ("loss_curves", (("loss_y", "1"),))
    assert lecturer.version == before.version + 1
    pushed = seen["pushed"]
    assert not pushed.error, pushed.error
    assert pushed.query is not None and "loss_y=1" in pushed.query, pushed.query
    assert any(t.startswith("A regression loss") for t in pushed.texts), pushed.texts  # the losses page ran
    # in one run: the push opened her page itself, no poll fragment's run first (docs/lecture-mode.md)
    assert pushed.finishes == [ForwardMsg.FINISHED_SUCCESSFULLY], pushed.finishes
    assert seen["ended"].ended  # the lecturer ends it; the server runs the follower's poll, which says so, in words
    assert any(f"The lecture {before.code} has ended." in t for t in seen["told"]), seen["told"]


def _repl_y_hat(load) -> str:
    """The ``y_hat = torch.tensor(...)`` line the cross-entropy page prints (its table, as text)."""
    lines = [line for text in load.texts for line in text.splitlines() if line.startswith(">>> y_hat = ")]
    return lines[0] if lines else ""


async def _follow_a_table(url: str, rooms: RoomStore) -> list:
    """The cross-entropy page's table (a control without a URL binding) is shown to a follower, then another
    table: the lecturer opens her lecturer link on a second device with it. The follower sends nothing after
    joining; the second table reaches it through the server's push."""
    lecturer, second_device, follower = Session(url), Session(url), Session(url)
    for session in (lecturer, second_device, follower):
        await session.connect(TIMEOUT)
    try:
        home = await lecturer.load("", timeout=TIMEOUT)
        started = await lecturer.press("", "", home.buttons["Start a lecture"], timeout=TIMEOUT)
        [link] = [text for text in started.texts if "lecturer=" in text]
        [room] = rooms.rooms()
        await lecturer.load("cross_entropy_steps", "yhat=0.7,0.2,0.1;0.1,0.1,0.8&y=0,2", timeout=TIMEOUT)
        seen = [await follower.load("", f"lecture={room.code}", timeout=TIMEOUT)]  # joined: on her page at once
        steer = link.split("?", 1)[1] + "&yhat=0.5,0.5;0.9,0.1&y=1,0"
        await second_device.load("cross_entropy_steps", steer, timeout=TIMEOUT)
        seen.append(await follower.listen(timeout=30))
        return seen
    finally:
        for session in (lecturer, second_device, follower):
            await session.close()


def test_a_follower_is_shown_each_table_the_lecturer_edits(shared_data_dir, tmp_path):
    runs = tmp_path / "runs"
    with running_streamlit({"SOFTMAX_DATA_DIR": str(shared_data_dir), "SOFTMAX_RUNS_DIR": str(runs)}) as url:
        first, second = run_async(_follow_a_table(url, RoomStore(runs)))
    assert not first.error and not second.error, (first.error, second.error)
    assert _repl_y_hat(first) == ">>> y_hat = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])", first.texts
    # the follower's own copy of the first table is dropped, so the second comes from her address
    assert _repl_y_hat(second) == ">>> y_hat = torch.tensor([[0.5, 0.5], [0.9, 0.1]])", second.texts
    assert second.finishes == [ForwardMsg.FINISHED_SUCCESSFULLY], second.finishes
