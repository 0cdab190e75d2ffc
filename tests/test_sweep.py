"""Sweeps: the same table however they run, and nothing lost when resumed."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import REPO, SCENARIOS
from tpusim import load_scenario
from tpusim.cli import app
from tpusim.studies.sweep import grid, parse_vary, sweep

GRID = {"failures.host.daily_rate": [0.0008, 0.004], "failures.ocs.repair.mean_hours": [6, 24]}


def small():
    return load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["replications=3", "horizon_days=30"])


def test_grid_and_vary_parsing():
    assert grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert parse_vary("failures.host.daily_rate=0.001,0.002") == ("failures.host.daily_rate", [0.001, 0.002])
    with pytest.raises(ValueError):
        parse_vary("nothing")


def test_serial_and_process_pool_give_identical_tables():
    serial = sweep(small(), GRID).to_frame()
    pooled = sweep(small(), GRID, workers=2).to_frame()
    pd.testing.assert_frame_equal(serial, pooled)
    assert len(serial.point.unique()) == 4
    # more host failures, less static availability of the 48-cube slice (same seed at every point)
    big = serial[(serial.policy == "static") & (serial.metric == "slice_availability") & (serial["key"] == "12x16x16")]
    by_rate = big.groupby("failures.host.daily_rate")["mean"].mean()
    assert by_rate[0.004] < by_rate[0.0008]


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    whole = sweep(small(), GRID).to_frame()
    out = tmp_path / "sw"
    first = {"failures.host.daily_rate": [0.0008], "failures.ocs.repair.mean_hours": [6, 24]}
    sweep(small(), first, out=out)  # "killed" after the first two points
    written = sorted(p.name for p in (out / "points").iterdir())
    assert written == ["0.json", "1.json"]
    ran = []
    resumed = sweep(small(), GRID, out=out, resume=True, progress=lambda done, total: ran.append(done))
    assert ran[0] == 2  # two points were loaded, not rerun
    pd.testing.assert_frame_equal(resumed.to_frame(), whole)


def test_resume_refuses_points_of_another_scenario(tmp_path):
    out = tmp_path / "sw"
    sweep(small(), {"failures.host.daily_rate": [0.0008]}, out=out)
    other = load_scenario(SCENARIOS / "tpuv4_pod.yaml", ["replications=3", "horizon_days=31"])
    with pytest.raises(ValueError, match="another scenario"):
        sweep(other, {"failures.host.daily_rate": [0.0008]}, out=out, resume=True)


@pytest.mark.slow
def test_cli_sweep_writes_the_table_and_rejects_bad_keys(tmp_path):
    runner = CliRunner()
    out = tmp_path / "o"
    result = runner.invoke(app, ["sweep", str(SCENARIOS / "tpuv4_pod.yaml"), "--vary", "failures.host.daily_rate=0.0008,0.002",
                                 "--set", "replications=2", "--set", "horizon_days=20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv")
    assert set(table.columns) >= {"point", "failures.host.daily_rate", "policy", "metric", "key", "mean", "ci95_low", "ci95_high",
                                 "replications"}
    assert (out / "sweep_slice_availability.png").exists()
    bad = runner.invoke(app, ["sweep", str(SCENARIOS / "tpuv4_pod.yaml"), "--vary", "failures.host.nope=1,2"])
    assert bad.exit_code == 2 and "failures.host.nope: unknown key" in bad.output
    bad = runner.invoke(app, ["sweep", str(SCENARIOS / "tpuv4_pod.yaml"), "--vary", "failures.host.daily_rate=-1"])
    assert bad.exit_code == 2 and "must be >= 0" in bad.output


@pytest.mark.dask
@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_table():
    from distributed import LocalCluster

    serial = sweep(small(), GRID).to_frame()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = sweep(small(), GRID, scheduler_address=cluster.scheduler_address).to_frame()
    pd.testing.assert_frame_equal(serial, dask)


def test_target_ci_adds_replications_until_precise_enough():
    point = {"failures.host.daily_rate": [0.004]}
    loose = sweep(small(), point).points[0]
    tight = sweep(small(), point, target_ci=0.01, max_replications=48).points[0]
    n = tight.scenario.replications
    assert loose.scenario.replications == 3 and 3 < n <= 48
    frame = sweep(small(), point, target_ci=0.01, max_replications=48).to_frame()
    availability = frame[frame.metric.isin(["slice_availability", "system_availability"])]
    assert set(availability.replications) == {n}
    widths = (availability.ci95_high - availability.ci95_low) / 2
    assert n == 48 or widths.max() <= 0.01
    # the added replications extend the first three: those are the same numbers
    assert [s for s in tight.samples if s.replication < 3] == loose.samples


def test_results_and_sweeps_plot_for_notebooks():
    import tpusim
    from matplotlib.figure import Figure

    results = tpusim.run(SCENARIOS / "tpuv4_pod.yaml", ["replications=2", "horizon_days=10"])
    assert isinstance(results.plot(), Figure)
    with pytest.raises(ValueError):
        results.plot("goodput")  # no workload
    swept = tpusim.sweep(small(), {"failures.host.daily_rate": [0.0008, 0.004]})
    figures = swept.plot()  # one per metric, by name
    # capacity_fraction has one line per k: table only; the outage interval's ingredient and the
    # control variates are internal
    from tpusim.core.metrics import REGISTRY

    plotted = {m for m in set(swept.to_frame().metric) if not REGISTRY[m].internal} - {"capacity_fraction"}
    assert set(figures) == plotted and all(isinstance(f, Figure) for f in figures.values())
    figure = figures["slice_availability"]
    assert "slice availability" in figure._suptitle.get_text() and "slice_availability" not in figure._suptitle.get_text()


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    """SIGKILL a sweep once its first point is on disk, resume it, compare with a clean run."""
    import signal
    import subprocess
    import sys
    import time

    vary = {"failures.host.daily_rate": [0.0008, 0.0016, 0.0032, 0.0064], "failures.ocs.repair.mean_hours": [6, 24]}
    overrides = ["replications=24", "horizon_days=365"]
    out = tmp_path / "killed"
    code = (
        "from tpusim import load_scenario; from tpusim.studies.sweep import sweep; "
        f"sweep(load_scenario({str(SCENARIOS / 'tpuv4_pod.yaml')!r}, {overrides!r}), {vary!r}, out=__import__('pathlib').Path({str(out)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    while not (out / "points" / "0.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = sorted((out / "points").glob("[0-9]*.json"))
    for point in left:  # atomic writes: a visible point is never half-written (a .tmp may be)
        json.loads(point.read_text())
    scenario = load_scenario(SCENARIOS / "tpuv4_pod.yaml", overrides)
    resumed = sweep(scenario, vary, out=out, resume=True).to_frame()
    clean = sweep(scenario, vary).to_frame()
    pd.testing.assert_frame_equal(resumed, clean)
    assert len(left) < 8, "the sweep finished before it could be killed: this test checked little"


def test_sweep_takes_seed_and_replications_like_run(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from conftest import SCENARIOS
    from tpusim.cli import app

    result = CliRunner().invoke(app, ["sweep", str(SCENARIOS / "tpuv4_pod.yaml"), "--vary",
                                      "failures.host.daily_rate=0.001,0.002", "--seed", "5", "--replications", "2",
                                      "--set", "horizon_days=5", "--out", str(tmp_path), "--no-plot"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "sweep.csv")
    assert set(frame.replications) == {2}
    import json
    point = json.loads((tmp_path / "points" / "0.json").read_text())
    assert point["scenario"]["seed"] == 5


def test_the_dask_settings_file_names_only_real_dask_settings():
    """`deploy/dask-workers.yaml` (the settings a cluster of tpusim workers should run with):
    Dask accepts unknown keys silently, so a misspelt or renamed key would change nothing. Every
    key must exist in Dask's own defaults (loaded with ``distributed``), with a value of the
    same kind (a flag stays a flag, a duration stays a duration string)."""
    import dask
    import distributed  # noqa: F401 - adds Dask's distributed defaults
    import yaml

    settings = yaml.safe_load((REPO / "deploy" / "dask-workers.yaml").read_text())

    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    found = dict(leaves(settings))
    assert found, "no settings in the file"
    for key, value in found.items():
        default = dask.config.get(key, default=KeyError)
        assert default is not KeyError, f"{key}: not a Dask setting"
        assert type(default) is type(value), f"{key}: {value!r} is not of the kind of Dask's {default!r}"
        if isinstance(value, str):
            assert dask.utils.parse_timedelta(value) > dask.utils.parse_timedelta(default), \
                f"{key}: {value} would make Dask's housekeeping more frequent, not less"
