"""How the CLI shows things: diagnostics, run tables and one run's detail, with rich."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from statistics import mean
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from rainbow.diagnostics import Diagnostic
from rainbow.engine.records import MetricValue, RunDetail, RunSummary

if TYPE_CHECKING:
    from rainbow.evaluate.comparison import Comparison, Row

SHOWN_VALUE_CHARS = 300
SHOWN_ERROR_CHARS = 1000
SHOWN_TRACEBACK_CHARS = 20_000
"""`rainbow show` prints the start of a long value or error and the end of a long traceback
(where the error is): laying out megabytes takes the terminal seconds. `--json` has them whole."""

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "worker_lost": "red",
    "cancelled": "yellow",
    "aborted": "yellow",
    "running": "cyan",
    "retrying": "cyan",
    "pending": "dim",
    "queued": "yellow",
    "waiting": "dim",
}


def status(text: str) -> Text:
    return Text(text, style=STATUS_STYLE.get(text, ""))


def diagnostics(console: Console, problems: Iterable[Diagnostic]) -> None:
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(
            Text.assemble(
                (problem.location.render(), "bold"),
                ": ",
                (f"{problem.severity} {problem.code}", colour),
                f": {problem.message}",
            )
        )
        if problem.hint:
            console.print(Text(f"    hint: {problem.hint}", style="dim"))


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def labelled(
    values: Sequence[MetricValue], *, context: Iterable[MetricValue] = ()
) -> list[tuple[str, MetricValue]]:
    """Label metrics by name, or step/name where several steps (in ``values`` or in ``context``,
    e.g. the other runs of a table) report the same name."""
    steps_of: dict[str, set[str]] = {}
    for metric in [*values, *context]:
        steps_of.setdefault(metric.name, set()).add(metric.step)
    return [(f"{m.step}/{m.name}" if len(steps_of[m.name]) > 1 else m.name, m) for m in values]


def metric_text(values: Sequence[MetricValue]) -> str:
    return "  ".join(f"{label}={_number(m.value)}" for label, m in labelled(values))


def headline(
    values: Sequence[MetricValue], context: Sequence[MetricValue] = (), limit: int = 2
) -> str:
    """Quality metrics (better=high) first: a table row has room for a few; `show` has all."""
    ranked = sorted(labelled(values, context=context), key=lambda item: item[1].better != "high")
    shown = "\n".join(f"{label}={_number(m.value)}" for label, m in ranked[:limit])
    hidden = len(ranked) - limit
    return f"{shown}\n(+{hidden} more)" if hidden > 0 else shown


def runs_table(
    runs: Sequence[RunSummary], *, title: str | None = None, with_pipeline: bool = True
) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("run", no_wrap=True)
    table.add_column("unit")
    if with_pipeline:
        table.add_column("pipeline")
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("metrics / reason")
    every_metric = [m for run in runs for m in run.metrics]
    for run in runs:
        cells: list[Any] = [run.run_id, run.unit]
        if with_pipeline:
            cells.append(run.pipeline)
        cells += [
            status(run.status),
            seconds(run.duration_s),
            Text(run.reason or "", style="red")
            if run.status != "succeeded" and run.reason
            else headline(run.metrics, every_metric),
        ]
        table.add_row(*cells)
    return table


def metric_summary(runs: Sequence[RunSummary]) -> Table | None:
    """Mean, min and max of each metric over the runs, with the direction that is better."""
    values: dict[str, list[float]] = {}
    better: dict[str, str] = {}
    every_metric = [m for run in runs for m in run.metrics]
    for run in runs:
        for label, metric in labelled(run.metrics, context=every_metric):
            values.setdefault(label, []).append(metric.value)
            better[label] = metric.better
    if not values:
        return None
    table = Table(title="quality metrics over the runs")
    for column in ("metric", "better", "mean", "min", "max", "runs"):
        table.add_column(column, justify="left" if column in ("metric", "better") else "right")
    for name in sorted(values):
        seen = values[name]
        table.add_row(
            name,
            better[name],
            _number(mean(seen)),
            _number(min(seen)),
            _number(max(seen)),
            str(len(seen)),
        )
    return table


VERDICT_STYLE = {
    "regression": "bold red",
    "missing": "bold red",
    "improvement": "green",
    "unchanged": "dim",
    "new": "cyan",
}


def comparison_table(comparison: Comparison) -> Table:
    """metric | baseline @ commit | now | change | bound | verdict: regressions first."""
    base, now = comparison.baseline, comparison.now
    table = Table(
        title=f"{now.target} on {now.corpus.name}@{now.corpus.version}: "
        f"{now.branch or 'no branch'} @ {now.commit[:12] or 'local code'} vs "
        f"{base.branch or 'a baseline'} @ {base.commit[:12] or 'local code'}",
        title_justify="left",
    )
    for column in ("metric", "baseline @ commit", "now", "change", "bound", "verdict"):
        left = column in ("metric", "verdict")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in comparison.rows:
        table.add_row(
            Text(row.key),
            Text(
                _or_dash(row.baseline)
                + (f" @ {row.baseline_commit[:7]}" if row.baseline_commit else "")
            ),
            Text(_or_dash(row.now)),
            Text(_change(row)),
            Text(_bound(row)),
            Text(row.verdict, style=VERDICT_STYLE.get(row.verdict, "")),
        )
    return table


def _or_dash(value: float | None) -> str:
    return "–" if value is None else _number(value)


def _change(row: Row) -> str:
    if row.change is None:
        return "–"
    relative = "" if row.relative_change is None else f" ({row.relative_change:+.1%})"
    return f"{row.change:+.3g}{relative}"


def _bound(row: Row) -> str:
    if row.kind == "timing" and row.factor is not None:
        p = "" if row.p_value is None else f", p={row.p_value:.2g}"
        return f"×{row.factor:g}{p}"
    return "–" if row.bound is None else f"±{_number(row.bound)}"


def run_detail(detail: RunDetail, waiting: Mapping[str, str] | None = None) -> Group:
    run = detail.summary
    head = Table.grid(padding=(0, 2))
    head.add_row("run", run.run_id)
    head.add_row("pipeline", f"{run.pipeline} ({run.spec_hash[:19]})")
    head.add_row("unit", run.unit)
    moving = any(a.status == "running" for s in detail.steps for a in s.attempts)
    head.add_row("status", status("queued" if waiting and not moving else run.status))
    for step_id, reason in (waiting or {}).items():
        head.add_row("waiting", Text(f"{step_id}: {reason}", style="yellow"))
    head.add_row("duration", seconds(run.duration_s))
    if run.reason:
        head.add_row("reason", Text(run.reason, style="red"))
    if detail.outputs:
        head.add_row("outputs", _values(detail.outputs, run.run_id))
    steps = Table(title="steps")
    for column in ("step", "status", "attempt", "module", "build", "duration"):
        steps.add_column(column, no_wrap=True)
    steps.add_column("metrics / error")
    tracebacks: list[Any] = []
    for step in detail.steps:
        if not step.attempts:
            steps.add_row(step.step, status(step.status), "-", "", "", "", "")
        for attempt in step.attempts:
            note = metric_text(attempt.metrics)
            if attempt.error_message:
                note = _start(f"{attempt.error_type}: {attempt.error_message}", SHOWN_ERROR_CHARS)
            if attempt.timings:
                blocks = ", ".join(f"{k} {seconds(v)}" for k, v in attempt.timings.items())
                note = f"{note}  [{blocks}]" if note else f"[{blocks}]"
            if attempt.deliveries > 1:
                again = f"ran {attempt.deliveries} times: the broker delivered its task again"
                note = f"{note}  ({again})" if note else f"({again})"
            if attempt.cached_from:
                reused = f"cached: the outputs of run {attempt.cached_from}"
                note = f"{reused}  {note}" if note else reused
            steps.add_row(
                step.step,
                Text("cached", style="green") if attempt.cached_from else status(attempt.status),
                str(attempt.attempt),
                f"{attempt.module}@{attempt.version}",
                build_text(attempt.commit, attempt.artifact),
                seconds(attempt.duration_s),
                note,
            )
            if attempt.traceback:
                title = f"{step.step} attempt {attempt.attempt}: {attempt.error_type}"
                shown = attempt.traceback.rstrip()
                if len(shown) > SHOWN_TRACEBACK_CHARS:
                    cut = len(shown) - SHOWN_TRACEBACK_CHARS
                    shown = f"… ({cut:,} characters cut)\n{shown[-SHOWN_TRACEBACK_CHARS:]}"
                tracebacks.append(Panel(Syntax(shown, "pytb", word_wrap=True), title=title))
    return Group(head, steps, *tracebacks)


def build_text(commit: str, artifact: str) -> str:
    """Which build ran an attempt: its commit, and its artifact's hash when it was released."""
    if not commit and not artifact:
        return "local code"
    shown = commit[:10] or "?"
    return f"{shown} {artifact.removeprefix('sha256:')[:12]}" if artifact else shown


