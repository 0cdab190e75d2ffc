"""Start-up cost: `import tpusim` and `tpusim --help`, against a bare interpreter, in one run.

Issue 10's target: both under 0.5 s. Each command runs ``--repeat`` times in a fresh process;
the median wall time is printed with its ratio to ``python -c pass`` on the same machine.

    python bench/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bare = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    rows = {
        "import tpusim": [sys.executable, "-c", "import tpusim"],
        "tpusim --help": [sys.executable, "-m", "tpusim.cli", "--help"],
    }
    api = [sys.executable, "-c", "import tpusim; tpusim.run"]
    print(f"bare interpreter: {bare:.3f} s (median of {args.repeat})")
    for label, command in rows.items():
        t = median_seconds(command, args.repeat)
        print(f"{label:16s} {t:6.3f} s  ({t / bare:5.1f}x bare; target < 0.5 s: {'met' if t < 0.5 else 'NOT met'})")
    t = median_seconds(api, args.repeat)
    print(f"first use of the API (numpy, scipy, pandas, pydantic, networkx load): {t:.3f} s (no target)")


if __name__ == "__main__":
    main()
