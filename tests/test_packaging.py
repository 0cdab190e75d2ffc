"""tpusim as a pip user gets it (issue 29): the built wheel, installed into a fresh virtual
environment, used from an empty folder outside the clone.

Every other test imports the source tree, so none of them can see a packaging bug (package
data left out of the wheel, a resource read through a path that exists only in a clone). This
one builds the wheel from a copy of the tracked sources, installs it into a new venv (the
dependencies come from the test environment's site-packages: the venv is made with
``--system-site-packages``; tpusim itself comes only from the wheel, checked below), and runs
the commands a new user types first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO

# builds a wheel and a virtual environment: a few seconds before its first test
pytestmark = pytest.mark.slow

IGNORE = shutil.ignore_patterns(".git", "out", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                ".hypothesis", ".mypy_cache", "notebooks", "bench", "tests", "runs", ".venv")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """(run, folder): run a command of the fresh venv from an empty folder outside the clone."""
    root = tmp_path_factory.mktemp("pip-user")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORE)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-index", "--wheel-dir", str(root / "dist"), str(source)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("tpusim-*.whl")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root / "venv")
    python = root / "venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    # --ignore-installed: a tpusim in the test environment's site-packages (CI installs one) would
    # otherwise count as "already satisfied" and the venv would run it instead of the wheel
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                                "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
                               capture_output=True, text=True)
    if "no such option: --python" in installed.stderr:  # pip < 22.3: the venv's own pip is absent
        pytest.fail("the packaging test needs pip >= 22.3 (pip --python)")
    assert installed.returncode == 0, installed.stderr
    folder = root / "empty"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "TPUSIM_DEBUG")}
    env["COLUMNS"] = "200"

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [str(python), "-c", "from tpusim.cli import main; main()", *args] if args[0] != "python" \
            else [str(python), *args[1:]]
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)

    return run, folder, root / "venv"


def test_the_wheel_is_what_runs(user):
    run, _, environment = user
    where = run("python", "-c", "import tpusim, tpusim.config.bundled as b; print(tpusim.__file__); "
                                "print(len(b.bundled()))")
    assert where.returncode == 0, where.stderr
    path, count = where.stdout.split()
    assert Path(path).is_relative_to(environment), path  # not the clone's tpusim
    assert int(count) >= 4


def test_scenarios_lists_the_bundled_ones_by_name(user):
    run, _, _ = user
    listed = run("scenarios")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"tpuv4_pod", "tpuv4_pod_jobs", "maintenance", "pod_buildout"} <= set(names), listed.stdout


def test_init_starts_a_scenario_of_ones_own_from_a_bundled_one(user):
    run, folder, _ = user
    made = run("init", "mine")
    assert made.returncode == 0, made.stderr
    assert (folder / "mine.yaml").is_file()
    checked = run("validate", "mine.yaml")
    assert checked.returncode == 0, checked.stderr
    assert "name: mine" in checked.stdout


def test_run_a_bundled_scenario_by_name(user):
    run, folder, _ = user
    ran = run("run", "tpuv4_pod", "--replications", "2", "--format", "json")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((folder / "out" / "tpuv4_pod" / "summary.json").read_text())
    assert summary["replications"] == 2 and summary["scenario"]["name"] == "tpuv4_pod"
    assert json.loads(ran.stdout)["policies"].keys() == summary["policies"].keys()
    assert (folder / "out" / "tpuv4_pod" / "availability_vs_slice.png").stat().st_size > 1000
    typo = run("run", "tpuv4_pdo")
    assert typo.returncode == 2 and "did you mean tpuv4_pod?" in typo.stderr, typo.stderr


def test_reproduce_quick_runs_from_the_bundled_scenarios(user):
    run, folder, _ = user
    done = run("reproduce", "--quick", "--json", "claims.json")
    assert done.returncode == 0, done.stderr
    claims = json.loads((folder / "claims.json").read_text())["claims"]
    assert len(claims) >= 8 and all(c["verdict"] for c in claims)
