"""A/B of a simulation's cost in executed instructions (valgrind), not in seconds.

Wall time on a shared or virtual machine moves by 10 % from run to run (the same code measured
2.65 s and 3.43 s minutes apart on the 2-core CI-sized machine), which hides the few-per-cent
steps a hot path is improved by. Instructions executed are the same from run to run to about
0.2 %. This script runs one replication of a scenario (default ``scenarios/tpuv4_pod_jobs.yaml``,
a job simulation; ``--scenario scenarios/tpuv4_pod.yaml --days 36500`` measures the capacity
engine) under valgrind's
cachegrind (no cache model) for a git revision (checked out in a temporary worktree) and for the
working tree, subtracts a run of a few seconds' horizon from each (imports and set-up), and
prints the ratio of the simulation's instructions. Both decisions must be the same for the
ratio to mean anything: check the job records first (the golden tests and the oracle test do).

Usage: python bench/compare_instructions.py REV [--days 30] [--policy reconfigurable] [--pods 1]
       [--scenario scenarios/tpuv4_pod_jobs.yaml]
Needs valgrind on the PATH. Not a timing target: the benches in this folder report those.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = """
import sys
from tpusim import build_model, load_scenario
from tpusim.engine.replication import simulate
path, days, policy, pods = sys.argv[1:5]
scenario = load_scenario(path,
                         [f"horizon_days={days}", f"policies=[{policy}]", f"topology.pods={pods}"])
simulate(build_model(scenario), 0)
"""


def instructions(tree: Path, scenario: str, days: float, policy: str, pods: int) -> int:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, "-c", RUN, scenario, str(days), policy, str(pods)],
                         cwd=tree, env=env, capture_output=True, text=True, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    assert match, out.stderr[-2000:]
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--policy", default="reconfigurable")
    parser.add_argument("--pods", type=int, default=1)
    parser.add_argument("--scenario", default="scenarios/tpuv4_pod_jobs.yaml", help="relative to the repository root")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind is not on the PATH")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.rev], check=True)
        try:
            for tree in (base, ROOT):  # compile both once (a stale .pyc would be compiled in one run only)
                subprocess.run([sys.executable, "-c", RUN, args.scenario, "0.001", args.policy, str(args.pods)],
                               cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)), check=True)
            jobs = [(tree, days) for tree in (base, ROOT) for days in (0.001, args.days)]
            with ThreadPoolExecutor(2) as pool:
                counts = list(pool.map(lambda job: instructions(job[0], args.scenario, job[1], args.policy, args.pods),
                                       jobs))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    before, after = counts[1] - counts[0], counts[3] - counts[2]
    print(f"{Path(args.scenario).name}, {args.policy}, {args.pods} pod(s), {args.days:g} days: "
          f"{args.rev} {before:,} instructions, "
          f"working tree {after:,}: ratio {after / before:.3f}")


if __name__ == "__main__":
    main()
