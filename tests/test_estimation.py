"""The scenario's ``estimation:`` section and ``tpusim run --estimator importance`` (issue 33):
the schema, the wiring to the ``rare`` study (same numbers as calling it directly), the refusal
of scenarios outside the estimator's model (exit 2 naming the key), and the "(none seen)"
footnote that points to the estimator only where it applies."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tpusim
from tpusim import load_scenario
from tpusim.cli import app

runner = CliRunner()

#: one pod of four 2x2x2 cubes, hosts only (exponential repairs): the 1- and 2-cube slices are
#: never down in 2 x 10 days (~1e-8, ~4e-6), the 4-cube slice is (~4 %)
TINY = """\
name: tiny_hosts
seed: 7
replications: 2
horizon_days: 10
policies: [static, reconfigurable]
slices: [2x2x2, 2x4x2, 4x4x2]
topology: {pods: 1, cube_grid: [2, 2, 1], cube_shape: [2, 2, 2], hosts_per_cube: 4, chips_per_host: 2}
failures:
  host: {daily_rate: 0.01, repair: {dist: exponential, mean_hours: 6}}
  ici_link: {daily_rate: 0}
  ocs: {daily_rate: 0}
"""
CYCLES = "estimation.importance.cycles=5000"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_estimation_defaults_and_keys():
    sc = load_scenario("tpuv4_pod")
    assert sc.estimation.estimator == "plain"
    assert sc.estimation.importance.cycles == 20000 and sc.estimation.importance.bias == 0.5
    assert sc.resolved()["estimation"] == {"estimator": "plain", "importance": {"cycles": 20000, "bias": 0.5},
                                           "control_variates": "beside"}
    sc = load_scenario("tpuv4_pod", ["estimation.estimator=importance", "estimation.importance.bias=0"])
    assert sc.estimation.estimator == "importance" and sc.estimation.importance.bias == 0.0


@pytest.mark.parametrize("setting, message", [
    ("estimation.estimator=fancy", "estimation.estimator: must be one of 'plain' or 'importance'"),
    ("estimation.importance.cycles=1", "estimation.importance.cycles: must be >= 2"),
    ("estimation.importance.cycles=2.5", "estimation.importance.cycles"),
    ("estimation.importance.bias=1", "estimation.importance.bias: must be < 1"),
    ("estimation.importance.bias=-0.1", "estimation.importance.bias: must be >= 0"),
    ("estimation.importance.seed=3", "estimation.importance.seed: unknown key"),
    ("estimation.bogus=1", "estimation.bogus: unknown key"),
])
def test_bad_estimation_values_exit_2_naming_the_key(setting, message):
    result = runner.invoke(app, ["validate", "tpuv4_pod", "--set", setting])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bad_estimator_option_names_the_option(tmp_path):
    result = runner.invoke(app, ["run", "tpuv4_pod", "--estimator", "fancy", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--estimator" in result.output, result.output


def test_run_with_importance_writes_the_rare_study_numbers(tiny, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(app, ["run", str(tiny), "-o", str(out), "--no-plot", "--estimator", "importance",
                                 "--set", CYCLES])
    assert result.exit_code == 0, result.output
    assert "rare slice outages (importance sampling)" in result.output
    block = json.loads((out / "summary.json").read_text())["importance"]
    assert block["rule"] == "reconfigurable" and block["cycles"] == 5000 and block["bias"] == 0.5
    assert block["seed"] == 7 and block["skipped"] == [] and block["warnings"] == []
    assert [r["shape"] for r in block["rows"]] == ["2x2x2", "2x4x2", "4x4x2"]
    # the same numbers as the rare study itself, at the scenario's seed, cycles and bias
    direct = tpusim.study("rare", str(tiny), cycles=5000, bias=0.5, seed=7).frame
    for row, ref in zip(block["rows"], direct.to_dict("records")):
        for key in ("cubes", "unavailability", "half_width", "relative_half_width", "closed_form", "cycles"):
            assert row[key] == pytest.approx(ref[key], rel=1e-12), key
        assert abs(row["unavailability"] - row["closed_form"]) <= row["half_width"]  # at this seed
    # the footnote says the unseen shapes were estimated, under the rule the estimate is for
    assert "reconfigurable 2x2x2, 2x4x2: estimated by importance sampling" in " ".join(result.output.split())
    assert "importance" in (out / "report.html").read_text() and "Rare slice outages" in (out / "report.html").read_text()


def test_the_scenario_section_chooses_it_too(tiny, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(app, ["run", str(tiny), "-o", str(out), "--no-plot", "-q",
                                 "--set", "estimation.estimator=importance", "--set", CYCLES])
    assert result.exit_code == 0, result.output
    assert "importance" in json.loads((out / "summary.json").read_text())


def test_a_plain_run_has_no_importance_key_and_the_hint_where_it_applies(tiny, tmp_path):
    result = runner.invoke(app, ["run", str(tiny), "-o", str(tmp_path / "o"), "--no-plot"])
    assert result.exit_code == 0, result.output
    assert "importance" not in json.loads((tmp_path / "o" / "summary.json").read_text())
    text = " ".join(result.output.split())
    assert ("reconfigurable 2x2x2, 2x4x2: `--estimator importance` (or `tpusim rare SCENARIO`) would estimate it "
            "by importance sampling (the reconfigurable rule)") in text


@pytest.mark.parametrize("setting", ["policies=[static]", "topology.sub_pod_slices=mesh"])
def test_no_hint_where_the_estimator_does_not_apply(tiny, tmp_path, setting):
    """Static wiring is not the estimator's rule; mesh sub-pod slices are outside its model."""
    result = runner.invoke(app, ["run", str(tiny), "-o", str(tmp_path / "o"), "--no-plot", "--set", setting])
    assert result.exit_code == 0, result.output
    assert "(none seen)" in result.output
    assert "tpusim rare" not in result.output and "--estimator" not in result.output


@pytest.mark.parametrize("args, key", [
    (["--estimator", "importance"], "--estimator importance"),
    (["--set", "estimation.estimator=importance"], "estimation.estimator importance"),
])
def test_out_of_scope_scenario_exits_2_naming_the_key(tmp_path, args, key):
    result = runner.invoke(app, ["run", "maintenance", "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert key in text and "does not apply" in text and "planned maintenance" in text
    assert not (tmp_path / "o" / "summary.json").exists()  # refused before anything ran


def test_the_facade_honours_the_section_and_results_keep_it(tiny, tmp_path):
    results = tpusim.run(str(tiny), ["estimation.estimator=importance", "estimation.importance.cycles=500"])
    assert [r["shape"] for r in results.importance["rows"]] == ["2x2x2", "2x4x2", "4x4x2"]
    results.save(tmp_path / "kept")
    assert tpusim.load_results(tmp_path / "kept").importance == results.importance
    assert tpusim.run(str(tiny)).importance is None
    with pytest.raises(ValueError, match="planned maintenance"):
        tpusim.run("maintenance", ["estimation.estimator=importance"])
