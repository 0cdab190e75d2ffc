"""Hero jobs in every output (issue 34): the terminal's hero tables and paired differences,
summary.json's ``heroes`` blocks, report.html's section and plot, and ``Results.hero_frame``;
nothing of them for a run without hero jobs."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO
from tpusim.cli import app
from tpusim.core.metrics import HERO_GOODPUT, HERO_MEAN_CUBES, HERO_METRICS, HERO_PROGRAM_GOODPUT
from tpusim.scheduler.hero import HERO_PARTS

#: A pod of 4x4x4 cubes, one elastic hero that the static policy can never place (15 cubes in a
#: row) and one rigid one-cube hero that both place.
SCENARIO = {
    "name": "hero_small", "seed": 11, "replications": 3, "horizon_days": 8,
    "policies": ["static", "reconfigurable"], "slices": ["4x4x4"], "topology": {"cube_grid": [4, 4, 4]},
    "failures": {"host": {"daily_rate": 0.01, "repair": {"dist": "exponential", "mean_hours": 24}},
                 "ici_link": {"daily_rate": 0}, "ocs": {"daily_rate": 0}},
    "workload": {"jobs_per_pod_day": 10,
                 "hero": [{"name": "big", "shape": "8x8x60", "min_cubes": 52, "program_goodput": 0.5},
                          {"name": "rigid", "shape": "4x4x4"}]},
}


@pytest.fixture(scope="module")
def hero_run(tmp_path_factory):
    """The CLI's run of :data:`SCENARIO`: (its output, its folder)."""
    folder = tmp_path_factory.mktemp("hero")
    path = folder / "hero.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    out = folder / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output, out


def test_the_terminal_shows_a_table_per_hero_with_its_caveats(hero_run):
    output, _ = hero_run
    lines = output.splitlines()
    for name, size in (("big", "8x8x60 (elastic, 52, 56 or 60 cubes)"), ("rigid", "4x4x4 (rigid, 1 cube)")):
        assert any(line.startswith(f"hero job {name}: {size}") for line in lines)
    assert output.index("hero job big") > output.index("jobs (mean")  # after the job table
    program = [line for line in lines if line.startswith("│ program goodput (an input, not simulated)")]
    assert [line.count(" 50.00 (input)") for line in program] == [2, 0]  # big's 0.5 under both policies
    assert program[1].count(" 100.00 (input)") == 2  # rigid's: the default
    assert "(input): program goodput is given by the scenario" in output
    goodput = next(line for line in lines if "hero goodput" in line)  # big's first row
    assert "0.00 (never fits)" in goodput and "(never fits): this policy can place none of the hero" in output
    waiting = next(line for line in lines if "waiting for capacity" in line)
    assert "│   waiting" in waiting and "100.00 (never fits)" in waiting  # indented: a part of the goodput's 100 %
    assert "(none seen)" not in output.split("hero job big")[1].split("paired differences")[0]
    for label in ("hero big goodput", "hero big cubes", "hero rigid goodput", "hero rigid cubes"):
        assert any(line.startswith(f"│ {label} ") for line in lines), label  # in the paired differences


def test_summary_has_a_heroes_block_whose_parts_sum_to_one(hero_run):
    _, out = hero_run
    summary = json.loads((out / "summary.json").read_text())
    for policy, block in summary["policies"].items():
        heroes = block["heroes"]
        assert list(heroes) == ["big", "rigid"]
        for name, hero in heroes.items():
            assert set(HERO_METRICS) <= set(hero)
            assert math.isclose(sum(hero[p]["mean"] for p in HERO_PARTS), 1.0, abs_tol=1e-9), (policy, name)
            assert hero[HERO_PROGRAM_GOODPUT]["input"] is True
            assert hero["never_fits"] == (policy == "static" and name == "big")
    static_big = summary["policies"]["static"]["heroes"]["big"]
    assert static_big[HERO_GOODPUT]["mean"] == 0.0 and static_big["hero_waiting_fraction"]["mean"] == 1.0
    compared = summary["comparisons"]["policies"]["reconfigurable"]["heroes"]
    assert set(compared) == {"big", "rigid"} and set(compared["big"]) == {HERO_GOODPUT, HERO_MEAN_CUBES}
    assert compared["big"][HERO_GOODPUT]["difference"]["mean"] > 0  # it never runs under static


def test_report_and_plot(hero_run):
    _, out = hero_run
    png = out / "hero_goodput_decomposition.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    html = (out / "report.html").read_text()
    assert "<h2>Hero jobs</h2>" in html and html.count("<h2>Hero jobs</h2>") == 1
    assert "hero job big: 8x8x60" in html and "50.00 (input)" in html and "(never fits)" in html
    assert "alt='hero_goodput_decomposition'" in html


def test_hero_frame_and_plot():
    import tpusim

    results = tpusim.run(SCENARIO, replications=2)
    frame = results.hero_frame()
    assert len(frame) == 2 * 2 * len(HERO_METRICS)
    assert set(frame.hero) == {"big", "rigid"} and list(frame.metric[: len(HERO_METRICS)]) == list(HERO_METRICS)
    assert frame[~frame.simulated].metric.unique().tolist() == [HERO_PROGRAM_GOODPUT]
    assert set(frame[frame.never_fits][["policy", "hero"]].itertuples(index=False, name=None)) == {("static", "big")}
    parts = frame[frame.metric.isin(HERO_PARTS)].groupby(["policy", "hero"], observed=True)["mean"].sum()
    assert all(math.isclose(v, 1.0, abs_tol=1e-9) for v in parts)
    assert results.plot("hero") is not None
    diffs = results.comparisons()
    assert {(m, k) for m, k in zip(diffs.metric, diffs.key) if m.startswith("hero")} == {
        (HERO_GOODPUT, "big"), (HERO_MEAN_CUBES, "big"), (HERO_GOODPUT, "rigid"), (HERO_MEAN_CUBES, "rigid")}


def test_a_run_without_hero_jobs_shows_none(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(REPO / "tests" / "golden" / "tiny_jobs.yaml"), "--out", str(out),
                                      "--replications", "2", "--set", "horizon_days=1"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    shown = "\n".join(line for line in result.output.splitlines() if not line.startswith("wrote "))
    assert "hero" not in shown.lower()
    summary = json.loads((out / "summary.json").read_text())
    assert all("heroes" not in block for block in summary["policies"].values())
    assert all("heroes" not in block for block in summary["comparisons"]["policies"].values())
    assert not (out / "hero_goodput_decomposition.png").exists()
    assert "Hero jobs" not in (out / "report.html").read_text()
