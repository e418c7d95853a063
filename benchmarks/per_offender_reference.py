"""A per-offender reference: the uniform monthly process with one Mesa agent per offender.

pbrsim keeps every offender as a row of numpy columns (sim/population.py) and
runs each month as a few vectorised operations over the live window. This
script is the plain agent-based way to do the same thing, as a yardstick for
that choice: a lean Mesa 3.5 model in which each offender is an ``Agent``, so
the speed-up of pbrsim over it, and that both give the same reoffending on the
same people, can be measured.

The reference is the offender process only, which is what pbrsim's store
replaces: no payments, providers, ledger, cohorts or measurement. Each month

1. that month's referrals are drawn with pbrsim's own population draw
   (``draw_offenders``, the same volumes and the same population stream as
   ``PbRModel.refer``, so they are the same people) and become agents;
2. every live agent steps (``model.agents.do("step")``): an engaged person with
   at least one assessed need, in their service period, gets the prime's
   ``hours_per_month`` (raised to any service floor) times its in-house
   effectiveness as dose (under the uniform strategy hours are spread over
   needs and only hours on needs count, so a person with no needs gets
   none); then, in the 12-month follow-up window, the first reoffence is drawn
   from the monthly hazard ``h * (1 - responsiveness * (1 - exp(-dose /
   complexity)))`` and, once reoffended, further reoffences are Poisson at the
   person's frequency rate times the same cut; the untreated path (no cut) is
   drawn on the same uniforms, as pbrsim does for its true counterfactual;
3. an agent that has finished its follow-up writes its outcome to the model's
   result lists and is removed, so only the live window is stepped (as pbrsim
   touches only the live slice of its store).

Random numbers are per-agent Python draws (``model.random``), not pbrsim's
numpy stream, so equivalence is statistical: both runs are compared with the
exact expectation of each measure given the people (the per-person
probabilities in closed form), with the sampling standard error given the
people.

    python benchmarks/per_offender_reference.py --scale base [--months N] [--reps R]
    python benchmarks/per_offender_reference.py --scale national --months 24

Each engine runs in a fresh single-threaded process (pin the parent with
``taskset -c 0``; children inherit it). Prints JSON: CPU (``process_time``)
and wall seconds per engine, peak RSS, medians, speed-ups and the equivalence
check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALES = {
    # the base region (3 areas, 36,000 referrals a year, 84 months) under fee for service, every prime uniform
    "base": ROOT / "scenarios" / "fee_for_service.yaml",
    # national (21 areas, 250,000 a year, 84 months; TR hybrid terms, every prime uniform)
    "national": HERE / "national_uniform.yaml",
}
#: the columns that identify the people (hashed to check both engines drew the same people)
PEOPLE_COLUMNS = ("risk", "hazard", "complexity", "responsiveness", "frequency", "engaged", "n_needs")
MEASURES = ("treated_rate", "treated_reoffences_per_offender", "untreated_rate", "untreated_reoffences_per_offender")


# -- the scenario ------------------------------------------------------------------------------
def scenario_for(scale: str, months: int | None = None, referrals_per_year: float | None = None) -> Any:
    """The scale's scenario with every prime uniform; ``months`` of referrals if given."""
    from pbrsim.sim.scenario import Scenario

    from pbrsim.scenario_files import load_scenario

    data = load_scenario(SCALES[scale]).model_dump()
    for prime in data["primes"]:
        prime.update(strategy="uniform", social_value_per_reoffence=0.0)
    if months is not None:
        data["contract"]["referral_months"] = months
    if referrals_per_year is not None:
        data["cohort"]["referrals_per_year"] = referrals_per_year
    return Scenario.model_validate(data)


