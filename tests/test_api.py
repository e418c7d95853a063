"""The Python API (pbrsim/api.py) and the installed distribution's shape."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import pbrsim
from pbrsim.api import Batch

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 12}}


def test_readme_example_runs(capsys: pytest.CaptureFixture) -> None:
    """The README's notebook example runs as written and prints what it says."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- readme-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert block, "README.md has no readme-example block"
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "parking_share" in out and "Binary PbR with a floor" in out
    table = namespace["table"]
    assert isinstance(table, pd.DataFrame)
    under_half = table[table.measure == "share_under_half_mean_effort"].set_index("scenario")["mean"]
    # the floor gives everyone engaged at least the minimum, so fewer fall under half the mean effort
    # (the hardest to help may still be left at the bare minimum, now the floor: parking_share)
    assert under_half["Binary PbR with a floor"] < under_half["Pure binary PbR"]


def test_distribution_claims_only_the_pbrsim_import_name() -> None:
    """The installed distribution's top-level import names are ``pbrsim`` and nothing else."""
    dist = importlib.metadata.distribution("pbrsim")
    top_level = (dist.read_text("top_level.txt") or "").split()
    assert top_level == ["pbrsim"]
    claimed = sorted(name for name, dists in importlib.metadata.packages_distributions().items()
                     if "pbrsim" in dists)
    assert claimed == ["pbrsim"]


def test_import_pbrsim_is_light_and_gives_the_api() -> None:
    """``import pbrsim`` does not load the model (the command line starts fast) and lists its API."""
    code = "import sys, pbrsim; assert 'mesa' not in sys.modules; print(pbrsim.__version__, len(pbrsim.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.split()[0] == importlib.metadata.version("pbrsim")
    assert callable(pbrsim.run) and pbrsim.Scenario.__name__ == "Scenario"
    with pytest.raises(AttributeError):
        pbrsim.no_such_thing  # noqa: B018


def test_version_command(capsys: pytest.CaptureFixture) -> None:
    """``pbrsim --version`` prints the package version."""
    from pbrsim.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"pbrsim {pbrsim.__version__}"


def test_scenario_from_file_dict_and_overrides_agree() -> None:
    """A file with overrides and a mapping that extends the file give the same scenario."""
    path = pbrsim.shipped_scenario("binary_pbr")
    from_file = pbrsim.load_scenario(path, overrides=SMALL)
    from_dict = pbrsim.load_scenario({"extends": str(path), **SMALL})
    assert from_file == from_dict
    assert pbrsim.load_scenario(from_file) is from_file


def test_bad_fields_name_the_field() -> None:
    """A mapping with a wrong field gets an error naming the field and what was expected."""
    with pytest.raises(pbrsim.ScenarioFileError) as err:
        pbrsim.load_scenario({"name": "x", "primes": [{"name": "A"}], "contract": {"referral_months": -1}})
    assert "contract.referral_months" in err.value.problems[0]
    with pytest.raises(FileNotFoundError, match="binary_pbr"):
        pbrsim.shipped_scenario("binary_pbrr")


def test_run_returns_frames_and_is_reproducible() -> None:
    """One replication: metrics as a Series, monthly, cohorts and ledger as DataFrames; same seed, same run."""
    first = pbrsim.run(pbrsim.shipped_scenario("fee_for_service"), seed=3, overrides=SMALL)
    again = pbrsim.run(pbrsim.shipped_scenario("fee_for_service"), seed=3, overrides=SMALL)
    assert isinstance(first.metrics, pd.Series) and first.metrics["referrals"] > 0
    for frame in ("monthly", "cohorts", "ledger"):
        pd.testing.assert_frame_equal(getattr(first, frame), getattr(again, frame))
    pd.testing.assert_series_equal(first.metrics, again.metrics)


def test_compare_resumes_and_reopens(tmp_path: Path) -> None:
    """A comparison written to a folder is continued, not redone, and reopens as the same batch."""
    designs = [pbrsim.load_scenario(pbrsim.shipped_scenario(n), SMALL) for n in ("fee_for_service", "binary_pbr")]
    batch = pbrsim.compare(designs, reps=2, out=tmp_path / "b", workers=1)
    assert len(batch.metrics) == 4 and set(batch.scenarios) == {"Fee for service", "Pure binary PbR"}
    again = pbrsim.compare(designs, reps=2, out=tmp_path / "b", workers=1)
    pd.testing.assert_frame_equal(again.metrics, batch.metrics)
    reopened = pbrsim.open_results(tmp_path / "b")
    assert isinstance(reopened, Batch) and len(reopened.monthly) == len(batch.monthly) > 0


def test_shipped_experiments_are_found_beside_the_shipped_scenarios() -> None:
    """Shipped experiment files name scenarios at ../scenarios, where the package ships them."""
    from pbrsim.experiments.plan import plan_experiment
    from pbrsim.experiments.spec import load_experiment

    for name in ("shipped_designs", "sensitivity"):
        path = pbrsim.shipped_experiment(name)
        plan = plan_experiment(load_experiment(path), path.parent, file=str(path))
        assert plan.tasks, name


def test_shipped_experiment_runs_from_an_installed_wheel(tmp_path: Path) -> None:
    """Built as a wheel and installed outside the checkout, a shipped experiment plans and runs."""
    # built from a copy, so the build leaves nothing in the checkout
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "results", "*.egg-info",
                                                                "__pycache__", ".*_cache"))
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(source)],
                   check=True)
    target = tmp_path / "site"
    wheel = next(wheel_dir.glob("pbrsim-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pbrsim\n"
        "assert pbrsim.__file__.startswith(sys.argv[1]), pbrsim.__file__\n"
        "from pbrsim.experiments.plan import plan_experiment\n"
        "from pbrsim.experiments.spec import load_experiment\n"
        "p = pbrsim.shipped_experiment('shipped_designs')\n"
        "plan = plan_experiment(load_experiment(p), p.parent, file=str(p))\n"
        "print(len(plan.tasks), len(pbrsim.shipped_scenarios()))\n"
        "r = pbrsim.run(pbrsim.shipped_scenario('binary_pbr'), seed=1, overrides="
        "{'cohort': {'referrals_per_year': 2000}, 'contract': {'referral_months': 6}})\n"
        "print(r.metrics['referrals'] > 0)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, str(target)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    tasks, shipped = out.stdout.split()[:2]
    assert int(tasks) == 60 and int(shipped) == len(pbrsim.shipped_scenarios())
    assert out.stdout.split()[2] == "True"
