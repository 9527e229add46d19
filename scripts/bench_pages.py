"""Server-side rerun time of each exploration page after a control change, measured with AppTest.

    python scripts/bench_pages.py [--runs 20] [--json]

Each page runs once first (caches warm, as for a lecturer who already opened it),
then its main control moves back and forth between two values `--runs` times and
each `AppTest.run()` is timed. Prints the median and 90th percentile per page.
A measurement, not a test: the numbers go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402


@dataclass(frozen=True)
class Move:
    """A control a lecturer moves live, and the two values it alternates between."""

    page: str
    kind: str  # AppTest accessor: slider, select_slider, radio
    key: str
    values: tuple


MOVES = [
    Move("pages/softmax_temperature.py", "select_slider", "sm_T", (0.5, 2.0)),
    Move("pages/loss_curves.py", "slider", "loss_y_hat", (-3.0, 2.5)),
    Move("pages/loss_curves.py", "slider", "loss_lr", (0.5, 1.5)),
    Move("pages/cross_entropy_steps.py", "radio", "step", (2, 4)),
]


def bench(move: Move, runs: int) -> dict:
    at = AppTest.from_file(str(ROOT / move.page), default_timeout=120).run()
    if at.exception:
        raise RuntimeError(f"{move.page} raised on its first run: {at.exception[0].message}")
    times = []
    for i in range(runs):
        getattr(at, move.kind)(key=move.key).set_value(move.values[i % 2])
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
        if at.exception:
            raise RuntimeError(f"{move.page} raised: {at.exception[0].message}")
    times.sort()
    return {
        "page": move.page,
        "control": f"{move.kind} {move.key}",
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [bench(move, args.runs) for move in MOVES]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'page':32} {'control moved':26} {'median ms':>10} {'p90 ms':>8}")
    for row in rows:
        print(f"{row['page']:32} {row['control']:26} {row['median_ms']:10.1f} {row['p90_ms']:8.1f}")


if __name__ == "__main__":
    main()
