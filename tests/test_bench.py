"""The speed benchmark: both pipelines read the same data and train the same model (no timing thresholds)."""

from __future__ import annotations

import json

import pytest
import torch

from scripts import bench_training as bench
from softmax_core.data import load_fashion_mnist
from softmax_core.training import as_pixels

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it


def test_reference_pipeline_sees_our_pixels(shared_data_dir, tmp_path):
    """torchvision's dataset + ToTensor on the layout we build equals our uint8 tensors / 255."""
    from torchvision import datasets, transforms

    ours = load_fashion_mnist(shared_data_dir, download=False)
    root = bench.torchvision_layout(shared_data_dir, tmp_path)
    splits = ((True, ours.train_images, ours.train_labels), (False, ours.test_images, ours.test_labels))
    for train, images, labels in splits:
        reference = datasets.FashionMNIST(root=str(root), train=train, transform=transforms.ToTensor(), download=False)
        assert len(reference) == len(images)
        for i in (0, 1, 777, len(images) - 1):
            x, y = reference[i]
            assert x.shape == (1, 28, 28) and y == int(labels[i])
            assert torch.equal(x[0], as_pixels(images[i]))


def test_one_epoch_benchmark_reports_every_number(shared_data_dir, capsys):
    assert bench.main(["--data-dir", str(shared_data_dir), "--epochs", "1", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Every pipeline trained the chapter's model for one epoch and got where the chapter's first epoch gets.
    ours, floors = report["ours"], report["floors"]
    assert list(ours) == ["scratch", "concise", "byhand"] and list(floors) == ["floor", "floor_no_train_metrics"]
    for epoch in (report["reference"]["last_epoch"], *(row["last_epoch"] for row in [*ours.values(), floors["floor"]])):
        assert 0.70 < epoch["train_loss"] < 0.95
        assert 0.76 < epoch["test_acc"] < 0.85
    assert 0.76 < floors["floor_no_train_metrics"]["last_epoch"]["test_acc"] < 0.85
    assert floors["floor"]["last_epoch"]["test_acc"] == ours["byhand"]["last_epoch"]["test_acc"]  # same seed, same run
    for row in (report["reference"], *ours.values(), *floors.values()):
        assert len(row["epoch_seconds"]) == 1 and row["median_epoch_seconds"] == row["epoch_seconds"][0] > 0
    for row in (*ours.values(), *floors.values()):
        reference_seconds = report["reference"]["median_epoch_seconds"]
        assert row["speedup"] == pytest.approx(reference_seconds / row["median_epoch_seconds"])
    over = report["byhand_over_floor"]
    by_hand_seconds, floor_seconds = ours["byhand"]["median_epoch_seconds"], floors["floor"]["median_epoch_seconds"]
    assert (
        over["median_of_pairs"] == pytest.approx(over["of_medians"]) == pytest.approx(by_hand_seconds / floor_seconds)
    )
    cpu = report["cpu_median_seconds"]
    assert set(cpu) == {*ours, *floors} and all(seconds > 0 for seconds in cpu.values())
    assert over["of_cpu_medians"] == pytest.approx(cpu["byhand"] / cpu["floor"])
    load = report["load_average"]
    assert len(load["start"]) == len(load["end"]) == 3 and len(load["rounds"]) == 1
    assert all(x >= 0 for x in [*load["start"], *load["end"], *load["rounds"]])
    memory = report["memory"]
    assert 0 < memory["after_import_mib"] <= memory["after_load_mib"] <= memory["peak_mib"]
    assert memory["after_load_mib"] - memory["after_import_mib"] >= 45  # the 47 MB of uint8 pixels are in memory
    assert report["cached_run"]["repeats"] == 20 and report["cached_run"]["median_ms"] > 0
    table = bench.format_table(report)
    assert "chapter pipeline (DataLoader, 4 workers), concise" in table and "ours, in-memory tensors, scratch" in table
    assert "show a cached run" in table and "MiB" in table
    assert "by hand, ŷ − y" in table and bench.FLOORS["floor"] in table and "by hand / floor:" in table
    assert "ms/epoch" in table and "load average (1, 5, 15 min)" in table and "CPU ms per one-epoch run" in table


def test_the_floor_makes_the_same_updates_as_by_hand(fmnist):
    """The floor is no shortcut: from the same seed it ends where a one-epoch by-hand run ends."""
    from softmax_core.training import TrainConfig, train

    by_hand = train(TrainConfig(impl="byhand", epochs=1, seed=4), fmnist)
    (epoch,) = by_hand.history
    floor = bench.floor_epoch(fmnist, seed=4)
    bare = bench.floor_epoch(fmnist, seed=4, train_metrics=False)
    torch.testing.assert_close(floor["weight"], by_hand.weight, rtol=0, atol=0)  # the same operations
    torch.testing.assert_close(floor["bias"], by_hand.bias, rtol=0, atol=0)
    assert floor["train_loss"] == epoch.train_loss and floor["train_acc"] == epoch.train_acc
    assert floor["test_acc"] == epoch.test_acc and floor["seconds"] > 0
    torch.testing.assert_close(bare["weight"], by_hand.weight, rtol=0, atol=1e-6)  # torch.softmax: other rounding
    assert bare["train_loss"] is None and bare["train_acc"] is None
    assert bare["test_acc"] == pytest.approx(epoch.test_acc, abs=3e-4)


def test_bad_arguments_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--epochs", "0"])
    assert exit_info.value.code == 2 and "--epochs must be between 1 and 50" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--repeats", "0"])
    assert exit_info.value.code == 2 and "--repeats must be between 1 and 50" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--data-dir", str(tmp_path / "nowhere"), "--epochs", "1"])
    assert exit_info.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_reference_runs_as_a_real_function_in_a_spawned_process(shared_data_dir, tmp_path):
    """The reference is importable code: a spawned interpreter builds it, on the thread count asked for."""
    import multiprocessing
    import os

    root = bench.torchvision_layout(shared_data_dir, tmp_path)
    before = set(multiprocessing.active_children())
    with bench.SpawnedReference(root, threads=1) as reference:
        assert reference.torch_threads == 1
        [process] = [child for child in multiprocessing.active_children() if child not in before]
        assert process.pid != os.getpid() and process.is_alive()
    assert not process.is_alive() and process.exitcode == 0


def test_peak_memory_function_reports_each_stage(shared_data_dir, monkeypatch):
    """The function the spawned process runs, called here with training stubbed (cheap): stages in order."""
    calls = []
    monkeypatch.setattr(bench, "train", lambda config, data: calls.append(config.impl))
    peaks = bench.our_path_peak_memory(str(shared_data_dir), epochs=1)
    assert calls == ["scratch", "concise"]
    order = ["after_import_mib", "after_load_mib", "after_scratch_mib", "after_concise_mib", "peak_mib"]
    assert list(peaks) == order and 0 < peaks["after_import_mib"]
    assert all(peaks[a] <= peaks[b] for a, b in zip(order, order[1:]))  # a peak never falls


def test_micro_benchmarks_time_each_choice_against_its_alternative(fmnist):
    import dataclasses

    small = dataclasses.replace(
        fmnist,
        train_images=fmnist.train_images[:2048],
        train_labels=fmnist.train_labels[:2048],
        test_images=fmnist.test_images[:500],
        test_labels=fmnist.test_labels[:500],
    )
    report = bench.micro_benchmarks(small, repeats=1, steps=5)
    threads = sorted({1, report["default_threads"]})
    assert set(report["epoch_seconds"]) == {f"{impl}_{n}_threads" for impl in ("scratch", "concise") for n in threads}
    assert set(report["gather_epoch_seconds"]) == {"index_select", "fancy_indexing"}
    assert set(report["scratch_step_seconds"]) == {"column_major", "row_major"}
    for group in ("epoch_seconds", "gather_epoch_seconds", "scratch_step_seconds"):
        assert all(seconds > 0 for seconds in report[group].values())
    text = bench.format_micro(report)
    assert "index_select" in text and "row-major" in text
