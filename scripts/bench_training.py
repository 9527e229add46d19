"""How much faster is training from tensors in memory than the chapter's pipeline?

``python -m scripts.bench_training [--data-dir D] [--epochs N] [--json]``

Side by side in one run, in milliseconds per epoch (training + test pass) and as a
multiple of the chapter's speed: the chapter's pipeline, our scratch, concise and
by-hand (ŷ − y) implementations, and the floor, the fastest loop we could write
for the same updates (:func:`floor_epoch`). The load average is printed beside
the figures: on a shared machine only ratios measured in one run mean much.

The reference is d2l's own loading code, run on the same files:
``torchvision.datasets.FashionMNIST`` + ``transforms.ToTensor()`` +
``DataLoader(batch_size=256, shuffle=True, num_workers=4)`` (a new iterator,
so new worker processes, every epoch, as the book does), training the concise
model (``nn.Flatten`` + ``nn.Linear``, ``CrossEntropyLoss``, ``optim.SGD``,
lr 0.1) and then the test pass through a DataLoader too, all at torch's
default thread settings, in a spawned process of its own
(:class:`SpawnedReference`). Ours is :func:`softmax_core.training.train` on
the same model and optimizer, in this process. Rounds alternate (the
reference's epoch, then ``--repeats`` one-epoch runs of each of ours and the
floors, in a rotating order) so a busy machine slows all alike; we report the
median per epoch and the ratios.

Also measured: the peak memory of our path (load + train, in a spawned
process so neither this process nor the reference's workers count) and the
time to show a stored run (``RunStore.get`` + ``load_weights``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from torch import nn

from softmax_core import sgd_trainer
from softmax_core.data import FILE_NAMES, DataError, find_file, load_fashion_mnist, resolve_data_dir
from softmax_core.models import ScratchSoftmaxRegression, initial_parameters
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import IMPL_NAMES, IMPLS, TrainConfig, as_pixels, confusion_matrix, one_thread, train

BATCH_SIZE, LR, WORKERS = 256, 0.1, 4  # the chapter's settings (d2l.get_dataloader_workers() == 4)


# --- the chapter's pipeline -------------------------------------------------------------------


def torchvision_layout(data_dir: Path, root: Path) -> Path:
    """``<root>/FashionMNIST/raw/<uncompressed files>``, where torchvision looks (it checks the unpacked names)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FILE_NAMES:
        source = find_file(data_dir, name)
        if source is None:
            raise DataError(f"{data_dir} lacks {name}(.gz)")
        if source.suffix == ".gz":
            (raw / name).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            (raw / name).symlink_to(source.resolve())
    return root