def dose_per_month(design: Any) -> float:
    """Effective hours a month for an engaged person with needs: the one uniform rule of the scenario."""
    from pbrsim.sim.scenario import StewardshipSpec, Strategy

    c = design.contract
    if design.market is not None or design.competition is not None or c.referral_selection \
            or c.social_impact_bond is not None or c.stewardship != StewardshipSpec():
        raise ValueError("the reference runs the plain uniform process: no market, competition, "
                         "selection at referral, social impact bond or stewardship")
    rules = {(p.strategy, max(p.hours_per_month, c.service.min_hours_per_month) * p.effectiveness)
             for p in design.primes}
    if len(rules) != 1 or next(iter(rules))[0] != Strategy.UNIFORM:
        raise ValueError(f"every prime must be uniform with the same hours and effectiveness, got {rules}")
    return float(next(iter(rules))[1])


# -- the reference model -------------------------------------------------------------------------
def _poisson(u: float, lam: float) -> int:
    """Inverse Poisson CDF at ``u`` (as pbrsim's ``_poisson_ppf``, capped at 50)."""
    p = math.exp(-lam)
    cdf = p
    k = 0
    while u > cdf and k < 50:
        k += 1
        p *= lam / k
        cdf += p
    return k


def _offender_class() -> type:
    import mesa

    class Offender(mesa.Agent):
        """One referred person: their fixed traits, dose so far and their two outcome paths."""

        def __init__(self, model: Any, row: int, hazard: float, complexity: float, responsiveness: float,
                     frequency: float, dose_per_month: float) -> None:
            super().__init__(model)
            self.row = row
            self.hazard = hazard
            self.complexity = complexity
            self.responsiveness = responsiveness
            self.frequency = frequency
            self.dose_per_month = dose_per_month
            self.months = 0          # months since referral already stepped
            self.dose = 0.0
            self.first = -1          # month of the first reoffence, treated path
            self.count = 0
            self.untreated_first = -1
            self.untreated_count = 0

        def step(self) -> None:
            """One month: service (if in the service period), then this month's reoffending."""
            model = self.model
            if self.months < model.service_months:
                self.dose += self.dose_per_month
            cut = 1.0 - self.responsiveness * (1.0 - math.exp(-self.dose / self.complexity)) if self.dose else 1.0
            rand = model.random.random
            u = rand()
            u_later = rand()
            if self.first < 0:
                if u < self.hazard * cut:
                    self.first = model.steps
                    self.count = 1
            else:
                self.count += _poisson(u_later, self.frequency * cut)
            if model.untreated:
                if self.untreated_first < 0:
                    if u < self.hazard:
                        self.untreated_first = model.steps
                        self.untreated_count = 1
                else:
                    self.untreated_count += _poisson(u_later, self.frequency)
            self.months += 1
            if self.months == model.follow_up:
                row = self.row
                model.first[row] = self.first
                model.count[row] = self.count
                model.untreated_first[row] = self.untreated_first
                model.untreated_count[row] = self.untreated_count
                self.remove()

    return Offender


