"""A corpus of bad and hostile inputs: every case exits 2 with clear ``error:`` lines (no
traceback), within a time bound, before any simulation, and leaves no output behind.

The corpus covers what a review of the CLI found (issue 11): broken files and encodings,
non-regular files, YAML with duplicate keys or an alias bomb, runs too large to simulate,
bad baselines for ``check``, sweep grammar errors, output directories that cannot be written
and unreachable schedulers; plus a bad value for every kind of scenario key.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SCENARIOS
from tpusim.cli import app

runner = CliRunner()
POD = str(SCENARIOS / "tpuv4_pod.yaml")
JOBS = str(SCENARIOS / "tpuv4_pod_jobs.yaml")
SECONDS = 10.0  # every refusal is quick: nothing is simulated


def _bomb() -> str:
    lines = ["  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"  x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "name: bomb\nworkload:\n" + "\n".join(lines) + "\ndescription: *a8\n"


FILES = {  # name -> (bytes of the scenario file, what the error says)
    "binary": (b"\x00\x01\x02\xff", "binary data"),
    "utf16": ("name: x\n".encode("utf-16"), "UTF-16"),
    "latin1": ("name: caf\xe9\nslices: [4x4x4]\n".encode("latin-1"), "not UTF-8"),
    "empty": (b"", "slices: required key is missing"),
    "list": (b"- a\n- b\n", "must be a mapping"),
    "scalar": (b"just text\n", "must be a mapping"),
    "syntax": (b"name: [unclosed\n", "YAML syntax error at line"),
    "tabs": (b"name: x\nfailures:\n\thost: 1\n", "YAML syntax error"),
    "duplicate": (b"name: a\nname: b\nslices: [4x4x4]\n", "given twice"),
    "nested_duplicate": (b"name: a\nslices: [4x4x4]\nfailures:\n  host: {daily_rate: 0.1, daily_rate: 0.2}\n",
                         "given twice"),
    "alias_bomb": (_bomb().encode(), "alias bomb"),
    "unknown_key": (b"name: a\nslices: [4x4x4]\nbogus: 1\n", "bogus: unknown key"),
    "bad_policy": (b"name: a\nslices: [4x4x4]\npolicies: [nosuch]\n", "policies"),
    "bad_shape": (b"name: a\nslices: [4x4]\n", "slices"),
    "huge_file": (b"# " + b"x" * (5 * 1024 * 1024) + b"\n", "too large"),
}

SETS = [  # --set overrides on the canonical scenario, each bad in its own way
    "horizon_days=0", "horizon_days=-1", "horizon_days=abc", "horizon_days=null", "horizon_days=[1]",
    "replications=0", "replications=1.5", "replications=abc", "replications=-3",
    "seed=-1", "seed=abc", "seed=1.5",
    "name=", "policies=[]", "policies=[nosuch]", "policies=[static, static]", "policies=static",
    "slices=[]", "slices=[3x3x3]", "slices=[4x4x4x4]", "slices=[0x4x4]", "slices=[4x4x400]", "slices=5",
    "topology.cube_grid=[0,1,1]", "topology.cube_grid=[4,4]", "topology.cube_grid=abc",
    "topology.pods=0", "topology.pods=-1", "topology.cube_shape=[3,3,3]", "topology.hosts_per_cube=7",
    "topology.chips_per_host=3", "topology.ocs_per_pod=5", "topology.ocs_ports=10",
    "topology.static_cable_ends=3", "topology.bogus=1",
    "failures.host.daily_rate=-0.1", "failures.host.daily_rate=abc", "failures.host.daily_rate=null",
    "failures.host.repair.mean_hours=0", "failures.host.repair.mean_hours=-3",
    "failures.host.repair.dist=weibull", "failures.host.repair.sigma=-1",
    "failures.ici_link.daily_rate=-1", "failures.ocs.daily_rate=-1", "failures.ocs.repair=3",
    "failures.detection_minutes=-5", "failures.ocs_control_plane_share=1.5",
    "failures.ocs_control_plane_share=-0.1", "failures.trace=/no/such/trace.csv", "failures.nosuch.daily_rate=1",
    "capacity_confidence=0", "capacity_confidence=1.5", "timeseries_days=0", "timeseries_days=-1",
    "bogus=1", "failures.host.bogus=1",
    "noequals", "=1", "a..b=1", "name={a: 1, a: 2}",
    # runs too large to simulate, refused with how much they would need
    "horizon_days=1e9", "replications=1000000000", "topology.cube_grid=[1000,1000,1000]", "topology.pods=100000",
]

JOB_SETS = [  # on the jobs scenario
    "workload.jobs_per_pod_day=-1", "workload.daily_rate_cv=-1", "workload.duration.mean_hours=0",
    "workload.duration.dist=nosuch", "workload.priorities.production=-1", "workload.checkpoint.interval_hours=0",
    "workload.checkpoint.interval_hours=sometimes", "workload.restart_minutes=-1", "workload.mix=/no/such/mix.csv",
    "workload.trace=/no/such/jobs.csv", "scheduler.defrag_wait_hours=-1", "scheduler.defrag_retry_minutes=0",
    "scheduler.preemption=maybe", "pod_manager.reconfigure_minutes=-1", "pod_manager.ft_routing.max_faults=-1",
    "pod_manager.ft_routing.comm_fraction.allreduce=2", "workload.traffic.allreduce=-1",
    "workload.jobs_per_pod_day=1e9", "scheduler.bogus=1",
]

BASELINES = {  # name -> (text of the baseline file, what the error says)
    "corrupt": ("{", "not a JSON baseline"),
    "empty": ("", "not a JSON baseline"),
    "list": ("[1, 2]", "must be a JSON object"),
    "string": ('"x"', "must be a JSON object"),
    "no_metrics": ('{"scenario": "x"}', "metrics: missing"),
    "empty_metrics": ('{"metrics": {}}', "metrics: missing"),
    "metric_not_object": ('{"metrics": {"a": 1}}', "metrics.a"),
    "mean_string": ('{"metrics": {"a": {"mean": "x", "sd": 0, "n": 5}}}', "metrics.a.mean"),
    "sd_negative": ('{"metrics": {"a": {"mean": 1, "sd": -1, "n": 5}}}', "metrics.a.sd"),
    "n_one": ('{"metrics": {"a": {"mean": 1, "sd": 0, "n": 1}}}', "metrics.a.n"),
    "n_float": ('{"metrics": {"a": {"mean": 1, "sd": 0, "n": 2.5}}}', "metrics.a.n"),
    "binary": ("\x00\x01", "binary data"),
}


def refused(args: list[str], expect: str | None = None, out: Path | None = None) -> None:
    start = time.perf_counter()
    result = runner.invoke(app, args)
    elapsed = time.perf_counter() - start
    text = result.output
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{text}\n{result.exception!r}"
    assert "Traceback" not in text and not isinstance(result.exception, (AssertionError, TypeError, KeyError))
    assert "error" in text.lower(), text
    if expect is not None:
        assert expect in text, f"{args}: {expect!r} not in\n{text}"
    assert elapsed < SECONDS, f"{args}: took {elapsed:.1f} s to refuse"
    if out is not None:  # nothing written, not even a half-made directory of results
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_scenario_files_are_refused(tmp_path, name, command):
    data, expect = FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    args = [command, str(path)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    refused(args, expect, tmp_path / "out")


@pytest.mark.parametrize("where", ["directory", "fifo", "device", "missing"])
def test_files_that_are_not_scenario_files_are_refused_at_once(tmp_path, where):
    if where == "directory":
        path, expect = tmp_path, "is a directory"
    elif where == "fifo":
        path, expect = tmp_path / "pipe.yaml", "not a regular file"
        os.mkfifo(path)  # reading it would block for ever
    elif where == "device":
        path, expect = Path("/dev/zero"), "not a regular file"  # reading it would never end
    else:
        path, expect = tmp_path / "nope.yaml", "no such file"
    refused(["validate", str(path)], expect)


@pytest.mark.parametrize("override", SETS)
def test_bad_overrides_are_refused_with_their_key(tmp_path, override):
    refused(["run", POD, "--set", override, "--out", str(tmp_path / "out")], out=tmp_path / "out")


@pytest.mark.parametrize("override", JOB_SETS)
def test_bad_workload_overrides_are_refused(tmp_path, override):
    refused(["run", JOBS, "--set", override, "--out", str(tmp_path / "out")], out=tmp_path / "out")


def test_too_large_runs_say_how_large():
    for override, expect in (("horizon_days=1e9", "failures and repairs"),
                             ("topology.cube_grid=[1000,1000,1000]", "failing parts"),
                             ("replications=1000000000", "replications")):
        refused(["validate", POD, "--set", override], expect)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_bad_baselines_are_refused_before_the_run(tmp_path, name):
    text, expect = BASELINES[name]
    path = tmp_path / "base.json"
    path.write_text(text)
    refused(["check", POD, "--baseline", str(path)], expect)  # within the bound: nothing was simulated


@pytest.mark.parametrize("args, expect", [
    (["--baseline", "{tmp}/nope.json"], "no such file"),
    (["--baseline", "{tmp}"], "is a directory"),
    (["--baseline", "{tmp}/b.json", "--alpha", "0"], "--alpha"),
    (["--baseline", "{tmp}/b.json", "--alpha", "1"], "--alpha"),
    (["--baseline", "{tmp}/b.json", "--set", "replications=1"], "at least 2"),
])
def test_bad_check_options_are_refused(tmp_path, args, expect):
    (tmp_path / "b.json").write_text(json.dumps({"metrics": {"a": {"mean": 1, "sd": 0, "n": 5}}}))
    refused(["check", POD] + [a.format(tmp=tmp_path) for a in args], expect)


@pytest.mark.parametrize("vary, expect", [
    (["failures.host.daily_rate"], "KEY=V1"),
    (["failures.host.daily_rate="], "KEY=V1"),
    (["=0.1,0.2"], "KEY=V1"),
    (["failures.host.daily_rate=0.1,0.1"], "given twice"),
    (["failures.host.daily_rate=0.1", "failures.host.daily_rate=0.2"], "given twice"),
    (["failures.host.daily_rate=[0.1"], "not a YAML list"),
    (["failures.nosuch=1,2"], "failures.nosuch"),
    (["failures.host.daily_rate=-1,0.1"], "daily_rate"),
    (["horizon_days=abc,1"], "horizon_days"),
    (["topology.cube_grid=[0,1,1],[4,4,4]"], "cube_grid"),
])
def test_bad_sweep_grids_are_refused(tmp_path, vary, expect):
    args = ["sweep", POD, "--out", str(tmp_path / "out")]
    for v in vary:
        args += ["--vary", v]
    refused(args, expect, tmp_path / "out")


def test_unwritable_outputs_and_unreachable_schedulers_are_refused_before_the_run(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    refused(["run", POD, "--out", str(a_file)], "not a directory")
    refused(["run", POD, "--out", str(a_file / "below")], "not a directory")
    refused(["sweep", POD, "--vary", "failures.host.daily_rate=0.1", "--out", str(a_file)], "not a directory")
    refused(["run", POD, "--out", str(tmp_path / "o"), "--scheduler-address", "tcp://127.0.0.1:9"],
            "no Dask scheduler")
    refused(["run", POD, "--out", str(tmp_path / "o"), "--scheduler-address", "nonsense"], "tcp://HOST:PORT")


def test_earlier_results_are_not_overwritten_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    refused(["run", POD, "--out", str(out)], "--force")
    assert (out / "summary.json").read_text() == "{}"
    (out / "sweep.csv").write_text("x")
    refused(["sweep", POD, "--vary", "failures.host.daily_rate=0.1", "--out", str(out)], "--resume")
    result = runner.invoke(app, ["run", POD, "--out", str(out), "--force", "--set", "replications=2",
                                 "--set", "horizon_days=2", "--no-plot"])
    assert result.exit_code == 0, result.output
    assert "policies" in (out / "summary.json").read_text()


def test_version_and_short_help():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tpusim {version('tpusim')}"  # the metadata's
    for args in (["-h"], ["run", "-h"], ["sweep", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output


def test_a_list_can_be_swept(tmp_path):
    """The sweep grammar takes any YAML value, lists included."""
    result = runner.invoke(app, ["sweep", POD, "--vary", "slices=[4x4x4],[4x4x8]", "--set", "replications=2",
                                 "--set", "horizon_days=5", "--out", str(tmp_path / "out"), "--no-plot"])
    assert result.exit_code == 0, result.output
    assert "2 points" in result.output
