"""Renamed scenario fields still load under their old names (sim/renames.py)."""

from pathlib import Path

import pytest
from pbrsim.sim.renames import upgrade_fields, upgrade_path
from pbrsim.sim.scenario import ContractSpec

from pbrsim.scenario_files import ScenarioFileError, load_scenario

BASE = Path(__file__).resolve().parents[2] / "scenarios" / "base.yaml"


def test_old_name_in_a_child_file_overrides_the_new_name_in_its_parent(tmp_path: Path) -> None:
    """An old file extending a new one: the child's ``months`` wins over the parent's ``referral_months``."""
    child = tmp_path / "old.yaml"
    child.write_text(f"extends: {BASE}\nname: old\ncontract:\n  months: 30\n", encoding="utf-8")
    with pytest.warns(FutureWarning, match="contract.months' is now 'contract.referral_months'"):
        scenario = load_scenario(child)
    assert scenario.contract.referral_months == 30


def test_both_names_in_one_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """Giving the old and the new name together is ambiguous and refused."""
    bad = tmp_path / "both.yaml"
    bad.write_text("name: b\nprimes: [{name: A}]\ncontract:\n  months: 30\n  referral_months: 12\n",
                   encoding="utf-8")
    with pytest.raises(ScenarioFileError) as err:
        load_scenario(bad)
    assert str(bad) in err.value.problems[0] and "not both" in err.value.problems[0]


def test_dict_built_in_code_may_use_the_old_name() -> None:
    """The schema itself reads the old name (fields built in a notebook, not a file)."""
    with pytest.warns(FutureWarning):
        assert ContractSpec.model_validate({"months": 18}).referral_months == 18


def test_swept_paths_and_overrides_are_upgraded() -> None:
    """Experiment sweep paths and overrides are renamed layer by layer."""
    assert upgrade_path("contract.months") == "contract.referral_months"
    assert upgrade_path("contract.monthsx") == "contract.monthsx"
    with pytest.warns(FutureWarning):
        assert upgrade_fields({"contract": {"months": 6, "service": {"months": 3}}}) == {
            "contract": {"referral_months": 6, "service": {"months": 3}}}
    assert upgrade_fields({"cohort": {}}) == {"cohort": {}}
