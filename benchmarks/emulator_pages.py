"""What one list page of a large collection costs the emulator, in CPU time.

Every request holds the emulator's one lock, so a page that sorted the whole collection
(~35 ms for 30k orders) would serialize every test client behind it; an unfiltered page
is a slice. This was a CPU budget inside tests/emulator/test_pagination.py, which failed
whenever the machine was busy; here it is measured and reported instead.

    .venv/bin/python benchmarks/emulator_pages.py --orders 30000 --pages 20 [--markdown BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from polar_emulator import Emulator

START, END = "<!-- emulator-pages:start -->", "<!-- emulator-pages:end -->"


def measure(orders: int, pages: int, repeats: int) -> dict[str, float]:
    emu = Emulator(frozen_clock=True, rng_seed=5)
    emu.bulk_seed(customers=10, orders=orders)
    headers = {"Authorization": "Bearer t"}
    runs: list[float] = []
    for _ in range(repeats):
        started = time.process_time()
        for page in range(1, pages + 1):
            status, _, _ = emu.handle("GET", f"/v1/orders/?page={page}&limit=100", headers)
            assert status == 200
        runs.append(time.process_time() - started)
    best = min(runs)
    return {
        "best_s": best,
        "median_s": statistics.median(runs),
        "per_page_ms": best / pages * 1000,
    }


def report(args: argparse.Namespace, result: dict[str, float]) -> str:
    command = (
        f"`.venv/bin/python benchmarks/emulator_pages.py --orders {args.orders} "
        f"--pages {args.pages} --repeats {args.repeats}`"
    )
    return "\n".join(
        [
            START,
            "## Emulator list pages (`benchmarks/emulator_pages.py`)",
            "",
            f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; load average "
            f"{[round(x, 1) for x in os.getloadavg()]} (1/5/15 min).",
            f"Command: {command}",
            "",
            "CPU time (`time.process_time`) of GET /v1/orders/ pages of 100 over "
            f"{args.orders:,} orders, best and median of {args.repeats} runs. Target: a page "
            "costs about the page (a slice), not a sort of the collection (~35 ms).",
            "",
            "| orders | pages | best s | median s | per page ms |",
            "|---|---|---|---|---|",
            f"| {args.orders:,} | {args.pages} | {result['best_s']:.3f} | "
            f"{result['median_s']:.3f} | {result['per_page_ms']:.2f} |",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="update this file's section")
    args = parser.parse_args()
    text = report(args, measure(args.orders, args.pages, args.repeats))
    print(text)
    if args.markdown:
        current = args.markdown.read_text() if args.markdown.exists() else "# Benchmarks\n"
        if START in current:
            head, rest = current.split(START, 1)
            current = head + text + rest.split(END, 1)[1]
        else:
            current = current.rstrip("\n") + "\n\n" + text + "\n"
        args.markdown.write_text(current)


if __name__ == "__main__":
    main()