def _values(values: Mapping[str, Any], run_id: str) -> Text:
    text = Text()
    for index, (name, value) in enumerate(sorted(values.items())):
        if index:
            text.append("\n")
        shown = value["$asset"] if isinstance(value, dict) and "$asset" in value else value
        text.append(f"{name}: ", style="bold")
        elided = shown.get("$elided") if isinstance(shown, dict) else None
        if isinstance(elided, dict):  # the control plane's answer left it out (run_values)
            text.append(f"({elided.get('bytes')} bytes, not shown: GET {elided.get('url')})")
            continue
        whole = str(shown)
        text.append(whole[:SHOWN_VALUE_CHARS])
        if len(whole) > SHOWN_VALUE_CHARS:
            text.append(
                f"… ({len(whole):,} characters: rainbow show {run_id} --json prints it whole)",
                style="dim",
            )
    return text


def _start(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def outcome_json(detail: RunDetail) -> dict[str, Any]:
    """The per-run line of `rainbow run --json`."""
    run = detail.summary
    return {
        "run_id": run.run_id,
        "unit": run.unit,
        "status": run.status,
        "reason": run.reason,
        "outputs": dict(detail.outputs) if detail.outputs is not None else None,
        "steps": [
            {"id": s.step, "status": s.status, "attempts": len(s.attempts)} for s in detail.steps
        ],
    }


def detail_json(detail: RunDetail) -> dict[str, Any]:
    run = detail.summary
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline,
        "spec_hash": run.spec_hash,
        "unit": run.unit,
        "status": run.status,
        "reason": run.reason,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": run.duration_s,
        "inputs": dict(detail.inputs),
        "outputs": dict(detail.outputs) if detail.outputs is not None else None,
        "steps": [
            {
                "id": step.step,
                "status": step.status,
                "outputs": dict(step.outputs) if step.outputs is not None else None,
                "attempts": [
                    {
                        "attempt": a.attempt,
                        "status": a.status,
                        "module": a.module,
                        "version": a.version,
                        "started_at": a.started_at.isoformat(),
                        "finished_at": a.finished_at.isoformat() if a.finished_at else None,
                        "duration_s": a.duration_s,
                        "error_type": a.error_type,
                        "error_message": a.error_message,
                        "traceback": a.traceback,
                        "exit_signal": a.exit_signal,
                        "worker": a.worker,
                        "commit": a.commit,
                        "artifact": a.artifact,
                        "deliveries": a.deliveries,
                        "cached_from": a.cached_from,
                        "metrics": [
                            {
                                "name": mv.name,
                                "value": mv.value,
                                "better": mv.better,
                                "kind": mv.kind,
                                "tolerance_absolute": mv.tolerance_absolute,
                                "tolerance_relative": mv.tolerance_relative,
                            }
                            for mv in a.metrics
                        ],
                        "timings": dict(a.timings),
                    }
                    for a in step.attempts
                ],
            }
            for step in detail.steps
        ],
    }
