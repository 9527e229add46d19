"""Server-side rerun time of each page after a slider change, measured with AppTest.

    python scripts/bench_pages.py [--runs 20] [--json]

For every page in pages/catalog.py that has a numeric slider, it runs the page
once (warm-up: caches filled, as for a lecturer who already opened it), then
moves the first slider back and forth between two values `--runs` times and
times each `AppTest.run()`. Prints the median and 90th percentile per page.
This is a measurement, not a test: the numbers go into the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from pages.catalog import PAGES  # noqa: E402


def two_values(slider) -> tuple:
    """The slider's current value and one about a third of the way along its range."""
    lo, hi = slider.min, slider.max
    other = lo + (hi - lo) / 3
    if isinstance(slider.value, int) and isinstance(lo, int):
        other = int(round(other))
    if other == slider.value:
        other = hi
    return slider.value, other


def bench_page(path: str, runs: int) -> dict | None:
    at = AppTest.from_file(str(ROOT / path), default_timeout=120).run()
    if at.exception:
        raise RuntimeError(f"{path} raised on its first run: {at.exception[0].message}")
    sliders = [s for s in at.slider if not isinstance(s.value, (list, tuple))]
    if not sliders:
        return None
    key, label = sliders[0].key, sliders[0].label
    values = two_values(sliders[0])
    times = []
    for i in range(runs):
        slider = at.slider(key=key) if key else at.slider[0]
        slider.set_value(values[(i + 1) % 2])
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
        if at.exception:
            raise RuntimeError(f"{path} raised: {at.exception[0].message}")
    times.sort()
    return {
        "page": path,
        "slider": label,
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [row for page in PAGES if (row := bench_page(page.path, args.runs))]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'page':38} {'slider moved':28} {'median ms':>10} {'p90 ms':>8}")
    for row in rows:
        print(f"{row['page']:38} {row['slider'][:28]:28} {row['median_ms']:10.1f} {row['p90_ms']:8.1f}")


if __name__ == "__main__":
    main()
