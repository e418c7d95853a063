"""The batch commands: ``pbrsim compare``, ``pbrsim experiment`` and ``pbrsim results``."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from pbrsim.experiments.store import read_metrics
from pbrsim.sim.measures import measure

from pbrsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="module", autouse=True)
def _snapshot_scenarios(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run on a copy of the shipped scenarios: others may edit them while these tests run."""
    global SCENARIOS
    SCENARIOS = shutil.copytree(ROOT / "scenarios", tmp_path_factory.mktemp("scenarios") / "s")


def small_scenario(folder: Path, name: str) -> Path:
    """A small variant of a shipped scenario file, extending it."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"extends: {SCENARIOS / (name + '.yaml')}\n"
        "cohort: {referrals_per_year: 3000}\ncontract: {referral_months: 12}\n"
    )
    return path


@pytest.fixture
def pair(tmp_path: Path) -> list[str]:
    """Small fee-for-service and TR hybrid scenario files."""
    return [
        str(small_scenario(tmp_path, "fee_for_service")),
        str(small_scenario(tmp_path, "tr_hybrid")),
    ]


def test_compare_writes_store_with_reference(tmp_path: Path, pair: list[str]) -> None:
    """compare runs each scenario --reps times into --out and records the reference by file name."""
    out = tmp_path / "cmp"
    args = ["compare", *pair, "--reps", "2", "--out", str(out), "--workers", "1", "--no-report"]
    assert main([*args, "--reference", "fee_for_service"]) == 0
    batch = json.loads((out / "batch.json").read_text())
    assert batch["reference"] == "Fee for service"
    assert batch["experiment"]["name"] == "compare"
    metrics = read_metrics(out)
    assert metrics.groupby("scenario").size().to_dict() == {
        "Fee for service": 2,
        "Transforming Rehabilitation hybrid": 2,
    }


def test_compare_again_continues_same_batch(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture
) -> None:
    """Repeating a compare into its own store runs nothing again; another batch there is refused."""
    out = str(tmp_path / "cmp")
    args = ["compare", *pair, "--out", out, "--workers", "1", "--no-report"]
    assert main([*args, "--reps", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--reps", "1"]) == 0
    assert "2 of 2 runs done; running 0 missing and 0 failed runs again" in capsys.readouterr().out
    assert main([*args, "--reps", "3"]) == 2
    assert "holds a different batch" in capsys.readouterr().err


def test_compare_unknown_reference_refused(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture
) -> None:
    """A --reference that names none of the scenarios is refused before running."""
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                *pair,
                "--reps",
                "1",
                "--out",
                str(out),
                "--no-report",
                "--reference",
                "nope",
            ]
        )
        == 2
    )
    assert "--reference 'nope': not one of the scenarios" in capsys.readouterr().err
    assert not out.exists()


def test_compare_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A scenario file that does not exist is named."""
    assert (
        main(["compare", str(tmp_path / "gone.yaml"), "--reps", "1", "--out", str(tmp_path / "o")])
        == 2
    )
    assert "gone.yaml: file not found" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("pbrsim.analysis.report") is None, reason="analysis.report not written yet"
)
def test_compare_prints_table_and_writes_report(tmp_path: Path, pair: list[str]) -> None:
    """Without --no-report, compare ends with the comparison table and an HTML report."""
    out = tmp_path / "cmp"
    assert main(["compare", *pair, "--reps", "2", "--out", str(out), "--workers", "1"]) == 0
    assert (out / "report.html").exists()


def test_results_summarises_store(
    tmp_path: Path, pair: list[str], capsys: pytest.CaptureFixture
) -> None:
    """results prints runs done and failed and per-scenario means."""
    out = tmp_path / "cmp"
    assert (
        main(["compare", *pair, "--reps", "2", "--out", str(out), "--workers", "1", "--no-report"])
        == 0
    )
    capsys.readouterr()
    assert main(["results", str(out)]) == 0
    text = capsys.readouterr().out
    assert "runs: 4 planned, 4 done (4 ok, 0 failed), 0 not run yet" in text
    assert "Fee for service" in text and measure("true_impact_pp").label in text


def test_results_of_non_store_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """results on a folder that is not a store says what is wrong."""
    assert main(["results", str(tmp_path)]) == 2
    assert f"{tmp_path}: not a pbrsim results store (no batch.json)" in capsys.readouterr().err


def test_experiment_file_errors_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A broken experiment file exits 2 with the file and field named, and creates no folder."""
    path = tmp_path / "bad.yaml"
    path.write_text("scenarios: [a.yaml]\nsweep: {method: grid, parameters: {cohort.size: [1]}}\n")
    assert main(["experiment", str(path), "--out", str(tmp_path / "o")]) == 2
    assert (
        f"{path}: sweep.parameters.cohort.size: no such scenario field" in capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()
