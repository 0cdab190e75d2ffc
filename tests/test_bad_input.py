"""A corpus of bad and hostile inputs: every case exits 2 with exactly one ``error:`` line
(no traceback) that names the file, the key path or the CSV line and column, before any
simulation, and leaves no output behind.

The corpus covers what a review of the CLI found (issue 11): broken files and encodings,
non-regular files, YAML with duplicate keys or an alias bomb, runs too large to simulate,
bad baselines for ``check``, sweep grammar errors, output directories that cannot be written
and unreachable schedulers; plus a bad value for every kind of scenario key. Issue 29 added
scenario names that would lead outside ``out/``, rich markup in user text, non-finite and
mistyped numbers (YAML booleans, non-ASCII digits), hostile CSV files (a byte-order mark,
short rows, NaN, duplicate and unknown columns), recursive aliases, devices as traces, tiny
time-series buckets and resumed sweeps that do not match.

Speed is not asserted here (DESIGN §6: bench/ measures it); the refusals are quick because
nothing is simulated. Error lines are printed unwrapped (soft wrap), so the assertions do not
depend on the terminal's width or on the path of the checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SCENARIOS
from tpusim.cli import app

runner = CliRunner()
POD = str(SCENARIOS / "tpuv4_pod.yaml")
JOBS = str(SCENARIOS / "tpuv4_pod_jobs.yaml")


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
    # issue 29: booleans, non-finite numbers and values Python cannot make, recursion
    "yaml_bool": (b"name: a\nslices: [4x4x4]\nhorizon_days: on\n", "horizon_days: must be a number, got the boolean"),
    "yaml_bool_nested": (b"name: a\nslices: [4x4x4]\nfailures: {host: {daily_rate: yes}}\n",
                         "failures.host.daily_rate: must be a number"),
    "yaml_inf": (b"name: a\nslices: [4x4x4]\nhorizon_days: .inf\n", "horizon_days: must be a finite number"),
    "yaml_nan": (b"name: a\nslices: [4x4x4]\nfailures: {ocs: {repair: {mean_hours: .nan}}}\n",
                 "failures.ocs.repair.mean_hours: must be a finite number"),
    "recursive_alias": (b"name: a\nslices: [4x4x4]\ndescription: &x [*x]\n", "recursive alias"),
    "recursive_mapping": (b"name: a\nslices: [4x4x4]\nfailures: &x {host: *x}\n", "recursive alias"),
    "huge_integer": (b"name: a\nslices: [4x4x4]\nseed: " + b"9" * 5000 + b"\n", "line 3, column 7: cannot read"),
    "impossible_date": (b"name: 2020-13-45\nslices: [4x4x4]\n", "line 1, column 7: cannot read '2020-13-45'"),
    "name_newline": (b"name: \"a\\nb\"\nslices: [4x4x4]\n", "name: must be one line of printable text"),
    "name_nul": (b"name: \"a\\0b\"\nslices: [4x4x4]\n", "name: must be one line of printable text"),
    "typo_suggested": (b"name: a\nslices: [4x4x4]\nhorizon_day: 3\n", "horizon_day: unknown key (did you mean horizon_days?)"),
    "short_grid": (b"name: a\nslices: [4x4x4]\ntopology: {cube_grid: [4, 4]}\n",
                   "topology.cube_grid: needs 3 values (x, y, z), got 2"),
    "arabic_digits": ("name: a\nslices: [٤x٤x٤]\n".encode(), "slices[0]: must be a shape like"),
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


#: inputs with several problems, each on its own error line (the rest have one problem)
SEVERAL = {"empty", "topology.cube_shape=[3,3,3]"}  # name and slices missing; every slice misfits


def refused(args: list[str], expect: str | None = None, out: Path | None = None, *also: str,
            several: bool = False) -> str:
    """Run the CLI; assert exit 2, no traceback, exactly one ``error:`` line (``several``: at
    least one) holding ``expect`` (and every one of ``also``), and nothing in ``out``. Returns
    the (first) error line."""
    result = runner.invoke(app, args)
    text = result.output
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{text}\n{result.exception!r}"
    assert "Traceback" not in text and isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 or several and errors, f"{args}: expected one error line, got\n{text}"
    for part in (expect, *also):
        if part is not None:
            assert any(part in line for line in errors), f"{args}: {part!r} not in\n{text}"
    if out is not None:  # nothing written, not even a half-made directory of results
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    return errors[0]


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_scenario_files_are_refused(tmp_path, name, command):
    data, expect = FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    args = [command, str(path)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    refused(args, expect, tmp_path / "out", str(path), several=name in SEVERAL)  # the file is named


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
    refused(["run", POD, "--set", override, "--out", str(tmp_path / "out")], out=tmp_path / "out",
            several=override in SEVERAL)


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
    (["seed=" + ",".join(map(str, range(10_001)))], "seed: 10,001 values; a sweep has at most 10,000 points"),
    (["seed=" + ",".join(map(str, range(101))), "replications=" + ",".join(map(str, range(2, 102)))],
     "--vary replications: the grid would have 10,100 points"),
    (["failures.host.daily_rate=.nan,0.1"], "--vary failures.host.daily_rate: must be a finite number"),
    (["failures.host.daily_rate=yes,0.1"], "--vary failures.host.daily_rate: must be a number, got the boolean"),
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



# -- issue 29: hostile input, continued ---------------------------------------------------------
from tpusim.output.files import MAX_FOLDER_NAME, folder_name  # noqa: E402

TINY = "slices: [4x4x4]\nhorizon_days: 1\nreplications: 2\ntopology: {cube_grid: [1, 1, 2]}\n"
HOSTILE_NAMES = ["/tmp/elsewhere", "../../escape", "..", ".", "a/b/../c", "~root", ".hidden", "-rf", "[/]",
                 "x" * 300, "x" * 299 + "y", "name with spaces", "caf\u00e9", "a\\b", "CON"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_makes_one_safe_folder_below_out(name):
    folder = folder_name(name)
    assert folder and len(folder) <= MAX_FOLDER_NAME and folder not in (".", "..")
    assert "/" not in folder and "\\" not in folder and not folder.startswith((".", "-"))
    assert folder.isascii() and folder.isprintable()
    base = Path("/x/out")
    assert (base / folder).parent == base and (base / folder_name(name, "-sweep")).parent == base


def test_long_names_keep_apart():
    assert folder_name("x" * 300) != folder_name("x" * 299 + "y")


@pytest.mark.parametrize("name", ["{tmp}/elsewhere", "../escape", "x" * 300])
def test_runs_and_sweeps_of_hostile_names_write_only_below_out(tmp_path, monkeypatch, name):
    """The default output folder of ``run`` and ``sweep`` is out/<slug>, whatever the name (an
    absolute name or one with .. wrote beside work/ before)."""
    name = name.format(tmp=tmp_path)
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    (here / "s.yaml").write_text(f"name: {json.dumps(name)}\n" + TINY)
    result = runner.invoke(app, ["run", "s.yaml", "--no-plot", "-q"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (here / "out").iterdir()] == [folder_name(name)]
    assert (here / "out" / folder_name(name) / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # nothing beside the folder
    result = runner.invoke(app, ["sweep", "s.yaml", "--no-plot", "--vary", "failures.host.daily_rate=0.001"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (here / "out").iterdir()) == sorted([folder_name(name),
                                                                        folder_name(name, "-sweep")])


@pytest.mark.parametrize("args, expect", [
    (["run", POD, "--out", ""], "--out '': give a directory"),
    (["run", POD, "--out", "   "], "--out '': give a directory"),
    (["sweep", POD, "--vary", "failures.host.daily_rate=0.1", "--out", ""], "--out '': give a directory"),
    (["run", POD, "--out", "{tmp}/" + "y" * 300], "cannot write there"),
    (["run", POD, "--out", "{tmp}/" + "/".join(["z" * 200] * 30)], "cannot write there"),
    (["sweep", POD, "--vary", "failures.host.daily_rate=0.1", "--out", "{tmp}/" + "y" * 300], "cannot write there"),
    (["run", ""], "SCENARIO '': give a scenario file"),
    (["validate", " "], "SCENARIO '': give a scenario file"),
    (["init", "x", "--dir", "/dev/null"], "--dir /dev/null: exists and is not a directory"),
])
def test_output_paths_that_cannot_be_used_are_refused(tmp_path, monkeypatch, args, expect):
    monkeypatch.chdir(tmp_path)
    refused([a.format(tmp=tmp_path) for a in args], expect)
    assert not any(tmp_path.iterdir())  # not even out/ in the current folder


MARKUP = ["[/]", "[bold]x[/bold]", "[red]", "a\\[b]"]


@pytest.mark.parametrize("text", MARKUP)
@pytest.mark.parametrize("where", ["set_key", "yaml_key", "slice", "path", "out", "vary", "baseline"])
def test_user_text_is_printed_literally_never_as_markup(tmp_path, text, where):
    if where == "set_key":
        refused(["validate", POD, "--set", f"{text}=1"], f"--set {text}: unknown key")
    elif where == "yaml_key":
        path = tmp_path / "s.yaml"
        path.write_text(f"name: a\nslices: [4x4x4]\n{json.dumps(text)}: 1\n")
        refused(["validate", str(path)], f"{text}: unknown key", None, str(path))
    elif where == "slice":
        refused(["validate", POD, "--set", f"slices=[{json.dumps(text)}]"], "--set slices[0]: must be a shape like",
                None, text.replace("\\", "\\\\"))  # the value is quoted as Python does
    elif where == "path":
        refused(["validate", str(tmp_path / f"{text}.yaml")], f"{tmp_path / text}.yaml: no such file")
    elif where == "out":
        (tmp_path / "file").write_text("x")
        refused(["run", POD, "--out", str(tmp_path / "file" / text)], f"{tmp_path / 'file' / text}", None,
                "is not a directory")
    elif where == "vary":
        refused(["sweep", POD, "--out", str(tmp_path / "o"), "--vary", f"failures.{text}=1,2"],
                f"--vary failures.{text}: unknown key", tmp_path / "o")
    else:
        path = tmp_path / "b.json"
        path.write_text(json.dumps({"metrics": {text: {"mean": "x", "sd": 0, "n": 5}}}))
        refused(["check", POD, "--baseline", str(path)], f"metrics.{text}.mean")


@pytest.mark.parametrize("text", MARKUP)
def test_a_name_with_markup_heads_the_table_as_written(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {json.dumps(text)}\ndescription: {json.dumps(text)}\n" + TINY)
    result = runner.invoke(app, ["analytic", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{text}: closed-form slice availability" in result.output
    result = runner.invoke(app, ["scenarios", str(tmp_path)])
    assert result.exit_code == 0 and f"s.yaml  {text}" in result.output, result.output


NUMBERS = [  # --set on the canonical scenario -> what the error line says
    ("failures.host.daily_rate=yes", "--set failures.host.daily_rate: must be a number, got the boolean true"),
    ("failures.host.daily_rate=on", "--set failures.host.daily_rate: must be a number, got the boolean true"),
    ("failures.host.daily_rate=off", "--set failures.host.daily_rate: must be a number, got the boolean false"),
    ("failures.host.daily_rate=no", "--set failures.host.daily_rate: must be a number, got the boolean false"),
    ("failures.ocs_control_plane_share=yes", "--set failures.ocs_control_plane_share: must be a number"),
    ("replications=yes", "--set replications: must be a number"),
    ("topology.static_cable_ends=true", "--set topology.static_cable_ends: must be a number"),
    ("horizon_days=true", "--set horizon_days: must be a number"),
    ("horizon_days=.inf", "--set horizon_days: must be a finite number, got inf"),
    ("horizon_days=.nan", "--set horizon_days: must be a finite number, got nan"),
    ("horizon_days=1e400", "--set horizon_days: must be a finite number"),
    ("failures.host.daily_rate=.inf", "--set failures.host.daily_rate: must be a finite number"),
    ("failures.host.daily_rate=-.inf", "--set failures.host.daily_rate: must be a finite number"),
    ("failures.host.repair.mean_hours=.inf", "--set failures.host.repair.mean_hours: must be a finite number"),
    ("capacity_confidence=.nan", "--set capacity_confidence: must be a finite number"),
    ("workload={duration: {mean_hours: .inf}}", "--set workload.duration.mean_hours: must be a finite number"),
    ("horizon_days=1e-300", "--set horizon_days: must be at least one minute"),
    ("horizon_days=0.0001", "--set horizon_days: must be at least one minute"),
    ("slices=[４x４x４]", "--set slices[0]: must be a shape like '4x4x8'"),
    ("slices=[٤x٤x٤]", "--set slices[0]: must be a shape like '4x4x8'"),
    ("topology.cube_grid=４x４x４", "--set topology.cube_grid: must be XxYxZ (ASCII digits"),
    ("topology.cube_grid=[4,4]", "--set topology.cube_grid: needs 3 values (x, y, z), got 2: [4, 4]"),
    ("topology.cube_grid=[4,4,4,4]", "--set topology.cube_grid: needs 3 values (x, y, z), got 4"),
    ("topology.cube_shape=[]", "--set topology.cube_shape: needs 3 values (x, y, z), got 0"),
    ("seed=18446744073709551616", "--set seed: must be <= 18446744073709551615"),
    ("seed=" + "9" * 5000, "--set seed: YAML error at line 1, column 1: cannot read"),
    ('name="a\\nb"', "--set name: must be one line of printable text"),
    ('name="a\\0b"', "--set name: must be one line of printable text"),
    ("horizon_day=30", "--set horizon_day: unknown key (did you mean horizon_days?)"),
    ("failures.host.daly_rate=1", "--set failures.host.daly_rate: unknown key (did you mean daily_rate?)"),
    ("failures.host.repair={dist: fixed, mean_hourz: 3}",
     "--set failures.host.repair.mean_hourz: unknown key (did you mean mean_hours?)"),
    ("timeseries_days=1e-9", "--set timeseries_days: 1e-09 days makes about 3.65e+11 buckets per replication"),
    ("failures.host.daily_rate=1e300", "failures and repairs"),
    ("failures.host.gray={daily_rate: 1e9, job_failures_per_hour: 1, mean_hours: 1}", "failures and repairs"),
]


@pytest.mark.parametrize("override, expect", NUMBERS)
def test_non_finite_mistyped_and_misspelt_values_are_refused(tmp_path, override, expect):
    refused(["run", POD, "--set", override, "--out", str(tmp_path / "out")], expect, tmp_path / "out")


@pytest.mark.parametrize("args, expect", [
    (["--seed", str(2**64)], "--seed: must be <= 18446744073709551615"),
    (["--replications", str(10**30)], "--replications: 1,000,000,000,000,000,000,000,000,000,000 is more than"),
])
def test_options_that_set_keys_are_named(tmp_path, args, expect):
    refused(["run", POD, *args, "--out", str(tmp_path / "out")], expect, tmp_path / "out")


@pytest.mark.parametrize("args, expect", [
    (["--lead-hours", "nan"], "--lead-hours nan: must be a finite number > 0"),
    (["--lead-hours", "inf"], "--lead-hours inf: must be a finite number > 0"),
    (["--safety", "inf"], "--safety inf: must be a finite number > 0"),
    (["--target", "nan"], "--target nan: must lie strictly between 0 and 1"),
])
def test_spares_options_must_be_finite(args, expect):
    refused(["spares", POD, *args], expect)


TRACE = "replication,time_hours,component,event\n0,1.5,host:3,fail\n0,2.5,host:3,repair\n"
JOB_TRACE = "arrival_hours,shape,duration_hours,priority\n0.5,4x4x4,2,batch\n1,4x4x8,3,production\n"
MIX = "shape,percent\n4x4x4,50\n4x4x8,50\n"
RATES = "rate\n0.1\n0.2\n"
KEYS = {"failures.trace": POD, "workload.trace": JOBS, "workload.mix": JOBS, "schedule": POD}

CSVS = {  # name -> (key, text, what the error line says)
    "trace_nan": ("failures.trace", TRACE.replace("2.5", "nan"), "line 3, column 2 (time_hours): must be a finite number, got 'nan'"),
    "trace_inf": ("failures.trace", TRACE.replace("2.5", "inf"), "line 3, column 2 (time_hours): must be a finite number"),
    "trace_negative": ("failures.trace", TRACE.replace("1.5", "-1"), "line 2, column 2 (time_hours): must be >= 0, got -1"),
    "trace_backwards": ("failures.trace", TRACE.replace("2.5", "1"), "line 3, column 2 (time_hours): time goes backwards"),
    "trace_short_row": ("failures.trace", TRACE + "0,3\n", "line 4: has 2 values, but the header (line 1) has 4 columns"),
    "trace_long_row": ("failures.trace", TRACE + "0,3,host:3,fail,x\n", "line 4: has 5 values"),
    "trace_extra_column": ("failures.trace", "time_hours,component,event,note\n1,host:3,fail,x\n",
                           "line 1, column 4: unknown column 'note'"),
    "trace_duplicate_header": ("failures.trace", "time_hours,component,event,event\n1,host:3,fail,fail\n",
                               "line 1, column 4: 'event' names two columns (also column 3)"),
    "trace_empty_header": ("failures.trace", "time_hours,,event\n1,host:3,fail\n", "line 1, column 2: has no name"),
    "trace_missing_column": ("failures.trace", "time_hours,component\n1,host:3\n", "line 1: the header lacks the column event"),
    "trace_unknown_class": ("failures.trace", TRACE.replace("host:3,fail", "disk:3,fail"),
                            "line 2, column 3 (component): unknown component class 'disk'"),
    "trace_no_unit": ("failures.trace", TRACE.replace("host:3,fail", "host,fail"), "line 2, column 3 (component): must be <class>:<unit>"),
    "trace_unit_digits": ("failures.trace", TRACE.replace("host:3,fail", "host:٣,fail"),
                          "line 2, column 3 (component): must be a whole number, got '٣'"),
    "trace_huge_unit": ("failures.trace", TRACE.replace("host:3,fail", "host:" + "9" * 50 + ",fail"),
                        "line 2, column 3 (component): must be a whole number"),
    "trace_bad_replication": ("failures.trace", TRACE.replace("0,1.5", "x,1.5"), "line 2, column 1 (replication): must be a whole number"),
    "trace_event": ("failures.trace", TRACE.replace("fail", "explode"), "line 2, column 4 (event): must be fail or repair"),
    "trace_unclosed_quote": ("failures.trace", TRACE + '0,"3,host:3,fail\n', "line 4: not CSV"),
    "trace_comment_lines_counted": ("failures.trace", "# exported 2024\n\n" + TRACE.replace("2.5", "x"),
                                    "line 5, column 2 (time_hours): must be a number, got 'x'"),
    "trace_empty": ("failures.trace", "", "no header line"),
    "trace_only_comments": ("failures.trace", "# nothing\n", "no header line"),
    "jobs_nan_arrival": ("workload.trace", JOB_TRACE.replace("0.5", "nan"), "line 2, column 1 (arrival_hours): must be a finite number"),
    "jobs_inf_duration": ("workload.trace", JOB_TRACE.replace(",3,", ",inf,"), "line 3, column 3 (duration_hours): must be a finite number"),
    "jobs_zero_duration": ("workload.trace", JOB_TRACE.replace(",3,", ",0,"), "line 3, column 3 (duration_hours): must be > 0, got 0"),
    "jobs_priority": ("workload.trace", JOB_TRACE.replace("batch", "urgent"),
                      "line 2, column 4 (priority): must be production, batch or best_effort, got 'urgent'"),
    "jobs_empty_priority": ("workload.trace", JOB_TRACE.replace("batch", ""), "line 2, column 4 (priority): is empty"),
    "jobs_short_row": ("workload.trace", JOB_TRACE + "2,4x4x4\n", "line 4: has 2 values"),
    "jobs_typo_column": ("workload.trace", JOB_TRACE.replace("priority", "priorty"),
                         "line 1, column 4: unknown column 'priorty' (did you mean priority?)"),
    "jobs_shape": ("workload.trace", JOB_TRACE.replace("4x4x8", "４x4x8"), "line 3, column 2 (shape): must be a shape like"),
    "jobs_underscore": ("workload.trace", JOB_TRACE.replace("0.5", "1_0"), "line 2, column 1 (arrival_hours): must be a number in ASCII digits"),
    "jobs_traffic": ("workload.trace", JOB_TRACE.replace("priority\n", "priority,traffic\n").replace("batch\n", "batch,ring\n")
                     .replace("production\n", "production,alltoall\n"), "line 2, column 5 (traffic): must be allreduce or alltoall"),
    "mix_nan": ("workload.mix", MIX.replace("50\n4", "nan\n4"), "line 2, column 2 (percent): must be a finite number"),
    "mix_all_zero": ("workload.mix", MIX.replace("50", "0"), "every percent is 0"),
    "mix_no_rows": ("workload.mix", "shape,percent\n", "no rows"),
    "mix_negative": ("workload.mix", MIX.replace("50\n4", "-5\n4"), "line 2, column 2 (percent): must be >= 0"),
    "rates_inf": ("schedule", RATES.replace("0.2", "inf"), "line 3, column 1 (rate): must be a finite number"),
    "rates_negative": ("schedule", RATES.replace("0.2", "-1"), "line 3, column 1 (rate): must be >= 0, got -1"),
    "rates_no_rows": ("schedule", "rate\n", "no rows"),
    "rates_no_column": ("schedule", "other\n1\n", "the header lacks the column rate"),
    "rates_huge": ("schedule", RATES.replace("0.2", "1e300"), "failures and repairs"),  # ran for ever before
}


def _csv_args(key: str, path: Path) -> list[str]:
    setting = (f"failures.host.schedule={{csv: {path}, column: rate, unit: fraction}}" if key == "schedule"
               else f"{key}={path}")
    return [KEYS[key], "--set", setting, "--set", "replications=1"]


@pytest.mark.parametrize("name", sorted(CSVS))
def test_bad_csv_files_are_named_by_file_line_and_column(tmp_path, name):
    key, text, expect = CSVS[name]
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    line = refused(["run", *_csv_args(key, path), "--out", str(tmp_path / "out")], expect, tmp_path / "out",
                   str(path))
    assert ("schedule" if key == "schedule" else key) in line


@pytest.mark.parametrize("key", sorted(KEYS))
def test_csv_files_from_excel_are_read(tmp_path, key):
    """A UTF-8 byte-order mark and CRLF line ends (what Excel writes) are accepted."""
    text = {"failures.trace": TRACE.replace("replication,", "").replace("\n0,", "\n"), "workload.trace": JOB_TRACE,
            "workload.mix": MIX, "schedule": RATES}[key]
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = runner.invoke(app, ["validate", *_csv_args(key, path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("key", ["failures.trace", "workload.trace", "workload.mix", "schedule"])
@pytest.mark.parametrize("where", ["zero", "urandom", "directory", "fifo"])
def test_csv_paths_that_are_not_files_are_refused_before_reading(tmp_path, key, where):
    if where == "fifo":
        path, expect = tmp_path / "pipe.csv", "not a regular file"
        os.mkfifo(path)  # reading it would block for ever
    elif where == "directory":
        path, expect = tmp_path, "is a directory, not a CSV file"
    else:
        path, expect = Path(f"/dev/{where}"), "not a regular file"  # reading would end in MemoryError
    refused(["validate", *_csv_args(key, path)], expect, None, str(path))


def test_analytic_needs_no_simulation_limits():
    """Closed forms of a machine too large to simulate: the simulator's limit refuses the run,
    not the closed forms."""
    refused(["validate", POD, "--set", "topology.pods=100000"], "failing parts")
    result = runner.invoke(app, ["analytic", POD, "--set", "topology.pods=100000"])
    assert result.exit_code == 0, result.output
    assert "100000 pod(s)" in result.output


def test_a_resumed_sweep_must_match_its_points(tmp_path):
    out = tmp_path / "sw"
    args = ["sweep", POD, "--out", str(out), "--no-plot", "--vary", "failures.host.daily_rate=0.001,0.002",
            "--set", "horizon_days=1", "--replications", "2"]
    assert runner.invoke(app, args).exit_code == 0
    before = (out / "sweep.csv").read_bytes()
    refused(args[:-1] + ["3", "--resume"], "this point was run with 2 replications, this sweep asks for 3",
            None, str(out / "points" / "0.json"), "--replications 2", "--force")
    for text, expect in (("{", "not JSON"), ("[]", "expected a JSON object"),
                         ('{"scenario": {}, "overrides": [], "samples": [[1]]}', "samples[0] is not")):
        (out / "points" / "0.json").write_text(text)
        refused(args + ["--resume"], expect, None, f"{out / 'points' / '0.json'}: not a point of a sweep")
    (out / "points" / "0.json").write_bytes(b"\xff\xfe")
    refused(args + ["--resume"], "cannot read it", None, str(out / "points" / "0.json"))
    assert (out / "sweep.csv").read_bytes() == before  # nothing written


@pytest.mark.parametrize("text, expect", [
    ("[" * 100_000, "nested too deeply"),
    ('{"metrics": {"a": {"mean": 1, "sd": 0, "n": ' + "9" * 5000 + "}}}", "Exceeds the limit"),
    ('{"metrics": {"a": {"mean": NaN, "sd": 0, "n": 5}}}', "metrics.a.mean: must be a finite number"),
    ('{"metrics": {"a": {"mean": 1e400, "sd": 0, "n": 5}}}', "metrics.a.mean: must be a finite number"),
])
def test_hostile_baselines_are_refused(tmp_path, text, expect):
    path = tmp_path / "base.json"
    path.write_text(text)
    refused(["check", POD, "--baseline", str(path)], expect, None, str(path))


def test_a_device_as_baseline_asks_for_json():
    refused(["check", POD, "--baseline", "/dev/zero"], "/dev/zero: not a regular file", None, "give a JSON file")