def reference_model_class() -> type:
    """The Mesa model class (built on first use, so importing this file does not import Mesa)."""
    import mesa
    from pbrsim.sim.population import COHORT_TYPES, draw_offenders, volume_factor

    offender = _offender_class()

    class ReferenceModel(mesa.Model):
        """Offenders as agents, one monthly step each; people drawn as pbrsim draws them."""

        def __init__(self, design: Any, untreated: bool = True) -> None:
            # pbrsim's five streams: the second draws the people; the third (outcomes) seeds this
            # model's own per-agent Python draws
            _, population, outcomes, _, _ = np.random.SeedSequence(design.seed).spawn(5)
            super().__init__(rng=np.random.default_rng(outcomes))
            self.design = design
            self.population_rng = np.random.default_rng(population)
            self.profile = COHORT_TYPES[design.cohort.type]
            self.referral_months = design.contract.referral_months
            self.follow_up = design.contract.measure.follow_up_months
            self.service_months = design.contract.service.months
            self.areas = design.areas
            self.dose_rule = dose_per_month(design)
            self.untreated = untreated
            self.first: list[int] = []
            self.count: list[int] = []
            self.untreated_first: list[int] = []
            self.untreated_count: list[int] = []
            self.people: list[dict[str, np.ndarray]] = []
            self.agent_months = 0

        def step(self) -> None:
            month = self.steps
            if month <= self.referral_months:
                self.refer(month)
            self.agent_months += len(self.agents)
            self.agents.do("step")

        def refer(self, month: int) -> None:
            """This month's referrals, as ``PbRModel.refer`` draws them, become agents."""
            cohort = self.design.cohort
            rate = cohort.referrals_per_year / 12.0 / self.areas * volume_factor(cohort, month)
            n = int(self.population_rng.poisson(rate, self.areas).sum())
            drift = cohort.drift_pp_per_year / 100.0 * (month - 1) / 12.0
            people = draw_offenders(self.population_rng, n, self.profile, drift=drift)
            dose = np.where(people["engaged"] & (people["n_needs"] > 0), self.dose_rule, 0.0)
            people["dose_per_month"] = dose
            self.people.append({k: people[k] for k in (*PEOPLE_COLUMNS, "dose_per_month")})
            start = len(self.first)
            for results in (self.first, self.untreated_first):
                results.extend([-1] * n)
            for results in (self.count, self.untreated_count):
                results.extend([0] * n)
            offender.create_agents(
                self, n, row=list(range(start, start + n)), hazard=people["hazard"].tolist(),
                complexity=people["complexity"].tolist(), responsiveness=people["responsiveness"].tolist(),
                frequency=people["frequency"].tolist(), dose_per_month=dose.tolist(),
            )

        def run(self) -> None:
            """Every referral month, then until the last referrals' follow-up is over."""
            self.run_until(self.referral_months + self.follow_up - 1)

        def outcomes(self) -> dict[str, np.ndarray]:
            """Per-person outcomes in referral order (the same rows as pbrsim's store)."""
            return {"first_month": np.array(self.first), "reoffences": np.array(self.count),
                    "untreated_first_month": np.array(self.untreated_first),
                    "untreated_reoffences": np.array(self.untreated_count)}

        def people_columns(self) -> dict[str, np.ndarray]:
            return {k: np.concatenate([p[k] for p in self.people]) for k in self.people[0]}

    return ReferenceModel


# -- statistics ---------------------------------------------------------------------------------
def fingerprint(columns: dict[str, np.ndarray]) -> str:
    """A hash of the people's traits: equal in both engines if and only if (practically) they are the same people."""
    digest = hashlib.sha256()
    for name in PEOPLE_COLUMNS:
        digest.update(np.ascontiguousarray(columns[name]).tobytes())
    return digest.hexdigest()[:16]


