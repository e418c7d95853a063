"""Log records emitted in worker processes reach the batch process (pbrsim/logs.py, experiments/worker.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import pbrsim
from pbrsim.cli import main

SMALL = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 24}}


def test_records_from_pool_workers_are_replayed_with_their_run(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A competition's debug records, emitted in pool processes, arrive here named by their run."""
    caplog.set_level(logging.DEBUG, logger="pbrsim")
    design = pbrsim.load_scenario(pbrsim.shipped_scenario("competition_meat"), SMALL)
    batch = pbrsim.compare([design], reps=2, out=tmp_path / "b", workers=2)
    assert len(batch.metrics) == 2
    awards = [r for r in caplog.records if r.name == "pbrsim.sim.commissioning" and " to " in r.getMessage()]
    assert awards, "no record came back from the workers"
    run_ids = set(batch.metrics["run_id"])
    assert {r.getMessage().split("]")[0].lstrip("[") for r in awards} == run_ids
    assert {r.process for r in awards} != {os.getpid()}, "the records were made here, not in the workers"


def test_quiet_by_default_and_verbose_on_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Without -v nothing is logged; with -vv the batch's and the workers' debug records go to stderr."""
    path = tmp_path / "small.yaml"
    path.write_text(f"extends: {pbrsim.shipped_scenario('competition_meat')}\n"
                    "cohort: {referrals_per_year: 3000}\ncontract: {referral_months: 24}\n", encoding="utf-8")
    args = ["compare", str(path), "--reps", "2", "--workers", "2", "--no-report"]
    try:
        assert main([*args, "--out", str(tmp_path / "quiet")]) == 0
        assert "DEBUG" not in capsys.readouterr().err
        assert main(["-vv", *args, "--out", str(tmp_path / "loud")]) == 0
        err = capsys.readouterr().err
        assert "DEBUG pbrsim.sim.commissioning: [" in err
    finally:
        logger = logging.getLogger("pbrsim")
        logger.setLevel(logging.NOTSET)
        for handler in [h for h in logger.handlers if getattr(h, "_pbrsim", False)]:
            logger.removeHandler(handler)
