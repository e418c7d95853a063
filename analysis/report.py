"""A self-contained HTML report of a batch: what a commissioner opens and sends on.

One file that works offline: plotly.js is embedded once, every figure comes
with a short reading generated from the batch's own numbers
(:mod:`pbrsim.analysis.readings`), then the comparison table with 95%
intervals, and everything needed to reproduce the batch (pbrsim version, root
seed, seeds per replication, the resolved scenario definitions). Labels and
units come from the catalogue of measures (:mod:`pbrsim.sim.measures`).
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import yaml
from pbrsim.analysis import figures as fg
from pbrsim.analysis import readings as rd
from pbrsim.analysis.batch import BatchResults, read_batch
from pbrsim.analysis.formatting import describe, format_interval, format_value, verdict
from pbrsim.analysis.tables import KEY_MEASURES, comparison_table

__all__ = ["FIGURES", "Section", "build_sections", "write_report"]

logger = logging.getLogger(__name__)

#: Scenarios beyond which the all-measures appendix is left to comparison.csv.
MAX_APPENDIX_SCENARIOS = 6
#: Scenarios shown as columns of a table; beyond this, scenarios are rows (at most MAX_TABLE_ROWS).
MAX_TABLE_COLUMNS = 6
MAX_TABLE_ROWS = 100


@dataclass
class Section:
    """One figure of the report with its reading, or the note saying why it is absent."""

    key: str
    title: str
    figure: go.Figure | None
    reading: list[str] = field(default_factory=list)
    note: str | None = None


#: The report's figure sections in order: key, title, figure, reading.
FIGURES: tuple[tuple[str, str, Callable[[BatchResults], go.Figure],
                     Callable[[rd.Reader], list[str]]], ...] = (
    ("outcomes", "Outcomes against cost", fg.outcome_cost_figure, rd.read_outcome_cost),
    ("measurement", "Measured against true impact", fg.measured_vs_true_figure,
     rd.read_measurement),
    ("effort", "Effort by risk band over time: creaming and parking", fg.effort_by_band_figure,
     rd.read_effort),
    ("incentives", "Creaming, parking and risk transfer", fg.incentive_effects_figure,
     rd.read_incentives),
    ("money", "Money through the supply chain", fg.money_flow_figure, rd.read_money),
    ("market", "Market health", fg.market_health_figure, rd.read_market),
    ("equality", "Equality: outcomes and effort by group", fg.equality_figure, rd.read_equality),
    ("sensitivity", "Sensitivity of the results to the parameters", fg.sensitivity_figure,
     rd.read_sensitivity),
)


def build_sections(store_dir: Path | BatchResults, reference: str | None = None) -> list[Section]:
    """Build the report's figure sections, each with its reading or the reason it is absent.

    Args:
        store_dir: The results store.
        reference: Scenario the readings compare with (default as in
            :func:`~analysis.tables.comparison_table`).

    """
    results = read_batch(store_dir)
    reader = rd.Reader(results, results.reference_label(reference))
    sections = []
    for key, title, make, read in FIGURES:
        try:
            figure = make(results)
        except fg.FigureDataMissing as exc:
            sections.append(Section(key, title, None, note=f"Not shown: {exc}."))
            continue
        sections.append(Section(key, title, figure, read(reader)))
    return sections


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; color: #222; margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; line-height: 1.5; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.4rem; border-bottom: 2px solid #1f4e79; padding-bottom: 0.2rem;
     margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.5rem; }
.meta { color: #555; margin-top: 0; }
.reading { background: #f3f7fb; border-left: 4px solid #2e75b6; padding: 0.6rem 1rem; }
.reading p { margin: 0.3rem 0; }
.note { color: #7a4b00; font-style: italic; }
nav ol { columns: 2; }
table { border-collapse: collapse; font-family: Helvetica, Arial, sans-serif; font-size: 0.85rem;
        margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }
th { background: #eef3f8; text-align: left; }
td.num { text-align: right; white-space: nowrap; }
td .ci, td .diff { display: block; color: #555; font-size: 0.8rem; }
.table-wrap { overflow-x: auto; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6rem; font-size: 0.75rem;
      overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1rem 0; page-break-inside: avoid; break-inside: avoid; }
@media print {
  main { max-width: none; padding: 0; }
  nav { display: none; }
  section { page-break-before: auto; }
  h2 { page-break-after: avoid; }
  .table-wrap { overflow: visible; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _cell(row: pd.Series, measure: str) -> str:
    _, by = describe(measure)
    text = f"{_e(format_value(by, row['mean']))}"
    text += f'<span class="ci">{_e(format_interval(by, row["ci_low"], row["ci_high"]))}</span>'
    if row["difference_method"] != "reference" and math.isfinite(row["difference"]):
        low, high = row["difference_ci_low"], row["difference_ci_high"]
        diff = format_value(by, row["difference"], difference=True)
        judged = verdict(by, low, high)
        text += (f'<span class="diff">Δ {_e(diff)} ({_e(format_interval(by, low, high, True))}, '
                 f'{_e(row["difference_method"])}{"; " + judged if judged else ""})</span>')
    return text


def _table_html(results: BatchResults, table: pd.DataFrame, measures: list[tuple[str, str]],
                differences: bool) -> str:
    """Measures down, scenarios across; for many scenarios (a sweep), the other way round.

    ``measures`` are (key, label) pairs; a key may be a store column the
    catalogue lacks (shown as a plain number under its key).
    """
    indexed = table.set_index(["measure", "scenario"])
    reps = results.metrics.groupby("label")["replication"].nunique()

    def cell(measure: str, label: str) -> str:
        row = indexed.loc[(measure, label)]
        if not differences:
            row = row.copy()
            row["difference_method"] = "reference"
        return f'<td class="num">{_cell(row, measure)}</td>'

    def scenario(label: str) -> str:
        return f"{_e(label)} (n={int(reps.get(label, 0))})"

    if len(results.labels) <= MAX_TABLE_COLUMNS:
        head = "".join(f"<th>{scenario(label)}</th>" for label in results.labels)
        rows = [f"<tr><th>{_e(text)}</th>{''.join(cell(m, label) for label in results.labels)}"
                "</tr>" for m, text in measures]
        first = "measure"
    else:
        shown = results.labels[:MAX_TABLE_ROWS]
        head = "".join(f"<th>{_e(text)}</th>" for _, text in measures)
        rows = [f"<tr><th>{scenario(label)}</th>{''.join(cell(m, label) for m, _ in measures)}"
                "</tr>" for label in shown]
        if len(results.labels) > len(shown):
            rows.append(f'<tr><td colspan="{len(measures) + 1}" class="note">'
                        f"{len(results.labels) - len(shown)} more scenarios in comparison.csv"
                        "</td></tr>")
        first = "scenario"
    return (f'<div class="table-wrap"><table><thead><tr><th>{first}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _comparison_html(results: BatchResults, table: pd.DataFrame) -> str:
    ref = table.attrs["reference"]
    methods = sorted(set(table.loc[table["scenario"] != ref, "difference_method"]))
    method_text = {
        "paired": "paired: replication by replication, since every scenario's replication r "
                  "ran on the same seed (common random numbers)",
        "Welch": "Welch: difference of means with unequal variances, where the scenarios' "
                 "replications do not match",
    }
    key = [(m, describe(m)[0]) for m in KEY_MEASURES if results.present(m)]
    parts = [
        f"<p>Each cell: mean over replications, its 95% t-interval (undefined with one "
        f"replication), and Δ, the difference from <strong>{_e(ref)}</strong> with its 95% "
        f"interval ({'; '.join(_e(method_text[m]) for m in methods) or 'no other scenario'}).</p>",
        _table_html(results, table, key, True),
        f"<p>All {len(results.measures)} measures are in the appendix and, with every "
        "difference, in <code>comparison.csv</code> (written by <code>pbrsim report</code>).</p>",
    ]
    return "\n".join(parts)


def _appendix_html(results: BatchResults, table: pd.DataFrame) -> str:
    if len(results.labels) > MAX_APPENDIX_SCENARIOS:
        return (f"<p>{len(results.labels)} scenarios: too many to list here; see "
                "<code>comparison.csv</code>.</p>")
    measures = [(m, f"{describe(m)[0]} · {m}") for m in results.measures]
    return _table_html(results, table, measures, False)


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out |= _flat(v, f"{prefix}[{i}]")
        return out
    if value == [] or value is None:
        return {}  # absent and empty are the same for a reader
    return {prefix: value}


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _differences_html(results: BatchResults, definitions: dict[str, object], reference: str) -> str:
    """How each scenario's definition differs from the reference's, field by field."""
    if reference not in definitions or len(definitions) < 2:
        return ""
    base = _flat(definitions[reference])
    rows = []
    for label in results.labels:
        if label == reference or label not in definitions:
            continue
        other = _flat(definitions[label])
        for key in [k for k in {**base, **other} if base.get(k, "–") != other.get(k, "–")]:
            if key == "name" or key == "description":
                continue
            a, b = (_show(d[key]) if key in d else "–" for d in (base, other))
            rows.append(f"<tr><td>{_e(label)}</td><td><code>{_e(key)}</code></td>"
                        f"<td>{_e(a)}</td><td>{_e(b)}</td></tr>")
    if not rows:
        return "<h3>Differences between designs</h3><p>All designs have the same definition.</p>"
    return (f"<h3>How the designs differ from {_e(reference)}</h3><div class=\"table-wrap\"><table>"
            f"<thead><tr><th>scenario</th><th>field</th><th>{_e(reference)}</th><th>this design"
            f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _reproduction_html(results: BatchResults, reference: str) -> str:
    batch = results.batch
    experiment = batch.get("experiment") or {}
    items = [
        ("pbrsim version", batch.get("pbrsim_version", "unknown")),
        ("Results format", f"{batch.get('format')} version {batch.get('format_version')}"),
        ("Root seed", batch.get("root_seed", "unknown")),
        ("Experiment", experiment.get("name", "unnamed")),
        ("Experiment file", experiment.get("file") or "none"),
        ("Reference scenario", batch.get("reference") or "(first scenario)"),
        ("Runs", f"{len(batch.get('runs') or [])} in the batch, {len(results.metrics)} succeeded, "
                 f"{len(results.failed)} failed"),
    ]
    parts = ["<table><tbody>"
             + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
             + "</tbody></table>"]
    seeds = {label: results.seeds(label) for label in results.labels}
    shared = all(s == seeds[results.labels[0]] for s in seeds.values())
    if shared:
        rows = "".join(f"<tr><td>{r}</td><td>{_e(s)}</td></tr>"
                       for r, s in sorted(seeds[results.labels[0]].items()))
        parts.append("<h3>Seeds</h3><p>Every scenario ran the same replications on the same "
                     "seeds (common random numbers):</p>"
                     f"<table><thead><tr><th>replication</th><th>seed</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    else:
        rows = "".join(f"<tr><td>{_e(label)}</td><td>{r}</td><td>{_e(s)}</td></tr>"
                       for label, ss in seeds.items() for r, s in sorted(ss.items()))
        parts.append("<h3>Seeds</h3><table><thead><tr><th>scenario</th><th>replication</th>"
                     f"<th>seed</th></tr></thead><tbody>{rows}</tbody></table>")
    if len(results.failed):
        rows = "".join(
            f"<tr><td>{_e(r.get('scenario', ''))}</td><td>{_e(r.get('replication', ''))}</td>"
            f"<td>{_e(r.get('error', ''))}</td></tr>"
            for r in results.failed.to_dict("records"))
        parts.append("<h3>Failed runs</h3><table><thead><tr><th>scenario</th><th>replication</th>"
                     f"<th>error</th></tr></thead><tbody>{rows}</tbody></table>")
    if experiment.get("definition"):
        definition = json.dumps(experiment["definition"], indent=2, ensure_ascii=False)
        parts.append(f"<h3>Experiment definition</h3><pre>{_e(definition)}</pre>")
    definitions = results.definitions
    parts.append(_differences_html(results, definitions, reference))
    parts.append("<h3>Scenario definitions</h3><p>Each design as the runs resolved it "
                 "(scenario hash in brackets).</p>")
    for label in results.labels:
        key = results.scenario_key(label)
        if label in definitions:
            text = yaml.safe_dump(definitions[label], sort_keys=False, allow_unicode=True,
                                  width=100)
            parts.append(f"<h4>{_e(label)} <small>({_e(key)})</small></h4><pre>{_e(text)}</pre>")
        else:
            parts.append(f'<p class="note">{_e(label)}: no scenarios/{_e(key)}.json in the '
                         "store.</p>")
    return "\n".join(parts)


def write_report(store_dir: Path | BatchResults, out: Path | None = None, *,
                 reference: str | None = None) -> Path:
    """Write one self-contained HTML report of a batch; return its path.

    The file works offline (plotly.js is embedded once) and prints. It holds
    key findings and a reading of each figure generated from the batch's
    numbers, the comparison table with 95% intervals, every measure, and the
    batch's version, seeds and scenario definitions for reproduction. A figure
    whose data the store lacks is replaced by a one-line note.

    Args:
        store_dir: The results store.
        out: Where to write; default ``store_dir/report.html``.
        reference: Scenario to compare with (default ``batch.json``'s
            ``reference``, else the first scenario).

    Raises:
        StoreError: The store cannot be read.

    """
    results = read_batch(store_dir)
    table = comparison_table(results, reference)
    sections = build_sections(results, table.attrs["reference"])
    out = Path(out) if out is not None else results.path / "report.html"
    title = (results.batch.get("experiment") or {}).get("name") or results.path.name
    reps = results.metrics.groupby("label")["replication"].nunique()
    rep_text = (f"{int(reps.iloc[0])} replications each" if reps.nunique() == 1
                else f"{int(reps.min())} to {int(reps.max())} replications")

    figures_html = []
    plotly_js_included = False
    n_figures = 0
    for s in sections:
        body = [f'<section id="{s.key}"><h2>{_e(s.title)}</h2>']
        if s.figure is None:
            body.append(f'<p class="note">{_e(s.note)}</p>')
        else:
            if s.reading:
                body.append('<div class="reading">'
                            + "".join(f"<p>{_e(p)}</p>" for p in s.reading) + "</div>")
            div = s.figure.to_html(full_html=False, include_plotlyjs=not plotly_js_included,
                                   config={"displaylogo": False, "responsive": True},
                                   default_width="100%")
            plotly_js_included = True
            n_figures += 1
            body.append(f"<figure>{div}</figure>")
        body.append("</section>")
        figures_html.append("\n".join(body))

    findings = [s.reading[0] for s in sections if s.figure is not None and s.reading]
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in results.notes)
    nav = "".join(f'<li><a href="#{s.key}">{_e(s.title)}</a></li>' for s in sections)
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pbrsim {_e(results.batch.get('pbrsim_version', ''))}">
<title>{_e(title)}: pbrsim report</title>
<style>{_CSS}</style>
</head>
<body>
<main data-figures="{n_figures}">
<h1>{_e(title)}</h1>
<p class="meta">{len(results.labels)} contract designs, {rep_text}; pbrsim
{_e(results.batch.get('pbrsim_version', 'unknown'))}, root seed
{_e(results.batch.get('root_seed', 'unknown'))}. Means over replications with 95% intervals.</p>
{notes}
<section id="findings"><h2>Key findings</h2>
<ul>{''.join(f'<li>{_e(f)}</li>' for f in findings) or '<li>No figure could be drawn.</li>'}</ul>
</section>
<nav><h2>Contents</h2><ol><li><a href="#comparison">Comparison of designs</a></li>{nav}
<li><a href="#appendix">All measures</a></li><li><a href="#reproduce">Reproducing these
results</a></li></ol></nav>
<section id="comparison"><h2>Comparison of designs</h2>
{_comparison_html(results, table)}
</section>
{''.join(figures_html)}
<section id="appendix"><h2>All measures</h2>
<p>Mean and 95% interval over replications of every measure the runs recorded.</p>
{_appendix_html(results, table)}
</section>
<section id="reproduce"><h2>Reproducing these results</h2>
{_reproduction_html(results, table.attrs["reference"])}
</section>
</main>
</body>
</html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    logger.info("report written to %s (%d figures)", out, n_figures)
    return out
