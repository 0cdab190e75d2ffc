"""Scenario validation and the CLI: clear errors with key paths and exit status 2, outputs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, SCENARIOS
from tpusim import ScenarioError, load_scenario
from tpusim.cli import app

runner = CliRunner()
MINIMAL = "name: t\nslices: [4x4x8]\n"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path, text, overrides=None):
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text), overrides)
    return info.value.lines()


def test_bundled_scenarios_are_valid():
    for path in SCENARIOS.glob("*.yaml"):
        load_scenario(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        (MINIMAL + "bogus: 1\n", "bogus: unknown key"),
        (MINIMAL + "failures: {host: {daily_rate: -0.1, repair: {mean_hours: 3}}}\n",
         "failures.host.daily_rate: must be >= 0, got -0.1"),
        (MINIMAL + "failures: {host: {daily_rate: 0.1, repair: {mean_hours: -3}}}\n",
         "failures.host.repair.mean_hours: must be > 0, got -3"),
        (MINIMAL + "failures: {host: {daily_rate: 0.1, repair: {mean_hours: 0}}}\n",
         "failures.host.repair.mean_hours: must be > 0, got 0"),
        (MINIMAL + "horizon_days: 0\n", "horizon_days: must be > 0, got 0"),
        (MINIMAL + "replications: many\n", "replications: must be a whole number, got 'many'"),
        (MINIMAL + "topology: {pods: 1.5}\n", "topology.pods: must be a whole number, got 1.5"),
        (MINIMAL + "failures: {ocs: {daily_rate: fast, repair: {mean_hours: 3}}}\n",
         "failures.ocs.daily_rate: must be a number, got 'fast'"),
        (MINIMAL + "failures: {ocs: {daily_rate: 0.1, repair: {dist: weibull, mean_hours: 3}}}\n",
         "failures.ocs.repair.dist: must be one of"),
        (MINIMAL + "policies: [static, magic]\n", "policies[1]: must be one of"),
        ("name: t\nslices: [4x4x6]\n", "slices[0]: 4x4x6 is not a whole number of 4x4x4 cubes"),
        ("name: t\nslices: [4x4x4, 16x16x20]\n", "slices[1]: 16x16x20 needs 80 cubes but a pod has 64"),
        ("name: t\nslices: [4by4]\n", "slices[0]: must be a shape like '4x4x8'"),
        ("name: t\nslices: [4x4x4]\ntopology: {hosts_per_cube: 8}\n", "topology.hosts_per_cube: 8 hosts x 4 chips"),
        ("name: t\nslices: [4x4x4]\ntopology: {ocs_per_pod: 40}\n", "topology.ocs_per_pod: must be 48"),
        ("slices: [4x4x4]\n", "name: required key is missing"),
        (MINIMAL + "workload: {jobs_per_day: 139}\n", "workload.jobs_per_day: unknown key"),
        (MINIMAL + "workload: {restart_minutes: -1}\n", "workload.restart_minutes: must be >= 0, got -1"),
        (MINIMAL + "workload: {mix: nope.csv}\n", "workload.mix: no such file"),
        (MINIMAL + "scheduler: {defrag_wait_hours: 0}\n", "scheduler.defrag_wait_hours: must be > 0, got 0"),
        (MINIMAL + "pod_manager: {reconfigure_minutes: x}\n", "pod_manager.reconfigure_minutes: must be a number"),
    ],
)
def test_bad_input_names_the_key_path(tmp_path, text, expected):
    lines = problems(tmp_path, text)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "s.yaml") + ": ") for line in lines)


def test_every_problem_is_reported_at_once(tmp_path):
    lines = problems(tmp_path, "name: t\nslices: [4x4x8]\nbogus: 1\nhorizon_days: -1\nseed: x\n")
    assert len(lines) == 3


def test_zero_rate_switches_a_class_off(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL + "failures: {host: {daily_rate: 0, repair: {mean_hours: 3}}}\n"))
    assert sc.failures.host.daily_rate == 0


def test_yaml_syntax_error_gives_the_line(tmp_path):
    lines = problems(tmp_path, "name: t\nslices: [4x4x8\nseed: 1\n")
    assert len(lines) == 1 and "YAML syntax error at line" in lines[0]


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_overrides_are_dotted_keys_with_yaml_values(tmp_path):
    path = write(tmp_path, MINIMAL)
    sc = load_scenario(path, ["failures.host.daily_rate=0.01", "policies=[static]", "topology.cube_grid=4x4x2"])
    assert sc.failures.host.daily_rate == 0.01 and sc.policies == ["static"]
    assert sc.topology.cube_grid == (4, 4, 2)
    lines = problems(tmp_path, MINIMAL, ["failures.host.nope=1"])
    assert any("failures.host.nope: unknown key" in line for line in lines)
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        load_scenario(path, ["seed"])


# -- CLI ---------------------------------------------------------------------------------------

def test_cli_bad_input_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, MINIMAL + "failures: {host: {daily_rate: 0.1, repair: {mean_hours: -3}}}\n")
    for command in (["run", str(path)], ["validate", str(path)], ["analytic", str(path)],
                    ["run", str(tmp_path / "missing.yaml")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output
    result = runner.invoke(app, ["validate", str(path)])
    assert "failures.host.repair.mean_hours: must be > 0, got -3" in result.output


def test_real_entry_point_exits_2_on_bad_input(tmp_path):
    path = write(tmp_path, "name: t\nslices: [4x4x6]\n")
    proc = subprocess.run([sys.executable, "-m", "tpusim.cli", "run", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "slices[0]: 4x4x6 is not a whole number" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_validate_prints_the_resolved_scenario(tmp_path):
    result = runner.invoke(app, ["validate", str(write(tmp_path, MINIMAL)), "--set", "seed=5"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "ocs_per_pod: 48" in result.output and "seed: 5" in result.output


def test_analytic_prints_binomial_and_fixed_box(tmp_path):
    result = runner.invoke(app, ["analytic", str(SCENARIOS / "tpuv4_pod.yaml")])
    assert result.exit_code == 0, result.output
    assert "12x16x16" in result.output and "binomial" in result.output


def test_run_writes_summary_csv_and_plot(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(SCENARIOS / "tpuv4_pod.yaml"), "--out", str(out),
                                 "--replications", "3", "--set", "horizon_days=30"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert {"tpusim_version", "scenario", "seed", "replications", "horizon_days", "wall_seconds",
            "events", "policies"} <= set(summary)
    assert summary["replications"] == 3 and summary["horizon_days"] == 30
    prov = summary["provenance"]  # what made these numbers
    from tpusim.output.provenance import scenario_hash
    assert prov["scenario_sha256"] == scenario_hash(summary["scenario"])
    assert prov["command"] is None  # in-process; `tpusim ...` from a shell records its arguments
    assert prov["libraries"]["simpy"] and prov["python"] and prov["created_utc"].endswith("+00:00")
    entry = summary["policies"]["static"]["slice_availability"][0]
    assert set(entry) >= {"shape", "cubes", "mean", "ci95"} and entry["shape"] == "4x4x4"
    assert set(summary["policies"]["reconfigurable"]["system_availability"]) >= {"mean", "ci95"}
    csv = (out / "availability.csv").read_text().splitlines()
    assert csv[0].startswith("policy,shape,cubes,chips,mean") and len(csv) == 1 + 4 * 7  # four policies x seven slices
    report = (out / "report.html").read_text()  # one self-contained file: tables and plots
    assert "<h2>Slice availability</h2>" in report and "12x16x16" in report
    assert report.count("data:image/png;base64,") == 1
    assert "<script" not in report and "src='http" not in report
    assert (out / "availability_vs_slice.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_scenarios_lists_bundled_files():
    result = runner.invoke(app, ["scenarios", str(SCENARIOS)])
    assert result.exit_code == 0 and "tpuv4_pod.yaml" in result.output


@pytest.mark.slow
def test_reproduce_quick_form_prints_every_published_claim(tmp_path):
    """`tpusim reproduce --quick` (what CI runs): one row per published claim, each with a
    verdict, and every row that is not reproduced says what it rests on."""
    import json

    out = tmp_path / "claims.json"
    result = runner.invoke(app, ["reproduce", "--quick", "--scenarios", str(SCENARIOS), "--json", str(out)])
    assert result.exit_code == 0, result.output
    claims = json.loads(out.read_text())["claims"]
    assert len(claims) == 13  # (the two hero-job rows of superpod_hero.yaml, issue 34)
    verdicts = {"reproduced", "not reproduced", "inconclusive", "calibrated", "modelled"}
    for c in claims:
        assert c["verdict"] in verdicts and c["simulated"] not in ("", "-") and c["rests_on"], c
    by = {c["claim"]: c for c in claims}
    assert by["host availability 99.98 %"]["verdict"] == "calibrated"
    assert "published TPU v4 claims" in result.output and json.loads(out.read_text())["level"] == 0.999
    assert any("superpod" in c["claim"] for c in claims)
    bad = runner.invoke(app, ["reproduce", "--quick", "--scenarios", str(tmp_path)])
    assert bad.exit_code == 2 and "no such scenario" in bad.output


def test_overriding_a_distribution_drops_the_files_lognormal_sigma():
    """The canonical scenario gives host repairs a lognormal sigma; switching the law by --set
    must not fail on it (a sigma given by --set itself is still checked)."""
    sc = load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["failures.host.repair.dist=exponential"])
    assert sc.failures.host.repair.dist == "exponential" and sc.failures.host.repair.sigma is None
    with pytest.raises(ScenarioError, match="only applies to dist: lognormal"):
        load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["failures.host.repair.dist=exponential",
                                                     "failures.host.repair.sigma=1"])


def test_shipped_scenarios_work_outside_a_clone(tmp_path, monkeypatch):
    """`tpusim scenarios` lists the scenarios shipped in the package when there is no
    ./scenarios, and `tpusim init` starts a new one from them."""
    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["scenarios"])
    assert listed.exit_code == 0, listed.output
    names = {line.split()[0] for line in listed.output.splitlines() if line.strip()}
    assert {"tpuv4_pod", "tpuv4_pod_jobs"} <= names, listed.output
    made = runner.invoke(app, ["init", "my_pod", "--from", "tpuv4_pod_jobs"])
    assert made.exit_code == 0, made.output
    sc = load_scenario(tmp_path / "my_pod.yaml")
    assert sc.name == "my_pod" and sc.workload is not None
    again = runner.invoke(app, ["init", "my_pod"])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(app, ["init", "x", "--from", "nosuch"]).exit_code == 2
    assert runner.invoke(app, ["init", "../evil"]).exit_code == 2


def test_the_package_lists_every_subpackage():
    """pyproject.toml names the packages explicitly (for the scenarios mapping): none missing."""
    import tomllib

    from conftest import REPO

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"tpusim"} | {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "tpusim").rglob("*/__init__.py")}
    assert found | {"tpusim.scenarios"} == listed


def test_run_prints_what_format_asks_and_nothing_when_quiet(tmp_path, monkeypatch):
    import datetime as real

    from tpusim.output import provenance

    class Ticking(real.datetime):  # a clock a second on at every reading: one provenance per run
        calls = 0

        @classmethod
        def now(cls, tz=None):
            cls.calls += 1
            return real.datetime(2026, 1, 1, tzinfo=tz) + real.timedelta(seconds=cls.calls)

    monkeypatch.setattr(provenance, "datetime", Ticking)
    base = ["run", str(SCENARIOS / "tpuv4_pod.yaml"), "--set", "replications=2", "--set", "horizon_days=10",
            "--no-plot", "--force", "--out", str(tmp_path / "o")]
    as_json = runner.invoke(app, base + ["--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.stdout)
    assert printed["replications"] == 2  # stdout is exactly summary.json's content, provenance too
    assert printed == json.loads((tmp_path / "o" / "summary.json").read_text())
    as_csv = runner.invoke(app, base + ["--format", "csv"])
    assert as_csv.stdout.splitlines()[0].startswith("policy,shape,cubes,chips,mean")
    as_md = runner.invoke(app, base + ["--format", "markdown"])
    assert as_md.stdout.startswith("| slice | chips | static | static_ft | reconfigurable | reconfigurable_ft |")
    quiet = runner.invoke(app, base + ["--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert (tmp_path / "o" / "summary.json").exists()


def test_localise_is_a_command_like_the_other_studies(tmp_path):
    import io

    import pandas as pd

    done = runner.invoke(app, ["localise", "gray_failures", "--set", "replications=1", "--set", "horizon_days=5", "--set", "policies=[static]",
                               "--format", "csv", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(io.StringIO(done.stdout))
    assert {"policy", "method", "scope", "count", "value", "ci95_low", "ci95_high"} <= set(table.columns)
    assert set(table.method) == {"deepview", "naive"}
    assert (tmp_path / "blames.csv").is_file() and (tmp_path / "episodes.csv").is_file()
    no_jobs = runner.invoke(app, ["localise", "tpuv4_pod"])
    assert no_jobs.exit_code == 2 and "needs a workload" in no_jobs.stderr


def test_help_shows_metavars_choices_short_flags_and_examples():
    shown = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout
    for text in ("-o, --out DIR", "-r, --replications N", "-w, --workers N", "--set KEY=VALUE",
                 "[table|markdown|csv|json]", "Examples:", "tpusim run tpuv4_pod"):
        assert text in shown, text
    for bad in ("<int range>", "<list[str]>", "<path>"):
        assert bad not in shown, bad


def test_sweep_prints_its_table_or_the_rows_it_wrote(tmp_path):
    import io

    import pandas as pd

    tiny = str(REPO / "tests" / "golden" / "tiny.yaml")
    args = ["sweep", tiny, "--vary", "failures.host.daily_rate=0.01,0.02", "--no-plot", "-r", "2"]
    shown = runner.invoke(app, args + ["-o", str(tmp_path / "a")], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "failures.host.daily_rate" in shown.stdout and "system %" in shown.stdout
    rows = runner.invoke(app, args + ["-o", str(tmp_path / "b"), "--format", "csv"])
    frame = pd.read_csv(io.StringIO(rows.stdout))
    assert frame.equals(pd.read_csv(tmp_path / "b" / "sweep.csv"))
    assert runner.invoke(app, args + ["-o", str(tmp_path / "c"), "--format", "xml"]).exit_code == 2


def test_a_run_of_hours_says_so_before_it_starts():
    from tpusim import cli
    from tpusim.config.build import expected_work

    big = load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["horizon_days=1000000", "replications=100"])
    small = load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["replications=2"])
    assert expected_work(big).seconds > 3600 > 120 > expected_work(small).seconds
    with cli.err_console.capture() as said:
        cli._announce(small)
    assert said.get() == ""
    with cli.err_console.capture() as said:
        cli._announce(big)
    assert "a large run" in said.get() and "hours" in said.get()


@pytest.mark.parametrize("args, says", [
    (["run", "tpuv4_pod", "-r", "0"], "--replications"),
    (["run", "tpuv4_pod", "--replicatons", "3"], "--replications"),  # the suggestion
    (["run"], "SCENARIO"),
    (["nosuch"], "nosuch"),
])
def test_usage_errors_are_one_line_like_every_other_bad_input(args, says, tmp_path):
    done = subprocess.run([sys.executable, "-c", "from tpusim.cli import main; main()", *args], cwd=tmp_path,
                          capture_output=True, text=True, env={**__import__("os").environ, "COLUMNS": "300"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], done.stderr


def test_the_files_are_written_before_the_table_is_printed(tmp_path, monkeypatch):
    """A reader that closes the pipe early (| head) stops the table, not the run's files."""
    from tpusim.output import tables

    def closed(*args, **kwargs):
        raise BrokenPipeError

    monkeypatch.setattr(tables, "render_table", closed)
    done = runner.invoke(app, ["run", "tpuv4_pod", "-r", "2", "--set", "horizon_days=5", "-o", str(tmp_path / "o")])
    assert isinstance(done.exception, BrokenPipeError)
    assert (tmp_path / "o" / "summary.json").is_file() and (tmp_path / "o" / "availability.csv").is_file()


def test_localisation_runs_through_the_executor_with_the_serial_rows():
    """Issue 30: localisation no longer bypasses the executor; two processes give the serial rows."""
    import tpusim

    over = {"replications": 2, "horizon_days": 4, "policies": ["reconfigurable"]}
    serial = tpusim.localise("gray_failures", overrides=over)
    pooled = tpusim.localise("gray_failures", overrides=over, workers=2)
    assert len(serial.blames) and serial.blames.equals(pooled.blames) and serial.episodes.equals(pooled.episodes)
    assert list(serial.blames.replication.drop_duplicates()) == sorted(set(serial.blames.replication))
