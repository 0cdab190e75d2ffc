"""Input uncertainty (issue 32, point 6): fitted inputs drawn from their sampling distributions,
nested replications, and a random-effects split of each output's variance.

The statistical checks use data generated here from the two-level model y_br = mu + a_b + e_br
(a_b ~ N(0, s_in^2), e_br ~ N(0, s_sim^2)) whose block means are iid N(mu, s_in^2 + s_sim^2 / R):
the Student-t interval on B - 1 degrees of freedom of their mean covers mu exactly 95 % of the
time, and E[MS_within] = s_sim^2, E[(MS_between - MS_within) / R] = s_in^2 (textbook ANOVA)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

import tpusim
from tpusim.cli import app
from tpusim.core.errors import ScenarioError
from tpusim.studies.uncertainty import InputLaw, decompose, input_laws

TRIALS = 2000


def test_the_total_interval_covers_95_percent_and_the_components_are_unbiased():
    rng = np.random.default_rng(20261204)
    b, r, mu, s_in, s_sim = 8, 4, 0.99, 0.003, 0.005
    covered, within, between = 0, [], []
    for _ in range(TRIALS):
        y = mu + rng.normal(0, s_in, (b, 1)) + rng.normal(0, s_sim, (b, r))
        d = decompose(y)
        covered += abs(d.mean - mu) <= d.half_width
        means = y.mean(axis=1)
        ms_b = r * means.var(ddof=1)
        ms_w = ((y - means[:, None]) ** 2).sum() / (b * (r - 1))
        within.append(ms_w)
        between.append((ms_b - ms_w) / r)  # unclipped: unbiased
        assert d.sigma_sim == pytest.approx(math.sqrt(ms_w))
    # binomial: 2000 trials at p = 0.95 has sd 0.49 %; 3 sd either side
    assert abs(covered / TRIALS - 0.95) < 3 * math.sqrt(0.95 * 0.05 / TRIALS)
    # means of the method-of-moments estimators, within 4 standard errors of the truth
    for values, truth in ((within, s_sim ** 2), (between, s_in ** 2)):
        values = np.array(values)
        assert abs(values.mean() - truth) < 4 * values.std(ddof=1) / math.sqrt(TRIALS), (values.mean(), truth)


def test_the_input_share_is_what_the_inputs_add_to_the_variance_of_the_mean():
    rng = np.random.default_rng(7)
    y = 1.0 + rng.normal(0, 0.01, (10, 1)) + rng.normal(0, 0.001, (10, 5))  # inputs dominate
    assert decompose(y).input_share > 0.9
    y = 1.0 + rng.normal(0, 0.0, (10, 1)) + rng.normal(0, 0.01, (10, 5))  # no input effect
    assert decompose(y).input_share < 0.5


def test_a_fitted_interval_becomes_a_lognormal_whose_95_percent_range_is_that_interval():
    law = InputLaw("failures.host.daily_rate", 0.0008, 0.0007, 0.00092, 0.95)
    assert law.lognormal and law.spread == pytest.approx(math.log(0.00092 / 0.0007) / (2 * 1.959964), rel=1e-5)
    rng = np.random.default_rng(3)
    draws = np.array([law.draw(rng) for _ in range(20000)])
    assert np.median(draws) == pytest.approx(0.0008, rel=0.01)
    inside = ((draws >= 0.0008 * math.exp(-1.959964 * law.spread)) & (draws <= 0.0008 * math.exp(1.959964 * law.spread))).mean()
    assert inside == pytest.approx(0.95, abs=0.01)
    normal = InputLaw("x", 0.5, 0.0, 1.0, 0.95)  # low 0: a normal, clipped at 0
    assert not normal.lognormal and min(normal.draw(rng) for _ in range(2000)) >= 0.0


def _scenario(**assumption):
    return tpusim.scenario_from_dict({
        "name": "unc", "seed": 3, "replications": 2, "horizon_days": 30, "slices": ["4x4x4", "8x8x8"],
        "policies": ["static", "reconfigurable"], "topology": {"cube_grid": [2, 2, 2]},
        "failures": {"host": {"daily_rate": 0.01, "repair": {"dist": "exponential", "mean_hours": 24}}},
        "assumptions": {"failures.host.daily_rate": {"low": 0.008, "high": 0.0125, "source": "a fit", **assumption}},
    })


def test_the_study_draws_each_block_and_runs_it_on_its_own_seed():
    found = tpusim.input_uncertainty(_scenario(interval=0.95), blocks=3, replications=2)
    rates = [d["failures.host.daily_rate"] for d in found.draws]
    assert len(set(rates)) == 3 and all(0.005 < x < 0.02 for x in rates)
    again = tpusim.input_uncertainty(_scenario(interval=0.95), blocks=3, replications=2)
    assert again.draws == found.draws and again.frame.equals(found.frame)  # the seed fixes everything
    row = found.frame[(found.frame.policy == "reconfigurable") & (found.frame.key == "8x8x8")].iloc[0]
    assert 0 < row["mean"] < 1 and row["half_width"] > 0
    with pytest.raises(ScenarioError, match="no assumption has an interval"):
        input_laws(_scenario())  # a plausible range only: nothing to draw


def test_cli_refuses_bad_input_with_exit_2(tmp_path):
    path = tmp_path / "s.yaml"
    import yaml
    path.write_text(yaml.safe_dump(_scenario(interval=0.95).model_dump(mode="json")))
    runner = CliRunner()
    for args, said in ((["--blocks", "1"], "--blocks 1"), (["-r", "1"], "--replications 1"),
                       (["--input", "failures.ocs.daily_rate"], "--input: failures.ocs.daily_rate")):
        result = runner.invoke(app, ["uncertainty", str(path), *args])
        assert result.exit_code == 2 and said in result.output, result.output
    result = runner.invoke(app, ["uncertainty", str(path), "--blocks", "2", "-r", "2", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "uncertainty.csv").exists() and (tmp_path / "o" / "draws.csv").exists()
