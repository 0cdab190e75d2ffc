"""Same seed, same numbers: serially or in processes; different seeds, different traces."""

import json

import pandas as pd

import pytest

from tpusim import ScenarioError, build_model, run_scenario, scenario_from_dict
from tpusim.engine.replication import simulate

BASE = {
    "name": "repro",
    "seed": 99,
    "replications": 4,
    "horizon_days": 60,
    "slices": ["4x4x4", "8x8x8", "12x16x16"],
    "failures": {"host": {"daily_rate": 0.005, "repair": {"mean_hours": 24}}},
}


def _summary(results):
    s = results.summary()
    s.pop("wall_seconds")  # the fields that describe the run rather than the model
    s["provenance"].pop("created_utc")
    return json.dumps(s, sort_keys=True)


def test_same_seed_same_summary_serial_and_pool():
    sc = scenario_from_dict(BASE)
    first = _summary(run_scenario(sc))
    assert _summary(run_scenario(sc)) == first
    assert _summary(run_scenario(sc, workers=2)) == first


def test_replications_are_independent_of_how_many_run():
    few = run_scenario(scenario_from_dict({**BASE, "replications": 2}))
    many = run_scenario(scenario_from_dict({**BASE, "replications": 4}))
    assert [r.samples for r in few.replications] == [r.samples for r in many.replications[:2]]


def test_different_seeds_and_replications_draw_different_traces():
    sc = scenario_from_dict(BASE)
    model = build_model(sc)
    t0 = simulate(model, 0, record_trace=True).trace
    t1 = simulate(model, 1, record_trace=True).trace
    t_other = simulate(build_model(scenario_from_dict({**BASE, "seed": 100})), 0, record_trace=True).trace
    assert t0 != t1 and t0 != t_other


def test_run_accepts_a_path_a_mapping_or_a_scenario_with_overrides():
    from conftest import SCENARIOS
    from tpusim import run

    by_path = run(SCENARIOS / "tpuv4_pod.yaml", ["replications=2", "horizon_days=20"])
    by_dict = run({**BASE, "replications": 2}, ["horizon_days=20"])
    by_obj = run(scenario_from_dict(BASE), ["replications=2", "horizon_days=20"])
    assert by_path.scenario.replications == 2 and by_path.scenario.horizon_days == 20
    assert by_dict.summary()["policies"] == by_obj.summary()["policies"]