def realised(outcomes: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each measure as realised, with its sample standard error."""
    n = outcomes["first_month"].size
    values = {
        "treated_rate": outcomes["first_month"] >= 0,
        "treated_reoffences_per_offender": outcomes["reoffences"],
        "untreated_rate": outcomes["untreated_first_month"] >= 0,
        "untreated_reoffences_per_offender": outcomes["untreated_reoffences"],
    }
    return {k: {"value": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(n))} for k, v in values.items()}


def expected(people: dict[str, np.ndarray], follow_up: int, service_months: int) -> dict[str, dict[str, float]]:
    """Exact mean of each measure given the people, and its sampling standard error given them.

    First reoffence in month k of the window with probability ``q_k * prod_{j<k} (1 - q_j)``,
    ``q_k = h * cut_k``; then 1 + Poisson(sum of ``frequency * cut_j`` over the later months).
    """
    h = people["hazard"].astype(np.float64)
    r = people["responsiveness"].astype(np.float64)
    c = people["complexity"].astype(np.float64)
    f = people["frequency"].astype(np.float64)
    d = people["dose_per_month"].astype(np.float64)
    n = h.size
    out = {}
    for path, treated in (("treated", True), ("untreated", False)):
        cuts = [1.0 - r * (1.0 - np.exp(-d * min(k + 1, service_months) / c)) if treated else np.ones(n)
                for k in range(follow_up)]
        later = np.zeros(n)              # sum of frequency x cut over the months after k
        mean = np.zeros(n)
        second = np.zeros(n)
        # walk back from the last month so ``later`` is ready; survival to month k is needed forwards
        survive = [np.ones(n)]
        for k in range(follow_up - 1):
            survive.append(survive[-1] * (1.0 - h * cuts[k]))
        for k in range(follow_up - 1, -1, -1):
            p_first = survive[k] * h * cuts[k]
            mean += p_first * (1.0 + later)
            second += p_first * (1.0 + 3.0 * later + later ** 2)
            later = later + f * cuts[k]
        p_any = 1.0 - survive[-1] * (1.0 - h * cuts[-1])
        out[f"{path}_rate"] = {"value": float(p_any.mean()),
                               "se": float(math.sqrt((p_any * (1.0 - p_any)).sum()) / n)}
        out[f"{path}_reoffences_per_offender"] = {"value": float(mean.mean()),
                                                  "se": float(math.sqrt((second - mean ** 2).sum()) / n)}
    return out


# -- one engine in this process -------------------------------------------------------------------
def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def one_reference(design: Any, untreated: bool) -> dict[str, Any]:
    """Run the reference once in this process; timings, outcomes and the exact expectation."""
    model_class = reference_model_class()
    cpu0, wall0 = _clock()
    model = model_class(design, untreated=untreated)
    model.run()
    outcomes = model.outcomes()
    cpu1, wall1 = _clock()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    people = model.people_columns()
    return {
        "engine": "reference" if untreated else "reference_treated_only",
        "offenders": int(outcomes["first_month"].size),
        "agent_months": model.agent_months,
        "cpu_s": cpu1 - cpu0, "wall_s": wall1 - wall0, "peak_rss_mb": peak,
        "people": fingerprint(people),
        "realised": realised(outcomes),
        "expected": expected(people, model.follow_up, model.service_months),
    }


def one_pbrsim(design: Any) -> dict[str, Any]:
    """Run pbrsim once in this process as bench_national.py does: build, run, cohorts and metrics."""
    import pandas as pd
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.results import compute_metrics

    cpu0, wall0 = _clock()
    model = PbRModel(design)
    cpu1, wall1 = _clock()
    model.run()
    cpu2, wall2 = _clock()
    cohorts = pd.DataFrame([c.result for c in model.cohorts])
    metrics = compute_metrics(model, cohorts)
    cpu3, wall3 = _clock()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = model.store.trimmed()
    got = realised(s)
    assert abs(got["treated_rate"]["value"] - metrics["true_reoffending_rate"]) < 1e-9
    return {
        "engine": "pbrsim",
        "offenders": int(model.store.size),
        "cpu_s": cpu3 - cpu0, "wall_s": wall3 - wall0,
        "model_cpu_s": cpu2 - cpu0, "model_wall_s": wall2 - wall0,
        "build_cpu_s": cpu1 - cpu0, "metrics_cpu_s": cpu3 - cpu2,
        "peak_rss_mb": peak,
        "people": fingerprint(s),
        "realised": got,
    }


# -- the comparison -----------------------------------------------------------------------------
def _child(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--scale", args.scale, "--one", engine]
    if args.months is not None:
        cmd += ["--months", str(args.months)]
    if args.referrals_per_year is not None:
        cmd += ["--referrals-per-year", str(args.referrals_per_year)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def equivalence(ref: dict[str, Any], pbr: dict[str, Any]) -> dict[str, Any]:
    """Both engines against the exact expectation given the people, and against each other."""
    rows = {}
    for key in MEASURES:
        exact = ref["expected"][key]
        p, r = pbr["realised"][key], ref["realised"][key]
        se = exact["se"]
        rows[key] = {
            "expected": exact["value"], "se_given_people": se,
            "pbrsim": p["value"], "pbrsim_se": p["se"],
            "reference": r["value"], "reference_se": r["se"],
            "z_pbrsim": (p["value"] - exact["value"]) / se,
            "z_reference": (r["value"] - exact["value"]) / se,
            "difference": r["value"] - p["value"],
            "z_difference": (r["value"] - p["value"]) / (math.sqrt(2.0) * se),
        }
    return {"same_people": ref["people"] == pbr["people"] and ref["offenders"] == pbr["offenders"],
            "offenders": ref["offenders"], "measures": rows,
            "within_3_se": all(abs(v[z]) < 3.0 for v in rows.values()
                               for z in ("z_pbrsim", "z_reference", "z_difference"))}


def _commit() -> str:
    """The checked-out commit, marked ``+dirty`` if sim/ or pbrsim/ have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sim", "pbrsim"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def main() -> None:
    """Time both engines in fresh processes and check they agree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="base")
    parser.add_argument("--months", type=int, default=None, help="referral months (default: the scenario's 84)")
    parser.add_argument("--referrals-per-year", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each engine")
    parser.add_argument("--treated-only", action="store_true",
                        help="also time the reference without the untreated path")
    parser.add_argument("--one", choices=("reference", "reference_treated_only", "pbrsim"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    design = scenario_for(args.scale, args.months, args.referrals_per_year)
    if args.one:
        row = one_pbrsim(design) if args.one == "pbrsim" else one_reference(design, args.one == "reference")
        print(json.dumps(row))
        return

    engines = ["pbrsim", "reference"] + (["reference_treated_only"] if args.treated_only else [])
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for _ in range(args.reps):
        for engine in engines:           # alternate, so a change in the machine's load hits both
            runs[engine].append(_child(args, engine))
            print(f"{engine:24s} cpu {runs[engine][-1]['cpu_s']:8.2f} s  wall {runs[engine][-1]['wall_s']:8.2f} s  "
                  f"peak {runs[engine][-1]['peak_rss_mb']:6.0f} MB", file=sys.stderr)

    def median(engine: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[engine])

    summary: dict[str, Any] = {
        "scale": args.scale, "scenario": str(SCALES[args.scale].relative_to(ROOT)),
        "referral_months": design.contract.referral_months,
        "referrals_per_year": design.cohort.referrals_per_year, "areas": design.areas,
        "reps": args.reps, "affinity": sorted(os.sched_getaffinity(0)), "commit": _commit(),
        "pbrsim_from": str(Path(sys.modules["pbrsim"].__file__).parent),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "offenders": runs["pbrsim"][0]["offenders"], "agent_months": runs["reference"][0]["agent_months"],
        "median": {e: {k: median(e, k) for k in runs[e][0] if k.endswith(("_s", "_mb"))} for e in engines},
    }
    pbr = summary["median"]["pbrsim"]
    summary["speed_up"] = {
        f"{e}_over_pbrsim_{what}_{clock}": summary["median"][e][f"{clock}_s"] / pbr[f"{base}{clock}_s"]
        for e in engines[1:] for what, base in (("whole", ""), ("model", "model_")) for clock in ("cpu", "wall")
    }
    # each rep's engines ran back to back: the ratio within a rep, smallest and largest over reps
    summary["speed_up_range_cpu"] = {
        f"{e}_over_pbrsim_{what}": [min(ratios), max(ratios)]
        for e in engines[1:] for what, base in (("whole", "cpu_s"), ("model", "model_cpu_s"))
        if (ratios := [r["cpu_s"] / p[base] for r, p in zip(runs[e], runs["pbrsim"], strict=True)])
    }
    summary["equivalence"] = equivalence(runs["reference"][0], runs["pbrsim"][0])
    summary["runs"] = {e: [{k: v for k, v in r.items() if k not in ("realised", "expected")} for r in rs]
                       for e, rs in runs.items()}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
