"""`tpusim fit` (issue 32, point 5): failure rates and repair laws from an incident log.

Round trip (a trace the simulator wrote from known rates is fitted back within its intervals),
coverage of the intervals over 200 synthetic censored logs made here with numpy (never by the
code under test), lifelines' parameterisation (an exponential's lambda_ is a mean time), the
CLI's refusals and files, and the written section validating in a shipped scenario."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import tpusim
from tpusim.cli import app
from tpusim.config import scenario_from_dict
from tpusim.config.build import build_model
from tpusim.config.load import load_scenario
from tpusim.studies.fit import FitInputError, read_log

from conftest import REPO, SCENARIOS

runner = CliRunner()
EXAMPLE = REPO / "tpusim" / "data" / "example_incidents.csv"

#: A small machine (32 hosts, 288 ICI links, 24 OCSes) at raised rates: enough events in a year.
TRUTH = {
    "host": {"daily_rate": 0.01, "repair": {"dist": "lognormal", "mean_hours": 6.0, "sigma": 1.0}},
    "ici_link": {"daily_rate": 0.002, "repair": {"dist": "exponential", "mean_hours": 24.0}},
    "ocs": {"daily_rate": 0.01, "repair": {"dist": "lognormal", "mean_hours": 12.0, "sigma": 0.5}},
}
SMALL = {"name": "small", "seed": 7, "replications": 1, "horizon_days": 365, "policies": ["static"],
         "slices": ["2x2x2"],
         "topology": {"pods": 2, "cube_grid": [2, 2, 1], "cube_shape": [2, 2, 2], "hosts_per_cube": 4,
                      "chips_per_host": 2},
         "failures": TRUTH}


def _covers(low: float, high: float, truth: float) -> bool:
    return low <= truth <= high


def test_a_trace_the_simulator_wrote_is_fitted_back_within_its_intervals(tmp_path):
    """`tpusim run --write-trace` from known rates, then `tpusim fit` of that trace (censored
    at the horizon, the machine's populations read from the same scenario): every known daily
    rate and repair mean lies in its 95 % interval, for the law of the true family."""
    scenario = tmp_path / "small.yaml"
    scenario.write_text(yaml.safe_dump(SMALL))
    run = runner.invoke(app, ["run", str(scenario), "--write-trace", "--no-plot", "-q", "-o", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    fitted = runner.invoke(app, ["fit", str(tmp_path / "run" / "failure_trace.csv"), "--scenario", str(scenario),
                                 "--log-end-hours", str(365 * 24), "-o", str(tmp_path / "fit"), "--no-plot"])
    assert fitted.exit_code == 0, fitted.output
    got = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert got["log"]["format"] == "trace" and got["log"]["replication"] == 0
    for cls, truth in TRUTH.items():
        c = got["classes"][cls]
        assert c["failures"] > 50, (cls, c["failures"])  # enough events for a real check
        assert _covers(*c["daily_rate_ci95"], truth["daily_rate"]), (cls, c["daily_rate"], c["daily_rate_ci95"])
        law = c["laws"][truth["repair"]["dist"]]
        assert _covers(*law["mean_hours_ci95"], truth["repair"]["mean_hours"]), (cls, law)
        if "sigma" in truth["repair"]:
            assert _covers(*law["sigma_ci95"], truth["repair"]["sigma"]), (cls, law)
        assert c["written"] == truth["repair"]["dist"], (cls, c["written"])  # AIC picks the true family


def _synthetic_log(gen: np.random.Generator, units: int, daily_rate: float, mean_hours: float, sigma: float,
                   hours: float, cycles: int = 10) -> str:
    """An incident log written here, independently of tpusim: every unit starts up, stays up an
    exponential time (hazard ``daily_rate`` per day), is down a lognormal time (mean
    ``mean_hours``, ``sigma``), and so on; incidents still open at ``hours`` are left open."""
    up = gen.exponential(24.0 / daily_rate, (units, cycles))
    mu = math.log(mean_hours) - sigma**2 / 2
    down = gen.lognormal(mu, sigma, (units, cycles))
    start = np.concatenate([np.zeros((units, 1)), np.cumsum(up + down, axis=1)[:, :-1]], axis=1)
    fail = start + up
    repair = fail + down
    assert (start[:, -1] + up[:, -1] > hours).all(), "too few cycles drawn"
    unit, k = np.nonzero(fail < hours)
    rows = [f"{u},host,{f!r},{'' if r >= hours else repr(r)}"
            for u, f, r in zip(unit, fail[unit, k].tolist(), repair[unit, k].tolist())]
    return "unit,class,down_hours,up_hours\n" + "\n".join(rows) + "\n"


@pytest.mark.slow
def test_the_intervals_cover_the_truth_95_percent_of_the_time():
    """200 synthetic censored logs (known rate, known lognormal repair): the rate's exact
    Poisson interval and the written repair mean's delta-method interval each cover the truth
    in 92 % to 98 % of them."""
    seeds, units, rate, mean, sigma, hours = 200, 400, 0.002, 6.0, 1.0, 365 * 24.0
    rate_hits = mean_hits = 0
    for seed in range(seeds):
        text = _synthetic_log(np.random.default_rng(seed), units, rate, mean, sigma, hours)
        fit = tpusim.fit(text, {"host": units}, log_end_hours=hours).classes["host"]
        rate_hits += _covers(fit.rate.low, fit.rate.high, rate)
        law = fit.laws[fit.written]
        mean_hits += _covers(law.mean_low, law.mean_high, mean)
    assert 0.92 <= rate_hits / seeds <= 0.98, rate_hits
    assert 0.92 <= mean_hits / seeds <= 0.98, mean_hits


def test_an_exponential_fit_reports_the_mean_time_not_a_rate():
    """lifelines' ExponentialFitter's lambda_ is a mean time: repairs with mean 6 h give
    mean_hours near 6 (never 1/6), in the written section too."""
    gen = np.random.default_rng(3)
    durations = gen.exponential(6.0, 400)
    downs = np.sort(gen.uniform(1.0, 8000.0, 400))
    rows = [f"{i},host,{d!r},{d + r!r}" for i, (d, r) in enumerate(zip(downs.tolist(), durations.tolist()))]
    fitted = tpusim.fit("unit,class,down_hours,up_hours\n" + "\n".join(rows) + "\n", {"host": 1000},
                        log_end_hours=9000.0)
    law = fitted.classes["host"].laws["exponential"]
    assert law.params["lambda_"] == pytest.approx(law.mean_hours)
    assert 5.0 < law.mean_hours < 7.0 and law.mean_low < 6.0 < law.mean_high
    written = fitted.failures_section()["host"]["repair"]
    assert 5.0 < written["mean_hours"] < 7.0


def test_open_incidents_are_censored_and_time_down_is_not_exposure():
    """By hand: 2 units of 10, a log of 100 h; unit a down 10-30 h, unit b down from 90 h to
    the end (open). 2 failures over 10 x 100 - 20 - 10 = 970 unit-hours; one closed repair of
    20 h and one censored at 10 h; an incident at 0 h is down time only."""
    text = "unit,class,down_hours,up_hours\na,host,10,30\nb,host,90,\nc,host,0,5\n"
    fit = tpusim.fit(text, {"host": 10}, log_end_hours=100).classes["host"]
    assert fit.rate.failures == 2 and fit.open_at_end == 1 and fit.open_at_start == 1
    assert fit.rate.exposure_unit_days == pytest.approx((1000 - 20 - 10 - 5) / 24)
    assert fit.rate.daily_rate == pytest.approx(2 / ((1000 - 35) / 24))
    assert fit.repair_times == 1 and not fit.laws  # one closed repair: too few to fit a law


def _cli(args: list[str]):
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("log, args, expected", [
    ("unit,class,down_hours\n1,host,3\n", [], "up_hours"),  # a missing column
    ("unit,class,down_hours,up_hours\n1,host,3,5\n2,ocs,4,\n", ["--population", "host=10"], "--population"),
    ("unit,class,down_hours,up_hours\n1,host,-3,5\n", ["--population", "host=10"], "down_hours"),
    ("unit,class,down_hours,up_hours\n1,host,8,5\n", ["--population", "host=10"], "up_hours"),
    ("unit,class,down_hours,up_hours\n1,disk,8,9\n", ["--population", "host=10"], "class"),
    ("unit,class,down_hours,up_hours\n1,host,1,5\n1,host,3,9\n", ["--population", "host=10"], "while still down"),
    ("unit,class,down_hours,up_hours\n1,host,1,5\n", ["--population", "host=10", "--log-end-hours", "4"],
     "--log-end-hours"),
    ("replication,time_hours,component,event\n0,1,host:3,fail\n1,2,host:3,fail\n", ["--population", "host=10"],
     "--replication"),
    ("unit,class,down_hours,up_hours\n1,host,1,5\n", ["--population", "host=0"], "--population host=0"),
])
def test_bad_input_exits_2_naming_the_key(tmp_path, log, args, expected):
    path = tmp_path / "incidents.csv"
    path.write_text(log)
    result = _cli(["fit", str(path), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.output
    if "line" in errors[0]:
        assert str(path) in errors[0]
    assert not (tmp_path / "out" / "fit.json").exists()


def test_a_missing_population_names_the_class_and_the_way_to_give_it(tmp_path):
    result = _cli(["fit", str(EXAMPLE), "--population", "host=1024", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "--population: the log has 282 ici_link incidents but no ici_link population" in result.output
    assert "--scenario SCENARIO" in result.output


def _merged(failures: dict) -> dict:
    """scenarios/tpuv4_pod.yaml with the classes of ``failures`` replaced."""
    data = yaml.safe_load((SCENARIOS / "tpuv4_pod.yaml").read_text())
    data["failures"].update(failures)
    return data


def test_the_example_log_fits_and_its_section_validates_in_the_pod_scenario(tmp_path):
    """The shipped example (a pod-year at the published rates) through the CLI: fit.json,
    failures.yaml and a PNG per class written; the published rates inside the intervals; the
    failures: section, merged into scenarios/tpuv4_pod.yaml, validates with tpusim's loader and
    keeps the fitted values."""
    out = tmp_path / "fit"
    result = _cli(["fit", str(EXAMPLE), "--scenario", "tpuv4_pod", "--log-end-hours", "8760", "-o", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("fit.json", "failures.yaml", "fit_host.png", "fit_ici_link.png", "fit_ocs.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "fit_host.png").read_bytes()[:4] == b"\x89PNG"
    got = json.loads((out / "fit.json").read_text())
    for cls, rate in (("host", 0.0008), ("ici_link", 0.00005), ("ocs", 0.0004)):
        assert _covers(*got["classes"][cls]["daily_rate_ci95"], rate)
    assert got["classes"]["ici_link"]["population"] == 15360
    pasted = yaml.safe_load((out / "failures.yaml").read_text())
    assert set(pasted) == {"failures", "assumptions"}
    scenario = scenario_from_dict(_merged(pasted["failures"]))
    assert scenario.failures.host.daily_rate == pasted["failures"]["host"]["daily_rate"]
    assert scenario.failures.host.repair.mean_hours == pasted["failures"]["host"]["repair"]["mean_hours"]
    build_model(scenario)
    a = pasted["assumptions"]["failures.host.daily_rate"]
    assert set(a) == {"low", "high", "interval", "source"} and a["interval"] == 0.95 and a["low"] < pasted["failures"]["host"]["daily_rate"] < a["high"]
    assert "exact Poisson 95 %" in a["source"] and "1024 units x 365 d" in a["source"]
    assert "failures.host.repair.mean_hours" in pasted["assumptions"]
    assert "(given)" in result.output and "wrote" in result.output


def test_a_weekly_schedule_validates_next_to_its_csv(tmp_path):
    """--weekly: weekly_rates.csv (a week's failures over its exposure, percent per day, with
    exact intervals) is each class's schedule; a scenario beside it builds."""
    out = tmp_path / "fit"
    result = _cli(["fit", str(EXAMPLE), "--scenario", "tpuv4_pod", "--weekly", "-o", str(out), "--no-plot", "-f", "yaml"])
    assert result.exit_code == 0, result.output
    assert "largest time in the log" in result.output  # the default end is said
    weekly = (out / "weekly_rates.csv").read_text().splitlines()
    assert weekly[0].startswith("week,start_hours,hours,host_failures") and len(weekly) == 1 + 53
    pasted = yaml.safe_load((out / "failures.yaml").read_text())
    assert pasted["failures"]["host"]["schedule"]["column"] == "host_pct_per_day"
    path = out / "mine.yaml"
    path.write_text(yaml.safe_dump(_merged(pasted["failures"])))
    build_model(load_scenario(path))


def test_a_log_with_several_replications_is_fitted_one_at_a_time():
    text = ("replication,time_hours,component,event\n0,1,host:3,fail\n0,4,host:3,repair\n"
            "1,2,host:3,fail\n1,9,host:3,repair\n1,10,host:4,fail\n")
    with pytest.raises(FitInputError, match="replication: the log holds 2 replications"):
        read_log(text)
    log = read_log(text, replication=1)
    assert len(log) == 2 and log.end_hours == 10 and np.isnan(log.up[1])
    assert tpusim.study("fit", log, population={"host": 8}).classes["host"].rate.failures == 2
