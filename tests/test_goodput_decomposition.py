"""The goodput decomposition (DESIGN section 4): held chip-hours split into useful work,
hardware loss (incl. gray faults and the FT stall before a reroute), FT slowdown, checkpoint
stalls, setups no failure caused and work lost to preemption, summing to the held total in
every replication and policy. Checked on scenarios that run every control-plane path: the
golden jobs scenario (preemption, defragmentation, spare swaps, FT reroutes, pre-flight, drawn
detection delays) under all four policies, the same with in-memory checkpoints and rack
failures, maintenance drains, and gray faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpusim import load_scenario, run_scenario
from tpusim.core.metrics import (CHECKPOINT_CHIP_HOURS, HELD_CHIP_HOURS, LOST_CHIP_HOURS, PREEMPTION_LOST_CHIP_HOURS,
                                 SETUP_CHIP_HOURS, SLOWDOWN_CHIP_HOURS, USEFUL_CHIP_HOURS)

PARTS = (USEFUL_CHIP_HOURS, LOST_CHIP_HOURS, SLOWDOWN_CHIP_HOURS, CHECKPOINT_CHIP_HOURS, SETUP_CHIP_HOURS,
         PREEMPTION_LOST_CHIP_HOURS)
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name, overrides", [
    (GOLDEN / "tiny_jobs.yaml", {"policies": ["static", "static_ft", "reconfigurable", "reconfigurable_ft"],
                                 "workload.checkpoint.mode": "synchronous"}),
    # the in-memory store, with racks (a cube's 16 hosts) failing at once: restores from peers'
    # RAM, fallbacks to storage when a shard loses both copies or a job leaves its hosts
    (GOLDEN / "tiny_jobs.yaml", {"policies": ["static", "static_ft", "reconfigurable", "reconfigurable_ft"],
                                 "workload.checkpoint.store": "memory", "workload.checkpoint.storage_every": 3,
                                 "workload.checkpoint.storage_restore_minutes": 2,
                                 "workload.checkpoint.memory_restore_minutes": 0.2,
                                 "failures.domains": [{"name": "rack", "of": "host", "units": 16, "daily_rate": 0.05,
                                                       "repair": {"dist": "fixed", "mean_hours": 1}}]}),
    ("maintenance", {"replications": 1, "horizon_days": 40}),
    ("gray_failures", {"replications": 1, "horizon_days": 5}),
])
def test_held_chip_hours_are_the_sum_of_their_parts(name, overrides):
    results = run_scenario(load_scenario(name).with_overrides(overrides))
    checked = 0
    for r in results.replications:
        for policy in results.model.policy_names:
            held = r.value(policy, HELD_CHIP_HOURS)
            parts = {metric: r.value(policy, metric) for metric in PARTS}
            assert all(v >= -1e-6 for v in parts.values()), parts
            assert sum(parts.values()) == pytest.approx(held, rel=1e-9, abs=1e-6), (policy, held, parts)
            checked += held > 0
    assert checked


def test_the_decomposition_figure_shows_parts_that_sum_with_the_useful_share_to_the_whole(tmp_path):
    from tpusim.output.plots import decomposition_shares, plot_goodput_decomposition

    results = run_scenario(load_scenario(GOLDEN / "tiny_jobs.yaml"))
    for policy in results.model.policy_names:
        shares = decomposition_shares(results, policy)
        useful = results.job_metric(policy, USEFUL_CHIP_HOURS).mean / results.job_metric(policy, HELD_CHIP_HOURS).mean
        assert sum(shares.values()) + 100 * useful == pytest.approx(100, abs=1e-9)
        assert all(v >= -1e-9 for v in shares.values())
    plot_goodput_decomposition(results, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 1000


def test_the_rows_count_preemptions_and_spare_evictions_as_the_metrics_do():
    """Audit point 12: the per-job preemptions column counted spare evictions, the metric did
    not. Now each row has its own evictions column, and per replication and policy the rows
    add up to the preemptions and spare_evictions metrics."""
    from tpusim.core.metrics import PREEMPTIONS, SPARE_EVICTIONS

    results = run_scenario(load_scenario(GOLDEN / "tiny_jobs.yaml").with_overrides(
        {"pod_manager.spare_cubes": 2, "pod_manager.preemptible_spares": True}))
    rows = results.jobs_frame()
    seen = {PREEMPTIONS: 0.0, SPARE_EVICTIONS: 0.0}
    for r in results.replications:
        for policy in results.model.policy_names:
            mine = rows[(rows.replication == r.replication) & (rows.policy == policy)]
            for metric, column in ((PREEMPTIONS, "preemptions"), (SPARE_EVICTIONS, "evictions")):
                assert mine[column].sum() == r.value(policy, metric), (policy, metric)
                seen[metric] += r.value(policy, metric)
    assert all(seen.values()), seen  # both kinds of stop happened
