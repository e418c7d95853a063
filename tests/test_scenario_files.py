"""Scenario files: extends chains, and errors that name the file, the field and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbrsim.cli import main
from pbrsim.scenario_files import ScenarioFileError, load_scenario
from tests.conftest import SCENARIOS, SHIPPED


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> str:
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(path)
    return str(info.value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_validate(path):
    """Every shipped scenario loads and validates."""
    assert load_scenario(path).name


def test_extends_overrides_only_what_it_names(tmp_path):
    """A child file changes the fields it names and inherits the rest."""
    child = write(tmp_path, "child.yaml", f"extends: {SCENARIOS / 'tr_hybrid.yaml'}\nname: Child\n"
                  "contract:\n  payment:\n    at_risk_share: 0.2\n")
    s = load_scenario(child)
    parent = load_scenario(SCENARIOS / "tr_hybrid.yaml")
    assert s.contract.payment.at_risk_share == 0.2
    assert s.contract.payment.fee_per_supervision_month == parent.contract.payment.fee_per_supervision_month
    assert s.contract.payment.outcomes == parent.contract.payment.outcomes
    assert s.primes == parent.primes


def test_unknown_field_is_named(tmp_path):
    """A misspelt field is refused with the file and the full field path."""
    path = write(tmp_path, "typo.yaml", f"extends: {SCENARIOS / 'fee_for_service.yaml'}\n"
                 "contract:\n  payment:\n    fee_per_supervison_month: 100\n")
    text = problems(path)
    assert str(path.resolve()) in text
    assert "contract.payment.fee_per_supervison_month" in text
    assert "unknown field" in text


@pytest.mark.parametrize(
    ("yaml_text", "field", "expected"),
    [
        ("contract:\n  payment:\n    at_risk_share: 1.5\n", "contract.payment.at_risk_share",
         "less than or equal to 1"),
        ("cohort:\n  referrals_per_year: -10\n", "cohort.referrals_per_year", "greater than or equal to 0"),
        ("contract:\n  measure:\n    follow_up_months: -1\n", "contract.measure.follow_up_months",
         "greater than or equal to 1"),
        ("contract:\n  referral_months: twelve\n", "contract.referral_months", "valid integer"),
        ("contract:\n  counterfactual:\n    kind: crystal_ball\n", "contract.counterfactual", "crystal_ball"),
        ("primes: []\n", "primes", "at least 1"),
    ],
)
def test_impossible_values_are_refused(tmp_path, yaml_text, field, expected):
    """Impossible values name the field path and what was expected."""
    path = write(tmp_path, "bad.yaml", f"extends: {SCENARIOS / 'fee_for_service.yaml'}\n{yaml_text}")
    text = problems(path)
    assert field in text and expected in text
    assert str(path.resolve()) in text


def test_error_names_the_parent_file_that_set_the_field(tmp_path):
    """An error inherited from a parent names the parent, and the child that extended it."""
    parent = write(tmp_path, "parent.yaml", f"extends: {SCENARIOS / 'fee_for_service.yaml'}\n"
                   "contract:\n  service:\n    months: 0\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\nname: c\n")
    text = problems(child)
    assert f"{parent.resolve()} (extended by {child.resolve()})" in text
    assert "contract.service.months" in text


def test_broken_yaml_and_missing_files(tmp_path):
    """Bad YAML gives the line; a missing parent and a circular chain are named."""
    assert "line 3, column 1" in problems(write(tmp_path, "y.yaml", "name: x\ncohort: [unclosed\n"))
    assert "file not found" in problems(write(tmp_path, "m.yaml", "extends: nowhere.yaml\n"))
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    assert "circular" in problems(write(tmp_path, "b.yaml", "extends: a.yaml\n"))
    assert "mapping" in problems(write(tmp_path, "l.yaml", "- 1\n- 2\n"))


def test_yaml_is_loaded_safely(tmp_path):
    """Python object tags in YAML are refused, not executed."""
    path = write(tmp_path, "evil.yaml", "name: !!python/object/apply:os.system ['echo hi']\n")
    assert "not valid YAML" in problems(path)


def test_validate_command(tmp_path, capsys):
    """`pbrsim validate` passes good files and fails bad ones with the reasons."""
    bad = write(tmp_path, "bad.yaml", f"extends: {SCENARIOS / 'fee_for_service.yaml'}\ncohort:\n  type: teenagers\n")
    assert main(["validate", str(SCENARIOS / "fee_for_service.yaml")]) == 0
    assert main(["validate", str(SCENARIOS / "fee_for_service.yaml"), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "cohort.type" in err and "teenagers" in err


def _small_file(tmp_path: Path, name: str = "small.yaml") -> Path:
    return write(tmp_path, name, f"extends: {SCENARIOS / 'tr_hybrid.yaml'}\nname: Small\n"
                 "cohort:\n  referrals_per_year: 3000\ncontract:\n  referral_months: 12\n")


def test_run_writes_byte_identical_results(tmp_path, capsys):
    """`pbrsim run` twice with the same seed writes byte-identical files."""
    path = _small_file(tmp_path)
    assert main(["run", str(path), "--seed", "4", "--out", str(tmp_path / "a")]) == 0
    assert main(["run", str(path), "--seed", "4", "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"metrics.json", "monthly.csv", "cohorts.csv", "ledger.csv", "run.json"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert "Total outlay" in capsys.readouterr().out


def test_run_json_output(tmp_path, capsys):
    """`--format json` prints the final metrics as one JSON object with snake_case keys."""
    assert main(["run", str(_small_file(tmp_path)), "--format", "json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["referrals"] > 0
    assert all(key == key.lower() and " " not in key for key in metrics)


def test_run_refuses_a_foreign_folder(tmp_path, capsys):
    """`--out` never overwrites a folder that is not an earlier run."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    assert main(["run", str(_small_file(tmp_path)), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "thesis.docx").read_text() == "precious"


def test_run_reports_bad_scenario(tmp_path, capsys):
    """`pbrsim run` on a broken file exits 2 with the reasons."""
    bad = write(tmp_path, "bad.yaml", f"extends: {SCENARIOS / 'fee_for_service.yaml'}\nseed: -3\n")
    assert main(["run", str(bad)]) == 2
    assert "seed" in capsys.readouterr().err
