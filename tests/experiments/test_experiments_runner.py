"""Running batches: backends agree, failures are kept, stores resume and refuse."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from pbrsim.experiments import worker
from pbrsim.experiments.plan import Plan, plan_experiment
from pbrsim.experiments.runner import run_tasks
from pbrsim.experiments.spec import Experiment, load_experiment
from pbrsim.experiments.store import prepare_store, read_batch, read_metrics, read_monthly

from pbrsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
TINY = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 12}}


@pytest.fixture(scope="module", autouse=True)
def _snapshot_scenarios(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run on a copy of the shipped scenarios: others may edit them while these tests run."""
    global SCENARIOS
    SCENARIOS = shutil.copytree(ROOT / "scenarios", tmp_path_factory.mktemp("scenarios") / "s")


def write_experiment(folder: Path, name: str = "exp", **fields: object) -> Path:
    """An experiment file over small versions of two shipped scenarios."""
    data = {
        "name": name,
        "scenarios": [str(SCENARIOS / "fee_for_service.yaml"), str(SCENARIOS / "tr_hybrid.yaml")],
        "replications": 2,
        "overrides": TINY,
        **fields,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def plan_of(path: Path) -> Plan:
    return plan_experiment(load_experiment(path), path.parent, file=str(path))


def run_into(plan: Plan, out: Path, **kwargs: object) -> Path:
    store, _ = prepare_store(out, plan.batch_record(), plan.scenarios, resume=False)
    run_tasks(plan.tasks, plan.scenarios, store, progress=False, **kwargs)
    return out


def comparable(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics (without timings) and monthly series of a store, in a fixed order."""
    metrics = read_metrics(folder).drop(columns="elapsed_s").reset_index(drop=True)
    return metrics, read_monthly(folder).reset_index(drop=True)


def assert_same_results(a: Path, b: Path) -> None:
    (ma, ya), (mb, yb) = comparable(a), comparable(b)
    pd.testing.assert_frame_equal(ma, mb)
    pd.testing.assert_frame_equal(ya, yb)


@pytest.fixture(scope="module")
def serial_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """A small batch (2 scenarios x 2 replications) run serially: the reference for the others."""
    folder = tmp_path_factory.mktemp("serial")
    plan = plan_of(write_experiment(folder))
    return plan, run_into(plan, folder / "out", workers=1)


# ---------------------------------------------------------------- backends agree


def test_pool_matches_serial(serial_store: tuple[Plan, Path], tmp_path: Path) -> None:
    """A process pool of 2 gives exactly the serial results."""
    plan, serial = serial_store
    assert_same_results(run_into(plan, tmp_path / "pool", workers=2), serial)


def test_dask_cluster_matches_serial(serial_store: tuple[Plan, Path], tmp_path: Path) -> None:
    """A real Dask LocalCluster (2 worker processes, loopback) gives exactly the serial results."""
    from distributed import LocalCluster

    plan, serial = serial_store
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # any free port: tests running side by side never clash
    ) as cluster:
        out = run_into(plan, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert_same_results(out, serial)


def _local_cluster(**kwargs: object):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        **kwargs,
    )


MODEL_MODULES = ("pbrsim.sim.model", "pbrsim.sim.results", "pbrsim.sim.investment")


def _model_loaded(client) -> list[bool]:
    """Whether each worker has imported the model, a mechanism module included."""
    # a lambda travels by value: the workers need not import this test module
    loaded = client.run(lambda: all(name in sys.modules for name in MODEL_MODULES))
    assert len(loaded) == 2
    return list(loaded.values())


def test_dask_workers_load_model_when_batch_connects() -> None:
    """Workers started without a preload load the model when the runner registers its plugin."""
    from distributed import Client
    from pbrsim.experiments.cluster import load_model_on_workers

    with _local_cluster(processes=True) as cluster, Client(cluster) as client:
        assert _model_loaded(client) == [False, False]
        load_model_on_workers(client)  # what run_tasks does on connecting, before any task
        assert _model_loaded(client) == [True, True]


def test_dask_preloaded_workers_match_serial(serial_store: tuple[Plan, Path], tmp_path: Path) -> None:
    """Workers preloaded with pbrsim.experiments.preload have the model before any client connects,
    and give exactly the serial results."""
    from distributed import Client

    plan, serial = serial_store
    with _local_cluster(processes=True, preload=["pbrsim.experiments.preload"]) as cluster:
        with Client(cluster) as client:
            assert _model_loaded(client) == [True, True]
        out = run_into(plan, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert_same_results(out, serial)


def test_dask_workers_that_cannot_load_model_refused(
    serial_store: tuple[Plan, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster whose workers cannot load the model is a ClusterError before any run is sent."""
    from pbrsim.experiments import cluster as dask_setup
    from pbrsim.experiments.runner import ClusterError

    def broken() -> None:
        raise ModuleNotFoundError("No module named 'pbrsim'")

    monkeypatch.setattr(dask_setup, "load_model", broken)  # workers in this process see it
    plan, _ = serial_store
    with _local_cluster(processes=False, protocol="tcp://") as cluster:  # threads: they see the patch
        with pytest.raises(ClusterError, match="cannot load pbrsim's model: ModuleNotFoundError"):
            run_into(plan, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert not list((tmp_path / "dask" / "metrics").glob("*.parquet"))


# ---------------------------------------------------------------- the store


def test_store_layout(serial_store: tuple[Plan, Path]) -> None:
    """batch.json, scenarios/<hash>.json and one metrics and monthly file per run, as documented."""
    plan, out = serial_store
    batch = json.loads((out / "batch.json").read_text())
    assert (batch["format"], batch["format_version"], batch["reference"]) == (
        "pbrsim-results",
        1,
        None,
    )
    assert {"pbrsim_version", "root_seed", "experiment", "runs"} <= set(batch)
    assert batch["experiment"]["definition"] == plan.experiment.definition()
    assert [r["run_id"] for r in batch["runs"]] == [t.run_id for t in plan.tasks]
    for run in batch["runs"]:
        assert {"run_id", "scenario", "scenario_hash", "replication", "seed", "params"} <= set(run)
        assert (
            json.loads((out / "scenarios" / f"{run['scenario_hash']}.json").read_text())["name"]
            == run["scenario"]
        )
        assert (out / "metrics" / f"{run['run_id']}.parquet").exists()
        assert (out / "monthly" / f"{run['run_id']}.parquet").exists()


def test_duckdb_queries_store_directly(serial_store: tuple[Plan, Path]) -> None:
    """DuckDB reads metrics and monthly files by glob; identity columns have documented types."""
    _, out = serial_store
    per_scenario = duckdb.sql(
        f"select scenario, count(*) as runs, avg(true_impact_pp) as impact "
        f"from read_parquet('{out}/metrics/*.parquet', union_by_name=true) "
        "group by scenario order by scenario"
    ).df()
    assert per_scenario["runs"].tolist() == [2, 2]
    months = duckdb.sql(
        f"select run_id, count(*) as n from read_parquet('{out}/monthly/*.parquet', "
        "union_by_name=true) group by run_id"
    ).df()
    assert len(months) == 4 and (months["n"] > 12).all()
    metrics = read_metrics(out)
    assert list(metrics.columns[:9]) == [
        "run_id",
        "scenario",
        "scenario_hash",
        "replication",
        "seed",
        "params",
        "status",
        "error",
        "elapsed_s",
    ]
    assert metrics["replication"].dtype == "int64" and metrics["seed"].dtype == "int64"
    assert (metrics.dtypes.iloc[9:] == "float64").all()
    assert metrics["status"].eq("ok").all() and metrics["error"].isna().all()
    assert json.loads(metrics["params"].iloc[0]) == {}


def test_same_replication_same_seed_across_scenarios(serial_store: tuple[Plan, Path]) -> None:
    """Common random numbers: the stored seed depends on the replication only."""
    _, out = serial_store
    metrics = read_metrics(out)
    assert metrics.groupby("replication")["seed"].nunique().eq(1).all()
    assert metrics["seed"].nunique() == 2


# ---------------------------------------------------------------- failures


def test_invalid_design_point_fails_and_batch_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A sweep value making an invalid scenario is a failed run with its error; others run."""
    exp = write_experiment(
        tmp_path,
        replications=1,
        scenarios=[str(SCENARIOS / "fee_for_service.yaml")],
        sweep={"method": "grid", "parameters": {"contract.payment.at_risk_share": [0.0, 0.1]}},
    )
    assert main(["experiment", str(exp), "--out", str(tmp_path / "out"), "--workers", "1"]) == 1
    metrics = read_metrics(tmp_path / "out").set_index("run_id")
    assert metrics["status"].to_dict() == {
        "fee-for-service-p0000-r000": "ok",
        "fee-for-service-p0001-r000": "failed",
    }
    failed = metrics.loc["fee-for-service-p0001-r000"]
    assert (
        "contract.payment.at_risk_share=0.1" in failed["error"] and "pot_share" in failed["error"]
    )
    assert pd.isna(failed["true_impact_pp"]) and not pd.isna(
        metrics.loc["fee-for-service-p0000-r000", "true_impact_pp"]
    )
    assert "1 runs failed" in capsys.readouterr().err


def test_exception_in_model_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception raised inside one run is stored with its traceback; the other runs finish."""
    plan = plan_of(write_experiment(tmp_path))
    real = worker.run_scenario
    unlucky = plan.tasks[1].seed

    def flaky(scenario, seed):
        if seed == unlucky and scenario.name == "Fee for service":
            raise ZeroDivisionError("model blew up")
        return real(scenario, seed)

    monkeypatch.setattr(worker, "run_scenario", flaky)
    store, _ = prepare_store(tmp_path / "out", plan.batch_record(), plan.scenarios, resume=False)
    outcome = run_tasks(plan.tasks, plan.scenarios, store, workers=1, progress=False)
    assert (outcome.ok, outcome.failed) == (3, 1)
    failed = read_metrics(tmp_path / "out").query("status == 'failed'")
    assert failed["run_id"].tolist() == [plan.tasks[1].run_id]
    assert (
        "Traceback" in failed["error"].iloc[0]
        and "ZeroDivisionError: model blew up" in failed["error"].iloc[0]
    )
    assert not (tmp_path / "out" / "monthly" / f"{plan.tasks[1].run_id}.parquet").exists()


def test_resume_reruns_failed_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--resume runs failed runs again, and only those; then the store equals a clean run."""
    exp = write_experiment(tmp_path)
    real = worker.run_scenario
    monkeypatch.setattr(
        worker,
        "run_scenario",
        lambda s, seed: 1 / 0 if "hybrid" in s.name else real(s, seed),
    )
    out = str(tmp_path / "out")
    assert main(["experiment", str(exp), "--out", out, "--workers", "1"]) == 1
    monkeypatch.setattr(worker, "run_scenario", real)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "metrics").glob("fee-*")}
    assert main(["experiment", str(exp), "--out", out, "--workers", "1", "--resume"]) == 0
    assert {
        p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "metrics").glob("fee-*")
    } == before
    assert_same_results(tmp_path / "out", run_into(plan_of(exp), tmp_path / "clean", workers=1))


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path) -> None:
    """A batch killed mid-way (SIGKILL, pool and all) resumes to an uninterrupted run's results."""
    exp = write_experiment(
        tmp_path,
        replications=8,
        overrides={"cohort": {"referrals_per_year": 6000}, "contract": {"referral_months": 24}},
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pbrsim.cli",
            "experiment",
            str(exp),
            "--out",
            str(out),
            "--workers",
            "2",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while len(list((out / "metrics").glob("*.parquet"))) < 3 and proc.poll() is None:
            assert time.monotonic() < deadline, "the batch never got going"
            time.sleep(0.005)
    finally:
        os.killpg(
            proc.pid, signal.SIGKILL
        )  # the whole process group we started: parent, forkserver, workers
        proc.wait()
    landed = len(list((out / "metrics").glob("*.parquet")))
    assert 3 <= landed < 16, "the batch should have been interrupted mid-way"
    (out / "metrics" / ".half-written.parquet.123.tmp").write_bytes(b"PAR1 trunc")
    assert main(["experiment", str(exp), "--out", str(out)]) == 2  # no --resume: refused
    assert main(["experiment", str(exp), "--out", str(out), "--resume"]) == 0
    assert not list(out.rglob("*.tmp"))
    assert_same_results(out, run_into(plan_of(exp), tmp_path / "clean", workers=1))


# ---------------------------------------------------------------- refusing folders


def _make_store(folder: Path, **fields: object) -> Path:
    plan = plan_of(write_experiment(folder / "def", **fields))
    prepare_store(folder / "out", plan.batch_record(), plan.scenarios, resume=False)
    return folder / "out"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda d: (d / "notes.txt").write_text("mine"),
            "not empty and is not a pbrsim results store (no batch.json)",
        ),
        (
            lambda d: (d / "batch.json").write_text("{not json"),
            "batch.json: cannot be read as JSON",
        ),
        (
            lambda d: (d / "batch.json").write_text('{"format": "other-tool"}'),
            "not a pbrsim results store (format",
        ),
        (
            lambda d: (d / "batch.json").write_text(
                '{"format": "pbrsim-results", "format_version": 9}'
            ),
            "results format version 9",
        ),
    ],
)
def test_broken_or_foreign_folder_refused(
    tmp_path: Path, setup, message: str, capsys: pytest.CaptureFixture
) -> None:
    """Folders that are not our stores are refused, named, and left exactly as they were."""
    out = tmp_path / "out"
    out.mkdir()
    setup(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    exp = write_experiment(tmp_path)
    assert main(["experiment", str(exp), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and message in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_of_different_experiment_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A store of another batch is not resumed with this one's runs."""
    out = _make_store(tmp_path, replications=2)
    exp = write_experiment(tmp_path, replications=3)
    assert main(["experiment", str(exp), "--out", str(out), "--resume"]) == 2
    assert (
        "holds a different batch, so it cannot be resumed: experiment field 'replications' differs"
        in capsys.readouterr().err
    )


def test_changed_scenario_refused_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """If a scenario changed since the batch began, resuming is refused with the scenario named."""
    scenario = tmp_path / "mine.yaml"
    scenario.write_text(f"extends: {SCENARIOS / 'fee_for_service.yaml'}\nname: Mine\n")
    exp = write_experiment(tmp_path, scenarios=[str(scenario)])
    out = str(tmp_path / "out")
    plan = plan_of(exp)
    prepare_store(out, plan.batch_record(), plan.scenarios, resume=False)
    scenario.write_text(scenario.read_text() + "cohort: {drift_pp_per_year: 1.0}\n")
    assert main(["experiment", str(exp), "--out", out, "--resume"]) == 2
    assert "scenario 'Mine' has changed since the batch began" in capsys.readouterr().err


def test_store_of_other_pbrsim_version_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A store written by another pbrsim version is not resumed: one store, one model version."""
    out = _make_store(tmp_path)
    batch = json.loads((out / "batch.json").read_text())
    (out / "batch.json").write_text(json.dumps({**batch, "pbrsim_version": "0.0.1"}))
    exp = write_experiment(tmp_path / "def")
    assert main(["experiment", str(exp), "--out", str(out), "--resume"]) == 2
    assert "written by pbrsim 0.0.1" in capsys.readouterr().err


def test_output_path_that_is_a_file_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--out naming a file is refused."""
    (tmp_path / "f").write_text("x")
    assert main(["experiment", str(write_experiment(tmp_path)), "--out", str(tmp_path / "f")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_read_batch_of_missing_folder_names_it(tmp_path: Path) -> None:
    """Reading a folder that does not exist says so."""
    with pytest.raises(ValueError, match="no such folder"):
        read_batch(tmp_path / "nope")


# ---------------------------------------------------------------- sensitivity

SENSITIVITY_PARAMETERS = {
    "cohort.drift_pp_per_year": {"low": -2, "high": 2},
    "contract.service.min_hours_per_month": {"low": 0, "high": 6},
}


@pytest.mark.parametrize(
    ("sweep", "columns"),
    [
        ({"method": "sobol", "samples": 4}, ["S1", "S1_conf", "ST", "ST_conf"]),
        ({"method": "morris", "trajectories": 3}, ["mu_star", "mu_star_conf", "sigma"]),
    ],
)
def test_sensitivity_csv(
    tmp_path: Path, sweep: dict, columns: list[str], capsys: pytest.CaptureFixture
) -> None:
    """A tiny Sobol or Morris design writes sensitivity.csv with a row per measure and parameter."""
    measures = ["true_impact_pp", "hours_per_person", "no_such_measure"]
    exp = write_experiment(
        tmp_path,
        replications=1,
        scenarios=[str(SCENARIOS / "fee_for_service.yaml")],
        sweep={**sweep, "parameters": SENSITIVITY_PARAMETERS, "measures": measures},
    )
    assert main(["experiment", str(exp), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    table = pd.read_csv(tmp_path / "out" / "sensitivity.csv")
    assert list(table.columns) == ["scenario", "measure", "parameter", *columns]
    assert set(table["measure"]) == {"true_impact_pp", "hours_per_person"}
    assert set(table["parameter"]) == set(SENSITIVITY_PARAMETERS)
    assert table[columns].notna().all().all()
    hours = table[table["measure"] == "hours_per_person"].set_index("parameter")[columns[0]].abs()
    assert (
        hours["contract.service.min_hours_per_month"] > hours["cohort.drift_pp_per_year"]
    )  # the floor drives hours
    assert "not in the metrics (yet), skipped: no_such_measure" in capsys.readouterr().out


def test_experiment_builds_from_stored_definition(serial_store: tuple[Plan, Path]) -> None:
    """The definition in batch.json rebuilds the experiment (sensitivity analysis relies on it)."""
    plan, out = serial_store
    assert Experiment.model_validate(
        read_batch(out)["experiment"]["definition"]
    ) == plan.experiment.model_copy(update={"cluster": None})