class ChapterPipeline:
    """d2l 3.5 + 3.7: DataLoaders over torchvision's dataset, the concise model, one epoch per call."""

    def __init__(self, root: Path, seed: int = 0):
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        warnings.filterwarnings("ignore", message="This DataLoader will create 4 worker")  # the book's choice, kept
        trans = transforms.ToTensor()
        train_set = datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
        test_set = datasets.FashionMNIST(root=str(root), train=False, transform=trans, download=False)
        self.train_iter = DataLoader(train_set, BATCH_SIZE, shuffle=True, num_workers=WORKERS)
        self.test_iter = DataLoader(test_set, BATCH_SIZE, shuffle=False, num_workers=WORKERS)
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        self.net.apply(lambda m: nn.init.normal_(m.weight, std=0.01) if isinstance(m, nn.Linear) else None)
        self.loss = nn.CrossEntropyLoss(reduction="none")
        self.trainer = torch.optim.SGD(self.net.parameters(), lr=LR)

    def epoch(self) -> dict:
        """``train_epoch_ch3`` then ``evaluate_accuracy``, timed together."""
        start = time.perf_counter()
        self.net.train()
        loss_sum, correct, n = 0.0, 0.0, 0
        for X, y in self.train_iter:
            y_hat = self.net(X)
            loss = self.loss(y_hat, y)
            self.trainer.zero_grad()
            loss.mean().backward()
            self.trainer.step()
            loss_sum += float(loss.sum().detach())
            correct += float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
            n += y.numel()
        self.net.eval()
        test_correct, test_n = 0.0, 0
        with torch.no_grad():
            for X, y in self.test_iter:
                test_correct += float((self.net(X).argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
                test_n += y.numel()
        seconds = time.perf_counter() - start
        return {
            "train_loss": loss_sum / n,
            "train_acc": correct / n,
            "test_acc": test_correct / test_n,
            "seconds": seconds,
        }


def reference_worker(conn, root: str, seed: int, threads: int | None) -> None:
    """The chapter's pipeline in its own process: one epoch per ``"epoch"`` message, until ``"stop"``.

    Its own process gives it torch's default threads (or ``threads``) and its
    DataLoader workers without touching the process that times ours.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    pipeline = ChapterPipeline(Path(root), seed)
    conn.send({"torch_threads": torch.get_num_threads()})
    while conn.recv() == "epoch":
        conn.send(pipeline.epoch())
    conn.close()


class SpawnedReference:
    """:func:`reference_worker` in a spawned process (a fresh interpreter), driven one epoch at a time."""

    def __init__(self, root: Path, seed: int = 0, threads: int | None = None):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=reference_worker, args=(child, str(root), seed, threads))
        self._process.start()
        child.close()
        self.torch_threads = self._receive()["torch_threads"]

    def _receive(self):
        try:
            return self._conn.recv()
        except EOFError:
            self._process.join(5)
            raise RuntimeError(f"the reference process ended (exit code {self._process.exitcode})") from None

    def epoch(self) -> dict:
        self._conn.send("epoch")
        return self._receive()

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()

    def __enter__(self) -> SpawnedReference:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- ours ---------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """The peak resident memory of this process in MiB (VmHWM).

    ``ru_maxrss`` would carry over the parent's peak (Linux keeps it across
    fork and execve), so it is only the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def our_path_peak_memory(data_dir: str, epochs: int) -> dict:
    """Load the data and train both models for ``epochs``; the peak memory after each stage, in MiB.

    Meant to run in a fresh process (:func:`peak_memory_of_our_path`), where
    the first figure is what importing torch and this package costs.
    """
    peaks = {"after_import_mib": peak_rss_mib()}
    data = load_fashion_mnist(data_dir, download=False)
    peaks["after_load_mib"] = peak_rss_mib()
    for impl in ("scratch", "concise"):
        train(TrainConfig(impl=impl, epochs=epochs), data)
        peaks[f"after_{impl}_mib"] = peak_rss_mib()
    peaks["peak_mib"] = peak_rss_mib()
    return peaks


def peak_memory_of_our_path(data_dir: Path, epochs: int) -> dict:
    """:func:`our_path_peak_memory` in a spawned process (a fresh interpreter: no pages of ours are counted)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(our_path_peak_memory, str(data_dir), epochs).result()


def time_cached_run(result, data, repeats: int = 20) -> dict:
    """Save a run to a temporary store, then time a fresh ``RunStore(root).get(key)`` + ``load_weights()``."""
    with tempfile.TemporaryDirectory(prefix="softmax-bench-runs-") as root:
        key = run_key(result.config, data.fingerprint)
        confusion = confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
        RunStore(root).save(key, result, confusion, data.fingerprint)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run = RunStore(root).get(key)
            weight, bias = run.load_weights()
            times.append(time.perf_counter() - start)
        if not torch.equal(weight, result.weight) or not torch.equal(bias, result.bias):
            raise RuntimeError("the stored weights differ from the trained ones")
    return {"median_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times), "repeats": repeats}


# --- the floor: the fastest loop we could write -------------------------------------------------

FLOORS = {
    "floor": "floor: the same updates and the epoch's three figures, nothing else",
    "floor_no_train_metrics": "floor without the train loss and accuracy",
}


def floor_epoch(data, seed: int = 0, train_metrics: bool = True) -> dict:
    """One epoch of the chapter's setting (batch 256, lr 0.1, N(0, 0.01²)) as fast as we could write it.

    The same updates as the by-hand model, from the same seed (the same initial draw and batch
    order), inlined, into buffers allocated once, on one thread, and nothing else: no stop or
    progress checks, no divergence checks, no batch-loss record, no snapshot. With
    ``train_metrics`` it also sums the train loss and counts the correct predictions (what the
    chapter's epoch reports); without, it takes the fused ``torch.softmax``. Both end with the
    test accuracy. Timed from the epoch's permutation to the test accuracy, as ``train`` times
    an epoch; returns the figures, the seconds and the final W (784, 10) and b.
    """
    with one_thread():
        generator = torch.Generator().manual_seed(seed)
        weight, bias = initial_parameters(0.01, generator)
        W_T, b = weight.T.contiguous(), bias.reshape(10, 1).clone()
        images, labels = data.train_images.reshape(len(data.train_images), -1), data.train_labels.reshape(1, -1)
        test_pixels = data.test_images.reshape(len(data.test_images), -1).to(torch.float32)
        n, scale = len(images), 1 / 255
        raw, pixels = torch.empty(BATCH_SIZE, 784, dtype=torch.uint8), torch.empty(BATCH_SIZE, 784)
        scores, y = torch.empty(10, BATCH_SIZE), torch.empty(1, BATCH_SIZE, dtype=torch.int64)
        minus_one = torch.full((1, BATCH_SIZE), -1.0)
        loss_sum, correct = 0.0, 0
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for first in range(0, n, BATCH_SIZE):
            index = order[first : first + BATCH_SIZE]
            size = len(index)
            if size != BATCH_SIZE:  # the last, shorter batch
                raw, pixels, scores, y, minus_one = (
                    raw[:size],
                    pixels[:size],
                    scores[:, :size],
                    y[:, :size],
                    minus_one[:, :size],
                )
            torch.index_select(images, 0, index, out=raw)
            pixels.copy_(raw)
            torch.index_select(labels, 1, index, out=y)
            O_T = torch.addmm(b, W_T, pixels.T, alpha=scale, out=scores)
            if train_metrics:
                top, predicted = O_T.max(0, keepdim=True)
                correct += int(predicted.eq_(y).sum())
                O_T -= top
                o_y = O_T.gather(0, y)
                Y_hat = O_T.exp_()
                Z = Y_hat.sum(0, keepdim=True)
                loss_sum += float(Z.log().sub_(o_y).sum())
                Y_hat /= Z
            else:
                Y_hat = torch.softmax(O_T, 0)
            G = Y_hat.scatter_add_(0, y, minus_one)
            W_T.addmm_(G, pixels, alpha=-LR * scale / size)
            b.sub_(G.sum(1, keepdim=True), alpha=LR / size)
        test_correct = int(torch.addmm(b.T, test_pixels, W_T.T, alpha=scale).argmax(1).eq_(data.test_labels).sum())
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "train_loss": loss_sum / n if train_metrics else None,
        "train_acc": correct / n if train_metrics else None,
        "test_acc": test_correct / len(data.test_labels),
        "weight": W_T.T.contiguous(),
        "bias": b.reshape(10).clone(),
    }


# --- the design choices inside our loop ---------------------------------------------------------


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def micro_benchmarks(data, repeats: int = 3, steps: int = 200) -> dict:
    """Seconds behind three choices in sgd_trainer.py and models.py, each against its alternative.

    * one torch thread against torch's default, for one epoch of each model;
    * ``images.index_select(0, idx)`` against ``images[idx]`` for one epoch of batch gathers;
    * scratch's W stored column by column (the layout of ``nn.Linear``) against row-major W,
      for ``steps`` SGD steps on one batch of 256.
    """
    default_threads = torch.get_num_threads()
    epoch = {}
    for impl in ("scratch", "concise"):
        config = TrainConfig(impl=impl, epochs=1)
        for threads in sorted({1, default_threads}):
            torch.set_num_threads(threads)
            try:  # _train: the loop without train()'s switch to one thread
                run = functools.partial(sgd_trainer._train, config, data, None, None, 20)
                epoch[f"{impl}_{threads}_threads"] = _median_seconds(run, repeats)
            finally:
                torch.set_num_threads(default_threads)

    images = data.train_images.reshape(len(data.train_images), -1)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    batches = [order[i : i + 256] for i in range(0, len(order), 256)]
    with one_thread():
        gather = {
            "index_select": _median_seconds(lambda: [images.index_select(0, idx) for idx in batches], repeats),
            "fancy_indexing": _median_seconds(lambda: [images[idx] for idx in batches], repeats),
        }
        X = as_pixels(images[:256])
        y = data.train_labels[:256]
        layout = {}
        for name in ("column_major", "row_major"):
            weight, bias = initial_parameters(0.01, torch.Generator().manual_seed(0))
            model = ScratchSoftmaxRegression(weight, bias, lr=0.1)
            if name == "row_major":
                model.W = weight.contiguous().requires_grad_(True)

            def steps_of(model=model):
                for _ in range(steps):
                    model.update(model.loss(model.output(model.scores(X)), y))

            layout[name] = _median_seconds(steps_of, repeats) / steps
    return {"default_threads": default_threads, "epoch_seconds": epoch, "gather_epoch_seconds": gather,
            "scratch_step_seconds": layout, "repeats": repeats}  # fmt: skip


def format_micro(report: dict) -> str:
    lines = [f"Median of {report['repeats']}; torch's default here: {report['default_threads']} thread(s)."]
    lines += [f"one epoch, {name.replace('_', ' ')}: {sec:.3f} s" for name, sec in report["epoch_seconds"].items()]
    gather = report["gather_epoch_seconds"]
    lines.append(
        f"one epoch of batch gathers: index_select {gather['index_select']:.3f} s, "
        f"images[idx] {gather['fancy_indexing']:.3f} s"
    )
    step = report["scratch_step_seconds"]
    lines.append(
        f"one scratch SGD step (batch 256): W column-major {1000 * step['column_major']:.3f} ms, "
        f"row-major {1000 * step['row_major']:.3f} ms"
    )
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------------


def _load_average() -> float:
    return os.getloadavg()[0]


def _row(seconds: list[float], reference_median: float, last_epoch: dict) -> dict:
    median = statistics.median(seconds)
    return {
        "median_epoch_seconds": median,
        "epoch_seconds": seconds,
        "speedup": reference_median / median,
        "last_epoch": last_epoch,
    }


def run_benchmark(
    data_dir: Path, epochs: int, log=print, reference_threads: int | None = None, repeats: int = 5
) -> dict:
    """``epochs`` rounds: one epoch of the chapter's pipeline, then ``repeats`` one-epoch runs of each of ours."""
    start = time.perf_counter()
    data = load_fashion_mnist(data_dir, download=False)
    load_seconds = time.perf_counter() - start
    log(f"loaded {data.source} in {load_seconds:.2f} s; measuring peak memory of our path in a spawned process ...")
    memory = peak_memory_of_our_path(data.source, epochs=1)

    runners = {impl: functools.partial(_our_epoch, impl, data) for impl in IMPLS}
    runners |= {name: functools.partial(_floor_epoch, data, name == "floor") for name in FLOORS}
    times: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}  # thread CPU seconds of each whole run
    by_hand_over_floor: list[float] = []  # paired: the by-hand run and the floor run of the same repeat
    last: dict[str, dict] = {}
    reference = []
    load_average = {"start": list(os.getloadavg()), "rounds": []}
    with (
        tempfile.TemporaryDirectory(prefix="softmax-bench-torchvision-") as tmp,
        SpawnedReference(torchvision_layout(data.source, Path(tmp)), threads=reference_threads) as pipeline,
    ):
        for epoch in range(1, epochs + 1):
            reference.append(pipeline.epoch())
            names = list(runners)
            for repeat in range(repeats):
                shift = (epoch * repeats + repeat) % len(names)  # rotate, so no one always runs first
                for name in names[shift:] + names[:shift]:
                    cpu_start = time.thread_time()
                    last[name] = runners[name](seed=epoch - 1)
                    cpu[name].append(time.thread_time() - cpu_start)
                    times[name].append(last[name]["seconds"])
                by_hand_over_floor.append(times["byhand"][-1] / times["floor"][-1])
            load_average["rounds"].append(_load_average())
            log(
                f"round {epoch}/{epochs}: chapter pipeline {1000 * reference[-1]['seconds']:.0f} ms; "
                + ", ".join(f"{name} {1000 * statistics.median(t[-repeats:]):.1f}" for name, t in times.items())
                + f" ms (median of {repeats}); load average {load_average['rounds'][-1]:.2f}"
            )
        reference_threads_used = pipeline.torch_threads
    load_average["end"] = list(os.getloadavg())
    cached = time_cached_run(last["concise"].pop("result"), data)
    ref_median = statistics.median(r["seconds"] for r in reference)
    for row in last.values():
        row.pop("result", None)
    return {
        "epochs": epochs,
        "repeats": repeats,
        "reference_torch_threads": reference_threads_used,
        "cpu_count": os.cpu_count(),
        "load_seconds": load_seconds,
        "reference": {
            "what": "torchvision FashionMNIST + ToTensor + DataLoader(256, shuffle, num_workers=4), concise model",
            "median_epoch_seconds": ref_median,
            "epoch_seconds": [r["seconds"] for r in reference],
            "last_epoch": reference[-1],
        },
        "ours": {impl: _row(times[impl], ref_median, last[impl]) for impl in IMPLS},
        "floors": {name: _row(times[name], ref_median, last[name]) for name in FLOORS},
        "byhand_over_floor": {
            "median_of_pairs": statistics.median(by_hand_over_floor),
            "of_medians": statistics.median(times["byhand"]) / statistics.median(times["floor"]),
            "of_cpu_medians": statistics.median(cpu["byhand"]) / statistics.median(cpu["floor"]),
        },
        # Thread CPU time of each one-epoch run, its setup included (the model, the test pixels):
        # what the run cost the core, which the other processes on a shared machine change far less.
        "cpu_median_seconds": {name: statistics.median(seconds) for name, seconds in cpu.items()},
        "memory": memory,
        "cached_run": cached,
        "load_average": load_average,
        "load_average_end": load_average["end"][0],
    }


def _our_epoch(impl: str, data, seed: int) -> dict:
    """One fresh one-epoch run of ``train``: an epoch of training + the test pass, as timed for the reference."""
    result = train(TrainConfig(impl=impl, epochs=1, seed=seed), data)
    return {**dataclasses.asdict(result.history[0]), "result": result}


def _floor_epoch(data, train_metrics: bool, seed: int) -> dict:
    row = floor_epoch(data, seed, train_metrics)
    del row["weight"], row["bias"]
    return row


def format_table(report: dict) -> str:
    ref = report["reference"]["median_epoch_seconds"]
    rows = [("chapter pipeline (DataLoader, 4 workers), concise", ref, 1.0)]
    for impl, o in report["ours"].items():
        rows.append((f"ours, in-memory tensors, {impl}: {IMPL_NAMES[impl]}", o["median_epoch_seconds"], o["speedup"]))
    for name, o in report["floors"].items():
        rows.append((FLOORS[name], o["median_epoch_seconds"], o["speedup"]))
    load = report["load_average"]
    rounds = load["rounds"]
    lines = [
        f"Milliseconds per epoch (training + test pass): the chapter's median of {report['epochs']}, "
        f"ours median of {report['epochs']} x {report['repeats']}, all in this one run.",
        f"{'pipeline':<72} {'ms/epoch':>9} {'x chapter':>10}",
    ]
    lines += [f"{name:<72} {1000 * sec:>9.1f} {speed:>9.1f}x" for name, sec, speed in rows]
    over = report["byhand_over_floor"]
    mem, cached = report["memory"], report["cached_run"]
    cpu_ms = ", ".join(f"{name} {1000 * sec:.1f}" for name, sec in report["cpu_median_seconds"].items())
    lines += [
        f"by hand / floor: {over['median_of_pairs']:.2f} (median of the paired runs), "
        f"{over['of_medians']:.2f} (ratio of the medians), {over['of_cpu_medians']:.2f} (ratio of CPU medians)",
        f"CPU ms per one-epoch run, setup included (thread time, median): {cpu_ms}",
        f"load average (1, 5, 15 min): at the start {_triple(load['start'])}, at the end {_triple(load['end'])}; "
        f"1 min after each round {min(rounds):.2f} to {max(rounds):.2f}",
        "",
        f"load Fashion-MNIST (4 gzip files -> uint8 tensors): {report['load_seconds']:.2f} s",
        f"peak memory of our path (own process, load + 1 epoch of each model): {mem['peak_mib']:.0f} MiB",
        f"  after import torch {mem['after_import_mib']:.0f}, after loading {mem['after_load_mib']:.0f}, "
        f"after scratch {mem['after_scratch_mib']:.0f}, "
        f"after concise (first optimizer.step) {mem['after_concise_mib']:.0f} MiB",
        f"show a cached run (RunStore.get + load_weights): {cached['median_ms']:.1f} ms median of {cached['repeats']}",
        f"{report['cpu_count']} CPUs; reference trained on {report['reference_torch_threads']} torch thread(s), "
        "ours on 1; "
        f"load average at the end {report['load_average_end']:.1f}",
    ]
    return "\n".join(lines)


def _triple(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_training", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", help="folder with the four Fashion-MNIST files (default: $SOFTMAX_DATA_DIR or the cache)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per pipeline (median taken), default 3")
    parser.add_argument(
        "--repeats", type=int, default=5, help="one-epoch runs of each of ours per round (median taken), default 5"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (last line of stdout)")
    parser.add_argument(
        "--reference-threads",
        type=int,
        help="torch threads for the reference's training (default: torch's default, as d2l runs)",
    )
    parser.add_argument(
        "--micro", action="store_true", help="instead: time the loop's design choices (threads, gathers, W's layout)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.epochs <= 50:
        parser.exit(2, "error: --epochs must be between 1 and 50\n")
    if not 1 <= args.repeats <= 50:
        parser.exit(2, "error: --repeats must be between 1 and 50\n")
    if args.reference_threads is not None and not 1 <= args.reference_threads <= 64:
        parser.exit(2, "error: --reference-threads must be between 1 and 64\n")
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else print
    try:
        data_dir = resolve_data_dir(args.data_dir)
        if args.micro:
            report = micro_benchmarks(load_fashion_mnist(data_dir, download=False), repeats=args.epochs)
        else:
            report = run_benchmark(
                data_dir, args.epochs, log=log, reference_threads=args.reference_threads, repeats=args.repeats
            )
    except DataError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.json:
        print(json.dumps(report))
    else:
        print()
        print(format_micro(report) if args.micro else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
