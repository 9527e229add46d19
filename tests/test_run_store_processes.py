"""The run store across processes: a writer killed (SIGKILL) mid-save, and single flight between two processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from softmax_core.run_store import RunStore
from tests.factories_training import make_confusion, make_result, warnings_as_errors

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time, torch
    from softmax_core import run_store
    from softmax_core.run_store import RunStore
    from tests.factories_training import make_confusion, make_result

    root, key, pause_at, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def pause(step):
        if step == pause_at:
            print("PAUSED", flush=True)
            time.sleep(120)

    run_store._before_step = pause
    RunStore(root).save(key, make_result(seed=seed, losses=(0.1 * seed,)), make_confusion(seed), "fp")
    print("SAVED", flush=True)
    """
)


def kill_writer_at(root: Path, key: str, step: str, seed: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(root), key, step, str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        assert line == "PAUSED", f"writer did not reach {step!r}: {line!r} {proc.stderr.read() if line == '' else ''}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("step", ["replace weights", "replace run.json"])
def test_new_run_killed_before_commit_is_not_listed(tmp_path, step):
    store = RunStore(tmp_path)
    store.save("other", make_result(seed=1), make_confusion(1), "fp")
    kill_writer_at(tmp_path, "victim", step, seed=3)
    assert list((tmp_path / "victim").glob(".tmp-*")), "the kill should have left a temp file behind"
    with warnings_as_errors():
        assert [r.key for r in store.list_runs()] == ["other"]
        assert store.get("victim") is None
    # the next save of that key succeeds and clears the leftovers
    store.save("victim", make_result(seed=4), make_confusion(4), "fp")
    assert not list((tmp_path / "victim").glob(".tmp-*"))
    assert {r.key for r in store.list_runs()} == {"other", "victim"}


@pytest.mark.parametrize("step", ["replace weights", "replace run.json"])
def test_replacement_killed_before_commit_keeps_the_old_run(tmp_path, step):
    store = RunStore(tmp_path)
    old = store.save("k", make_result(seed=1, losses=(0.1,)), make_confusion(1), "fp")
    kill_writer_at(tmp_path, "k", step, seed=7)
    with warnings_as_errors():
        got = store.get("k")
    assert got.history == old.history
    assert torch.equal(got.confusion, old.confusion)
    assert torch.equal(got.load_weights()[0], old.load_weights()[0])


def test_writer_killed_after_commit_leaves_the_new_run(tmp_path):
    store = RunStore(tmp_path)
    store.save("k", make_result(seed=1, losses=(0.1,)), make_confusion(1), "fp")
    kill_writer_at(tmp_path, "k", "cleanup", seed=7)
    with warnings_as_errors():
        got = store.get("k")
    expected = make_result(seed=7, losses=(0.1 * 7,))
    assert got.history == expected.history
    assert torch.equal(got.load_weights()[0], expected.weight)


SINGLE_FLIGHT_PROCESS = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from softmax_core import training
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load
    from softmax_core.training import TrainConfig
    from tests.factories_training import fake_data, make_result

    root, counter, other_ready, me_ready = map(Path, sys.argv[1:5])

    def counted_train(config, data, progress=None, should_stop=None, progress_every=20):
        with open(counter, "a") as f:
            f.write("trained\\n")
        deadline = time.monotonic() + 60
        while not other_ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # keep training until the other process is asking too
        time.sleep(0.5)
        return make_result(config=config)

    training.train = counted_train
    me_ready.touch()
    run, cached, _ = train_or_load(RunStore(root), TrainConfig(epochs=2), fake_data())
    print(json.dumps({"key": run.key, "cached": cached, "history": [m.train_loss for m in run.history]}))
    """
)


def test_single_flight_two_processes(tmp_path):
    root, counter = tmp_path / "runs", tmp_path / "count.txt"
    ready = [tmp_path / "a.ready", tmp_path / "b.ready"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SINGLE_FLIGHT_PROCESS, str(root), str(counter), str(ready[1 - i]), str(ready[i])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert counter.read_text().count("trained") == 1
    assert sorted(o["cached"] for o in outs) == [False, True]
    assert outs[0]["key"] == outs[1]["key"] and outs[0]["history"] == outs[1]["history"]
