"""Server CPU per warm run of one page: one session runs it again and again with the same query, as a
lecture's follower does after each change (the class and lecture benchmarks measure whole crowds).

    python scripts/bench_rerun.py --url http://127.0.0.1:8501 --server-pid PID [--page loss_curves]
        [--query loss_y_hat=1.3] [--runs 300]

A measurement, not a test: the figures go into docs/lecture-mode.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.class_sessions import Session, cpu_seconds  # noqa: E402

WARM_RUNS = 5


async def measure(url: str, pid: int, page: str, query: str, runs: int) -> dict:
    session = Session(url)
    await session.connect(30)
    try:
        for _ in range(WARM_RUNS):  # the page's caches filled, as for every follower after the first
            load = await session.load(page, query)
        if load.error:
            raise SystemExit(f"{page}: {load.error}")
        cpu0, wall0 = cpu_seconds([pid]), time.perf_counter()
        for _ in range(runs):
            await session.load(page, query)
        cpu, wall = cpu_seconds([pid]) - cpu0, time.perf_counter() - wall0
    finally:
        await session.close()
    return {
        "page": page,
        "cpu_ms_per_run": 1000 * cpu / runs,
        "wall_ms_per_run": 1000 * wall / runs,
        "kb": load.bytes / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--page", default="loss_curves")
    parser.add_argument("--query", default="loss_y_hat=1.3")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    result = asyncio.run(measure(args.url, args.server_pid, args.page, args.query, args.runs))
    print(
        f"{result['page']}: {result['cpu_ms_per_run']:.1f} ms of server CPU per run "
        f"({result['wall_ms_per_run']:.1f} ms wall, {result['kb']:.0f} KB sent)"
    )


if __name__ == "__main__":
    main()
