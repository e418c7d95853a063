"""The catalogue of measures (sim/measures.py) against what runs really compute.

Every shipped scenario is run short: a run that computes a key the catalogue
lacks fails, and so does a catalogue entry no short run produces (unless it
is marked with the reason a short run cannot reach it). Analysis names
measures only through the catalogue, so together these mean analysis cannot
name a key no run computes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pbrsim.analysis import formatting
from pbrsim.analysis.batch import read_batch
from pbrsim.sim import measures as M
from pbrsim.sim import run_scenario

from pbrsim.scenario_files import load_scenario
from tests.conftest import ROOT, SHIPPED
from tests.conftest_analysis import run, write_store

#: Short enough for seconds over every shipped scenario, long enough for a contract year,
#: volume-band reconciliations and a volume shock (from month 13).
SHORT = {"cohort": {"referrals_per_year": 2000}, "contract": {"referral_months": 24}}
#: Scenarios that need more than SHORT to produce all their measures, and why.
LONGER = {
    # the primes' margin passes the cap (and margin is clawed back) only at a larger volume
    "margin_cap": {"cohort": {"referrals_per_year": 20000}, "contract": {"referral_months": 24}},
}
ODD = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def produced() -> dict[str, tuple[set[str], set[str]]]:
    """Every shipped scenario run short: its metric keys and monthly columns, by file stem."""
    out = {}
    for path in SHIPPED:
        design = load_scenario(path, overrides=LONGER.get(path.stem, SHORT))
        result = run_scenario(design, 1)
        out[path.stem] = (set(result.metrics), set(result.monthly.columns))
    return out


def _all(produced: dict[str, tuple[set[str], set[str]]], which: int) -> set[str]:
    return set().union(*(keys[which] for keys in produced.values()))


def test_every_metric_a_run_computes_is_catalogued(produced):
    """A run computing a key the catalogue lacks fails here, naming the scenario and key."""
    missing = {(stem, k) for stem, (keys, _) in produced.items() for k in keys
               if M.find(k, M.Kind.METRIC) is None}
    assert missing == set()


def test_every_monthly_column_a_run_writes_is_catalogued(produced):
    """The same for the monthly series (monthly.csv)."""
    missing = {(stem, c) for stem, (_, columns) in produced.items() for c in columns
               if M.find(c, M.Kind.SERIES) is None}
    assert missing == set()


@pytest.mark.parametrize(("catalogue", "which"), [(M.METRICS, 0), (M.SERIES, 1)],
                         ids=["metrics", "series"])
def test_every_catalogue_entry_is_produced_by_a_short_run_or_says_why_not(produced, catalogue,
                                                                          which):
    """An entry no short run produces is stale (or misspelt) unless marked with its reason."""
    keys = _all(produced, which)
    wrong = {k: m.unreached for k, m in catalogue.items() if (k in keys) == (m.unreached is not None)}
    assert wrong == {}


def test_open_families_are_produced(produced):
    """Each prime's cash and each bond cohort's reduction: families matched, not listed."""
    metric_keys, columns = _all(produced, 0), _all(produced, 1)
    cash = M.members("cash_{prime name}", columns)
    assert {m.member for m in cash} >= {"Northgate Rehabilitation", "Public provider (interim)"}
    assert M.members("sib_cohort_{k}_reduction_pct", metric_keys)


def test_lookup_of_a_misspelt_key_fails_loudly_and_suggests():
    """A KeyError naming the key and the catalogue's nearest keys."""
    with pytest.raises(M.UnknownMeasure) as exc:
        M.measure("prime_handbacks")  # a monthly column, not a final metric
    assert isinstance(exc.value, KeyError)
    assert "unknown final metric 'prime_handbacks'" in str(exc.value)
    assert M.series("prime_handbacks").unit is M.Unit.COUNT
    with pytest.raises(KeyError, match="did you mean 'creaming_index'"):
        M.measure("creeming_index")
    with pytest.raises(KeyError, match="monthly series column 'cash'"):
        M.series("cash")


def test_families_expand_to_concrete_keys_with_their_words():
    """One declaration, one key per member, each labelled with the member's words."""
    women = M.measure("true_impact_pp_female")
    assert (women.unit, women.family, women.member) == (M.Unit.POINTS, "true_impact_pp_{g}",
                                                        "female")
    assert women.label == "True impact on reoffending, women"
    assert M.family("true_impact_pp_{g}").title == "True impact on reoffending"
    assert [m.member for m in M.members("parking_share_{band}")] == list(M.BAND_WORDS)
    assert M.measure("sib_cohort_3_reduction_pct").label.startswith(
        "Fall in reconviction events, bond cohort 3")
    assert [m.key for m in M.members("effort_{band}", ["month", "effort_high", "effort_low"])] == [
        "effort_low", "effort_high"]


def test_units_and_directions_of_the_known_wrong_outputs():
    """The measures issue 9 found mis-shown: rates are shares, counts are counts."""
    assert M.measure("margin_cap").unit is M.Unit.SHARE
    assert M.measure("investor_return").unit is M.Unit.SHARE
    for key in ("primes_with_losses", "subprime_exits_losses", "handbacks", "prime_failures"):
        assert M.measure(key).unit is M.Unit.COUNT, key
    assert M.measure("commissioner_outlay").direction is M.Direction.LOWER_BETTER
    assert M.measure("true_impact_pp").direction is M.Direction.HIGHER_BETTER


def test_every_unit_has_a_formatter():
    """Analysis can show every unit the catalogue uses."""
    assert set(formatting._FORMATS) == set(M.Unit)


def _odd_headings() -> set[str]:
    return set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\b", ODD, flags=re.MULTILINE))


def test_every_entry_is_defined_in_the_odd():
    """Each entry's ODD section exists, and the key (or its family's pattern) is defined there."""
    headings = _odd_headings()
    undefined = []
    entries = [*M.METRICS.values(), *M.SERIES.values()]
    for m in entries:
        assert m.odd in headings, (m.key, m.odd)
        if m.family is not None:
            named = f"`{m.family}`" in ODD
        else:
            # "`winning_price_factor_mean`, `_min`, `_max`" defines three keys
            named = f"`{m.key}`" in ODD or f"`_{m.key.rsplit('_', 1)[-1]}`" in ODD
        if not named:
            undefined.append(m.key)
    for fam in M.families():
        if fam.members is None and f"`{fam.pattern}`" not in ODD:
            undefined.append(fam.pattern)
    assert undefined == []


def test_analysis_refuses_a_key_the_catalogue_lacks(tmp_path):
    """A store is read leniently (any column), but code naming a measure must name a real one."""
    path = write_store(tmp_path / "s", [run("A", 0, {"referrals": 10.0, "made_up": 1.0})])
    results = read_batch(path)
    assert "made_up" in results.measures  # data is data: shown as a plain number
    assert formatting.describe("made_up") == ("made_up", M.Unit.NUMBER)
    for call in (lambda: results.present("prime_handbacks"), lambda: results.stat("A", "made_up"),
                 lambda: results.monthly_means(["effort_lo"])):
        with pytest.raises(M.UnknownMeasure):
            call()


def test_catalogue_module_is_light():
    """The catalogue declares; it imports no model code of its own (only the vocabulary)."""
    source = Path(M.__file__).read_text(encoding="utf-8")
    imports = set(re.findall(r"^from (pbrsim\.\S+) import", source, flags=re.MULTILINE))
    assert imports == {"pbrsim.sim.vocabulary"}