@pytest.mark.dask
@pytest.mark.slow
def test_tpusim_run_on_a_dask_cluster_writes_the_serial_summary(tmp_path):
    """`tpusim run --scheduler-address` spreads the replications over a Dask cluster and gives
    the summary of a serial run (all but the wall time)."""
    from distributed import LocalCluster
    from typer.testing import CliRunner

    from conftest import SCENARIOS
    from tpusim.cli import app

    args = ["run", str(SCENARIOS / "tpuv4_pod_jobs.yaml"), "--replications", "3", "--set", "horizon_days=4", "--no-plot",
            "--jobs-csv"]
    runner = CliRunner()
    serial = runner.invoke(app, args + ["--out", str(tmp_path / "serial")])
    assert serial.exit_code == 0, serial.output
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = runner.invoke(app, args + ["--out", str(tmp_path / "dask"), "--scheduler-address",
                                          cluster.scheduler_address])
    assert dask.exit_code == 0, dask.output

    def numbers(folder):
        s = json.loads((tmp_path / folder / "summary.json").read_text())
        s.pop("wall_seconds")
        s.pop("provenance")  # when and by which command: differs by design
        return s

    assert numbers("dask") == numbers("serial")
    assert (tmp_path / "dask" / "jobs.csv").read_text() == (tmp_path / "serial" / "jobs.csv").read_text()
    serial_jobs = pd.read_parquet(tmp_path / "serial" / "jobs.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "jobs.parquet"), serial_jobs)
    # the CSV on request holds the same rows, its numbers written to round-trip (read them so:
    # pandas 2's default parser may land one unit in the last place off)
    csv_jobs = pd.read_csv(tmp_path / "serial" / "jobs.csv", float_precision="round_trip")
    assert len(csv_jobs) == len(serial_jobs) > 0 and list(csv_jobs.columns) == list(serial_jobs.columns)
    assert (csv_jobs.held_chip_hours.to_numpy() == serial_jobs.held_chip_hours.to_numpy()).all()


def test_a_scenario_changed_in_code_simulates_the_new_machine():
    """model_copy and with_overrides validate and rebuild: the run uses the new topology."""
    sc = scenario_from_dict({**BASE, "slices": ["4x4x4"], "replications": 1})
    small = sc.model_copy(update={"topology": {"cube_grid": [2, 2, 2]}})
    assert build_model(small).machine.cubes_per_pod == 8 and build_model(sc).machine.cubes_per_pod == 64
    assert run_scenario(small).summary()["components"]["host"]["failures"] < \
        run_scenario(sc).summary()["components"]["host"]["failures"]  # 8 cubes fail less than 64
    bigger = sc.with_overrides({"slices": ["8x8x8"], "topology.cube_grid": [2, 2, 2]})
    assert build_model(bigger).machine.cube_grid == (2, 2, 2)
    with pytest.raises(ScenarioError, match="needs 64 cubes but a pod has 8"):
        sc.model_copy(update={"topology": {"cube_grid": [2, 2, 2]}, "slices": ["16x16x16"]})


def test_blocks_of_replications_give_the_serial_results_in_any_grouping():
    """The executor hands out blocks of consecutive replications of one model, each model sent
    once per worker: every grouping gives the serial samples, bit for bit."""
    from tpusim.engine.execution import Task, execute, plan_blocks

    model = build_model(scenario_from_dict({**BASE, "replications": 7}))
    other = build_model(scenario_from_dict({**BASE, "replications": 7, "seed": 5}))
    tasks = [Task(model, r) for r in range(7)] + [Task(other, r) for r in range(3)]
    models, blocks = plan_blocks(tasks, workers=2, block_size=3)
    assert len(models) == 2 and [len(m) for _, m in blocks] == [3, 3, 1, 3]  # never across models
    assert sorted(i for _, members in blocks for i in members) == list(range(10))
    serial = dict(execute(tasks))
    for size in (1, 3, None):
        pooled = dict(execute(tasks, workers=2, block_size=size))
        assert {i: r.samples for i, r in pooled.items()} == {i: r.samples for i, r in serial.items()}


def test_a_sweeps_tasks_send_back_only_the_samples():
    """A sweep keeps a replication's samples only: its tasks are slimmed where they ran (no
    per-job rows cross the wire), with every sample as in a full run, on any executor."""
    import pickle

    from tpusim.engine.execution import Task, execute

    model = build_model(scenario_from_dict({**BASE, "horizon_days": 20, "replications": 2, "policies": ["reconfigurable"],
                                            "workload": {"jobs_per_pod_day": 40}}))
    full = dict(execute([Task(model, r) for r in range(2)]))
    assert all(len(r.jobs["reconfigurable"].rows["job"]) > 500 for r in full.values())
    for workers in (1, 2):
        slim = dict(execute([Task(model, r, samples_only=True) for r in range(2)], workers=workers))
        for i, r in slim.items():
            assert r.jobs is None and r.trace is None and r.series is None
            assert r.samples == full[i].samples and r.counts == full[i].counts
            assert len(pickle.dumps(r)) < len(pickle.dumps(full[i])) / 5


@pytest.mark.slow
def test_a_replication_split_by_policy_is_the_whole_replication_bit_for_bit():
    """With fewer than two tasks per worker, a replication with jobs runs as one part per policy
    on the workers, merged: the samples (in their order), per-job rows, gray kills and trace
    of the serial run; progress counts the parts that are in as thirds of the replication."""
    import numpy as np

    from tpusim.engine.execution import Task, execute, split_by_policy

    sc = scenario_from_dict({**BASE, "horizon_days": 15, "replications": 1,
                             "policies": ["static", "reconfigurable", "reconfigurable_ft"],
                             "workload": {"jobs_per_pod_day": 60},
                             "failures": {"host": {"daily_rate": 0.02, "gray": {"daily_rate": 0.02,
                                                                               "job_failures_per_hour": 0.5, "mean_hours": 48}}}})
    model = build_model(sc)
    tasks = [Task(model, 0, record_trace=True)]
    parts, owner = split_by_policy(tasks, 2)
    assert [p.policies for p in parts] == [("static",), ("reconfigurable",), ("reconfigurable_ft",)]
    assert owner == [0, 0, 0] and [p.record_trace for p in parts] == [True, False, False]
    assert split_by_policy(tasks * 4, 2)[0] == tasks * 4  # two tasks per worker: whole replications
    capacity = build_model(scenario_from_dict(BASE))
    assert split_by_policy([Task(capacity, 0)], 4)[0] == [Task(capacity, 0)]  # no jobs: nothing to split

    whole = dict(execute(tasks))[0]
    steps = []
    merged = dict(execute(tasks, workers=2, progress=lambda done, total: steps.append((done, total))))[0]
    assert steps[-1] == (1, 1) and all(d in (1 / 3, 2 / 3) and t == 1 for d, t in steps[:-1])
    assert merged.samples == whole.samples and merged.trace == whole.trace and merged.counts == whole.counts
    kills = {policy: output.gray_kills for policy, output in whole.jobs.items()}
    assert {policy: output.gray_kills for policy, output in merged.jobs.items()} == kills and any(kills.values())
    assert list(merged.jobs) == list(whole.jobs) == sc.policies
    for policy, output in whole.jobs.items():
        for name, values in output.rows.items():
            assert np.array_equal(merged.jobs[policy].rows[name], values, equal_nan=values.dtype.kind == "f")
    slim = dict(execute([Task(model, 0, samples_only=True)], workers=3))[0]  # a sweep's task, split
    assert slim.samples == whole.samples and slim.jobs is None


def test_progress_within_a_replication_moves_steadily_and_changes_no_number():
    """Run here, a replication with jobs reports how far its job simulations have gone (each
    policy's share, a hundredth of the horizon at a time): steps that only grow, up to the task
    count, and the same samples and rows as a run without them."""
    import numpy as np

    from tpusim.engine.execution import Task, execute

    model = build_model(scenario_from_dict({**BASE, "horizon_days": 10, "replications": 2,
                                            "policies": ["static", "reconfigurable"],
                                            "workload": {"jobs_per_pod_day": 60}}))
    tasks = [Task(model, r) for r in range(2)]
    steps = []
    watched = dict(execute(tasks, progress=lambda done, total: steps.append(done)))
    plain = dict(execute(tasks))
    assert len(steps) >= 2 * 2 * 100 and steps == sorted(steps) and steps[-1] == 2 and 0 < steps[0] < 0.01
    for r in range(2):
        assert watched[r].samples == plain[r].samples
        for policy, output in plain[r].jobs.items():
            for name, values in output.rows.items():
                assert np.array_equal(watched[r].jobs[policy].rows[name], values, equal_nan=values.dtype.kind == "f")


def test_progress_over_split_replications_never_goes_back():
    """Several replications split by policy on a pool: the parts come back in any order, and
    progress (tasks done plus the parts in of those under way) only grows, to the task count."""
    from tpusim.engine.execution import Task, execute

    model = build_model(scenario_from_dict({**BASE, "horizon_days": 5, "replications": 3,
                                            "policies": ["static", "reconfigurable", "reconfigurable_ft"],
                                            "workload": {"jobs_per_pod_day": 40}}))
    steps = []
    results = dict(execute([Task(model, r) for r in range(3)], workers=2,
                           progress=lambda done, total: steps.append(done)))
    assert sorted(results) == [0, 1, 2] and len(steps) == 9  # one step per part
    assert steps == sorted(steps) and steps[-1] == 3
