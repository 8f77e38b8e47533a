"""The admin: where people would rather look than read.

Run data is read-only here (the engine writes it), and so are baselines (only `rainbow evaluate
--update-baseline` records one), each target's trend over main's baselines drawn on its own page;
the registry is changed through the same services as the REST API, so the role rules and the
audit log hold whichever way people come.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import get_template
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from rainbow.control.models import (
    ApiToken,
    Attempt,
    AuditEntry,
    Baseline,
    CorpusVersion,
    DefaultPointer,
    Instance,
    Module,
    ModuleVersion,
    Pipeline,
    PipelineVersion,
    Promotion,
    Run,
)
from rainbow.control.persistence import audit
from rainbow.control.services import baselines, queries, release, run_service, trends
from rainbow.control.services.builds import set_status
from rainbow.control.services.execution import current_executor
from rainbow.control.services.refusals import Refused
from rainbow.control.services.registry import (
    check_spec,
    register_pipeline_version,
    served_limits,
)
from rainbow.control.services.roles import ADMIN, RESEARCHER, has_role
from rainbow.control.web import charts
from rainbow.evaluate.shown import clean, short
from rainbow.spec.canonical import dumps_data
from rainbow.spec.validate import read_json

DAG_MAX_STEPS = 200
DAG_MAX_EDGES = 300
"""The most the admin asks Graphviz to draw: about a second at most. Layout time grows much
faster than the graph (500 steps took 13 s, 100 densely wired ones 20 s), and so does the page."""


def _person(request: HttpRequest) -> AbstractBaseUser:
    # Every admin page but the login needs a logged-in staff member.
    return cast("AbstractBaseUser", request.user)


class ReadOnly(admin.ModelAdmin):
    """Rows the engine or the services write; people look at them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def act_on_each(
        self, request: HttpRequest, rows: Iterable[Any], act: Callable[[Any], object], done: str
    ) -> None:
        """An action calling a service per selected row: a refusal is that row's message."""
        for row in rows:
            try:
                act(row)
            except Refused as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{row}: {done}", messages.SUCCESS)


@admin.register(Run)
class RunAdmin(ReadOnly):
    list_display = ("run_id", "pipeline", "environment", "status", "unit", "created_at", "engine")
    list_filter = ("status", "environment", "engine", "pipeline")
    search_fields = ("run_id", "unit", "pipeline")
    date_hierarchy = "created_at"
    fields = (
        ("pipeline", "spec_hash"),
        ("status", "environment", "engine"),
        "reason",
        ("created_at", "started_at", "finished_at"),
        ("unit", "submitted_by"),
        "logs",
        "timeline",
        "attempt_table",
    )
    actions = ("cancel", "retry")
    readonly_fields = (
        *("pipeline", "spec_hash", "status", "environment", "engine", "reason"),
        *("created_at", "started_at", "finished_at", "unit", "submitted_by"),
        *("logs", "timeline", "attempt_table"),
    )
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        # Each run keeps a copy of its spec (up to RAINBOW_MAX_SPEC_BYTES); no page shows it.
        return super().get_queryset(request).defer("spec")

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        user, executor = _person(request), current_executor()
        self.act_on_each(
            request, queryset, lambda r: run_service.cancel(r.run_id, user, executor), "asked"
        )

    @admin.action(description="Retry the selected runs from their failed steps")
    def retry(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        user, executor = _person(request), current_executor()
        self.act_on_each(
            request, queryset, lambda r: run_service.retry(r.run_id, user, executor), "asked"
        )

    @admin.display(description="logs")
    def logs(self, obj: Run) -> SafeString:
        url = run_service.logs_url(obj.run_id)
        if url is None:
            return format_html('<span class="help">{}</span>', "set RAINBOW_LOGS_URL to link logs")
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">logs of run {}</a>', url, obj.run_id
        )

    def _attempts(self, obj: Run) -> list[Attempt]:
        return list(
            Attempt.objects.filter(step_run__run=obj)
            .select_related("step_run")
            .order_by("step_run__position", "attempt")
        )

    @admin.display(description="timeline")
    def timeline(self, obj: Run) -> SafeString:
        bars = [
            charts.Bar(
                row=a.step_run.step,
                label=f"{a.step_run.step} attempt {a.attempt}",
                status=a.status,
                start=a.started_at,
                end=a.finished_at,
                detail=a.error_type or "",
            )
            for a in self._attempts(obj)
        ]
        return mark_safe(charts.timeline(bars, timezone.now()))

    @admin.display(description="attempts")
    def attempt_table(self, obj: Run) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td><pre>{}</pre></td></tr>",
            (
                (
                    a.step_run.step,
                    a.attempt,
                    a.status,
                    f"{a.module}@{a.version}",
                    f"{a.duration_s:.3f} s" if a.duration_s is not None else "",
                    a.worker,
                    "\n".join(filter(None, [a.error_message, a.traceback])),
                )
                for a in self._attempts(obj)
            ),
        )
        head = (
            "<tr><th>step</th><th>attempt</th><th>status</th><th>module</th><th>duration</th>"
            "<th>worker</th><th>error</th></tr>"
        )
        return format_html('<table class="rainbow-attempts">{}{}</table>', mark_safe(head), rows)


@admin.register(Attempt)
class AttemptAdmin(ReadOnly):
    list_display = ("step_run", "attempt", "status", "module", "version", "duration_s", "worker")
    list_filter = ("status", "module")
    list_select_related = ("step_run",)


@admin.register(Module)
class ModuleAdmin(ReadOnly):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(ModuleVersion)
class ModuleVersionAdmin(ReadOnly):
    list_display = ("__str__", "status", "commit", "artifact_hash", "registered_at")
    list_filter = ("status", "module")
    list_select_related = ("module",)
    fields = (
        "module",
        "version",
        "status",
        "status_reason",
        "commit",
        "artifact_url",
        "artifact_hash",
        "registered_at",
        "history",
        "instances",
        "interface",
    )
    readonly_fields = fields
    SHOWN_BUILDS = 100

    @admin.display(description="history (builds released, oldest first)")
    def history(self, obj: ModuleVersion) -> SafeString:
        rows = [
            (b.label, b.commit[:12], b.ref, b.released_by, b.released_at)
            for b in obj.builds.order_by("released_at", "id")[: self.SHOWN_BUILDS]
        ]
        if not rows:
            return format_html("{}", "never released with `rainbow release`")
        return format_html_join(mark_safe("<br>"), "{}: {} from {}, by {} at {}", rows)

    actions = ("mark_live", "mark_draining", "mark_retired")

    @admin.display(description="instances (last heartbeat)")
    def instances(self, obj: ModuleVersion) -> SafeString:
        key = (obj.module.name, obj.version)
        seen = queries.instances_by_version(*key).get(key, [])
        rows = [(i.worker, "live" if i.live else "gone", i.seen_at, i.commit) for i in seen]
        if not rows:
            return format_html("{}", "no worker has announced it")
        return format_html_join(mark_safe("<br>"), "{} ({}, last seen {}, commit {})", rows)

    def _mark(self, request: HttpRequest, queryset: QuerySet[ModuleVersion], status: str) -> None:
        user = _person(request)
        self.act_on_each(
            request,
            queryset.select_related("module"),
            lambda row: set_status(
                row.module.name,
                row.version,
                status,
                reason=f"marked {status} in the admin by {user.get_username()}",
                by=user,
            ),
            status,
        )

    @admin.action(description="Mark live (new pipelines may pin them)")
    def mark_live(self, request: HttpRequest, queryset: QuerySet[ModuleVersion]) -> None:
        self._mark(request, queryset, "live")

    @admin.action(description="Mark draining (no new pins)")
    def mark_draining(self, request: HttpRequest, queryset: QuerySet[ModuleVersion]) -> None:
        self._mark(request, queryset, "draining")

    @admin.action(description="Retire (nothing new runs on them)")
    def mark_retired(self, request: HttpRequest, queryset: QuerySet[ModuleVersion]) -> None:
        self._mark(request, queryset, "retired")


@admin.register(Instance)
class InstanceAdmin(ReadOnly):
    list_display = ("module", "version", "worker", "commit", "seen_at")
    list_filter = ("module", "version")


@admin.register(Pipeline)
class PipelineAdmin(ReadOnly):
    list_display = ("name", "created_at")
    # Smoke units change through the API or `rainbow pipeline smoke-units` (checked, audited).
    fields = ("name", "smoke_units", "defaults", "metric_trends")
    readonly_fields = fields

    @admin.display(description="defaults")
    def defaults(self, obj: Pipeline) -> SafeString:
        pointers = queries.default_pointers([obj])
        return format_html_join(
            mark_safe("<br>"), "{}: {}", ((p.environment, p.version) for p in pointers)
        ) or format_html("{}", "none yet")

    @admin.display(description=f"metric trends (last {queries.TREND_RUNS} runs)")
    def metric_trends(self, obj: Pipeline) -> SafeString:
        return mark_safe(charts.trends(queries.metric_trends(obj.name)))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RegisterPipelineForm(forms.ModelForm):
    """Registering from the admin: the compiled spec pasted in, checked as the API checks it."""

    spec_json = forms.CharField(
        label="spec",
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100}),
        help_text="The compiled spec: `rainbow compile FILE.py:FUNC`.",
    )

    class Meta:
        model = PipelineVersion
        fields = ("kind", "source_commit")

    def clean_spec_json(self) -> Any:
        # Whatever was pasted (JSON nested 100,000 deep, an escaped NUL, megabytes) ends here as
        # the form's errors, as `rainbow validate` would report it.
        data, problems = read_json(self.cleaned_data["spec_json"], file="spec")
        lines = [d.render() for d in problems]
        if not problems:
            try:
                check_spec(data, served_limits())
            except Refused as exc:
                lines = [d.render() for d in exc.diagnostics] or [exc.message]
        if lines:
            raise forms.ValidationError(lines)
        return data


@admin.register(PipelineVersion)
class PipelineVersionAdmin(ReadOnly):
    list_display = ("__str__", "kind", "status", "author", "approvals_count", "created_at")
    list_filter = ("status", "kind", "pipeline")
    list_select_related = ("pipeline", "author")
    readonly_fields = ("dag", "spec_file", "spec_hash", "kind", "status", "author", "source_commit")
    fields = readonly_fields
    actions = ("approve", "promote_to_staging", "promote_to_prod")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PipelineVersion]:
        # The approvals the gate counts, not every row: a demoted approver's no longer count.
        counted = Count("approvals", filter=release.counting("approvals__"))
        # A spec may be megabytes: read only where it is shown.
        rows = super().get_queryset(request).defer("spec")
        return rows.annotate(approval_count=counted)

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<path:object_id>/spec.json",
            self.admin_site.admin_view(self.download_spec),
            name="rainbow_pipelineversion_spec",
        )
        return [download, *super().get_urls()]

    def download_spec(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The version's spec as `rainbow compile` writes it, to save or to draw."""
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404(f"no pipeline version {object_id}")
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        response = HttpResponse(dumps_data(version.spec), content_type="application/json")
        filename = f"{version.pipeline.name}-{version.short_hash}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, RESEARCHER)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = RegisterPipelineForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("spec_json", "kind", "source_commit") if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: PipelineVersion, form: Any, change: bool
    ) -> None:
        done = register_pipeline_version(
            form.cleaned_data["spec_json"],
            limits=served_limits(),
            kind=form.cleaned_data["kind"],
            source_commit=form.cleaned_data["source_commit"],
            author=request.user,  # type: ignore[arg-type]
        )
        # The admin goes on with ``obj`` (its message, its redirect): it becomes the row.
        obj.__dict__.update({k: v for k, v in done.version.__dict__.items() if k != "_state"})
        obj._state.adding = False

    @admin.display(description="approvals", ordering="approval_count")
    def approvals_count(self, obj: PipelineVersion) -> int:
        return int(obj.approval_count)  # type: ignore[attr-defined]

    @admin.display(description="spec")
    def spec_file(self, obj: PipelineVersion) -> SafeString:
        url = reverse("admin:rainbow_pipelineversion_spec", args=[obj.pk])
        steps = len(obj.spec.get("steps", []))
        return format_html('<a href="{}" download>{}</a> ({} steps)', url, "spec.json", steps)

    @admin.display(description="DAG")
    def dag(self, obj: PipelineVersion) -> SafeString:
        from rainbow.dsl.graph import render
        from rainbow.spec.models import PipelineSpec

        steps = obj.spec.get("steps", [])
        edges = sum(len(step.get("inputs", {})) for step in steps)
        if len(steps) > DAG_MAX_STEPS or edges > DAG_MAX_EDGES:
            return format_html(
                "<em>{}</em>",
                f"{len(steps):,} steps and {edges:,} wired inputs are more than the admin draws "
                f"({DAG_MAX_STEPS} steps, {DAG_MAX_EDGES} inputs): download the spec and draw it "
                "with `rainbow graph SPEC.json -o dag.svg`",
            )
        try:
            svg = render(PipelineSpec.model_validate(obj.spec), "svg").decode()
        except Exception as exc:  # Graphviz missing: the page still shows the rest
            return format_html("<em>cannot draw the DAG: {}</em>", exc)
        start = svg.find("<svg")
        if start < 0:
            return format_html("<em>{}</em>", "Graphviz drew no SVG")
        return mark_safe(svg[start:])  # Graphviz's own SVG: it escapes the names dsl.graph gave

    @admin.action(description="Approve the selected versions")
    def approve(self, request: HttpRequest, queryset: QuerySet[PipelineVersion]) -> None:
        user = _person(request)
        self.act_on_each(request, queryset, lambda v: release.approve(v, user), "done")

    def _promote(self, request: HttpRequest, queryset: Any, environment: str) -> None:
        user, executor = _person(request), current_executor()
        self.act_on_each(
            request,
            queryset,
            lambda v: release.promote(v, environment, user, executor),
            "done",
        )

    @admin.action(description="Promote to default in staging (after smoke runs)")
    def promote_to_staging(self, request: HttpRequest, queryset: QuerySet[PipelineVersion]) -> None:
        self._promote(request, queryset, "staging")

    @admin.action(description="Promote to default in prod (after smoke runs)")
    def promote_to_prod(self, request: HttpRequest, queryset: QuerySet[PipelineVersion]) -> None:
        self._promote(request, queryset, "prod")


@admin.register(DefaultPointer)
class DefaultPointerAdmin(ReadOnly):
    list_display = ("pipeline", "environment", "version", "previous", "moved_at", "moved_by")
    list_select_related = ("pipeline", "version__pipeline", "previous__pipeline", "moved_by")
    actions = ("roll_back",)

    @admin.action(description="Roll back to the previous default")
    def roll_back(self, request: HttpRequest, queryset: QuerySet[DefaultPointer]) -> None:
        user = _person(request)
        self.act_on_each(
            request,
            queryset.select_related("pipeline", "version__pipeline"),
            lambda p: release.rollback(p.pipeline, p.environment, user),
            "rolled back",
        )


@admin.register(Promotion)
class PromotionAdmin(ReadOnly):
    list_display = ("version", "environment", "status", "requested_by", "created_at", "reason")
    list_filter = ("status", "environment")
    list_select_related = ("version__pipeline", "requested_by")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        release.settle_all()
        return super().changelist_view(request, extra_context)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly):
    list_display = ("at", "actor_name", "action", "target")
    list_filter = ("action",)
    search_fields = ("target", "actor_name")
    date_hierarchy = "at"


@admin.register(CorpusVersion)
class CorpusVersionAdmin(ReadOnly):
    list_display = (
        "__str__",
        "use",
        "licence",
        "unit_count",
        "short_hash",
        "registered_by_name",
        "registered_at",
    )
    list_filter = ("use", "name")
    search_fields = ("name", "content_hash")
    # Not the manifest: its units may be megabytes, and `rainbow corpus show` reads them.
    fields = (
        "name",
        "version",
        "content_hash",
        "licence",
        "use",
        "description",
        "provenance",
        "unit_count",
        "registered_by_name",
        "registered_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CorpusVersion]:
        return super().get_queryset(request).defer("manifest")


class CorpusFilter(admin.SimpleListFilter):
    """Baselines by the corpus they measured, named name@version, chosen by content hash."""

    title = "corpus"
    parameter_name = "corpus"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        corpora = (
            Baseline.objects.order_by("corpus_name", "corpus_version")
            .values_list("corpus_hash", "corpus_name", "corpus_version")
            .distinct()
        )
        return [(content, f"{name}@{version}") for content, name, version in corpora]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Baseline]) -> QuerySet[Baseline]:
        chosen = self.value()
        return queryset.filter(corpus_hash=chosen) if chosen else queryset


@admin.register(Baseline)
class BaselineAdmin(ReadOnly):
    """Append-only: only `rainbow evaluate --update-baseline` on main records one (audited), so
    nobody adds, changes or deletes one here; every role looks."""

    list_display = (
        "target",
        "corpus",
        "branch",
        "short_commit",
        "made_at",
        "recorded_by_name",
        "trend",
    )
    list_filter = ("target", CorpusFilter)
    search_fields = ("^commit",)
    date_hierarchy = "made_at"
    list_per_page = 50
    fields = (
        "target",
        "corpus",
        "corpus_hash",
        "branch",
        "commit",
        "spec_hash",
        "made_at",
        "recorded_at",
        "recorded_by_name",
        "trend",
        "metrics",
    )
    readonly_fields = fields
    SHOWN_METRICS = 50
    """Charts on the trend page (the metrics that moved first), rows on a baseline's page."""
    SHOWN_MOVES = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Baseline]:
        # Figures hold every sample of every metric: only a baseline's own page reads them.
        return super().get_queryset(request).defer("figures")

    def get_urls(self) -> list[URLPattern]:
        trend = path(
            "<path:object_id>/trend/",
            self.admin_site.admin_view(self.trend_view),
            name="rainbow_baseline_trend",
        )
        return [trend, *super().get_urls()]

    @admin.display(description="corpus", ordering="corpus_name")
    def corpus(self, obj: Baseline) -> str:
        return f"{obj.corpus_name}@{obj.corpus_version}"

    @admin.display(description="commit", ordering="commit")
    def short_commit(self, obj: Baseline) -> str:
        return short(obj.commit)

    @admin.display(description="recorded by", ordering="actor_name")
    def recorded_by_name(self, obj: Baseline) -> str:
        return obj.actor_name

    @admin.display(description="trend")
    def trend(self, obj: Baseline) -> SafeString:
        url = reverse("admin:rainbow_baseline_trend", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, "trend on main")

    @admin.display(description="metrics (mean, median for timings)")
    def metrics(self, obj: Baseline) -> SafeString:
        summaries = trends.summarise(obj.figures)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    clean(key),
                    summary.kind,
                    f"{summary.better} is better",
                    summary.count,
                    _value(summary.median if summary.kind == "timing" else summary.mean),
                )
                for key, summary in sorted(summaries.items())[: self.SHOWN_METRICS]
            ),
        )
        head = mark_safe(
            "<tr><th>metric</th><th>kind</th><th>better</th><th>samples</th><th>value</th></tr>"
        )
        more = len(summaries) - self.SHOWN_METRICS
        rest = format_html("<p>and {} more</p>", more) if more > 0 else ""
        return format_html('<table class="rainbow-metrics">{}{}</table>{}', head, rows, rest)

    def trend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The metrics of a baseline's target on its corpus over main's last baselines, each
        charted with its change points, and the moves listed newest first."""
        row = self.get_object(request, unquote(object_id))
        if row is None:
            raise Http404(f"no baseline {object_id}")
        if not self.has_view_permission(request, row):
            raise PermissionDenied
        found = trends.main_trend(
            row.target, row.corpus_hash, branch=row.branch, last=baselines.MAX_HISTORY
        )
        # The metrics that moved first, so the cut drops the ones that held their level.
        shown = sorted(found.metrics, key=lambda metric: (not metric.moves, metric.key))
        anchors = {m.key: f"metric-{n}" for n, m in enumerate(shown[: self.SHOWN_METRICS])}
        moves = found.moves
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{clean(row.target)} on {clean(self.corpus(row))}",
            "baseline": row,
            "baseline_name": clean(str(row)),
            "branch": clean(row.branch),
            "last": baselines.MAX_HISTORY,
            "builds": len(found.builds),
            "moves": [
                {
                    "text": move.sentence(),
                    "way": "better" if move.improved else "worse",
                    "anchor": anchors.get(move.key, ""),
                }
                for move in moves[: self.SHOWN_MOVES]
            ],
            "more_moves": max(len(moves) - self.SHOWN_MOVES, 0),
            "sections": [
                _trend_section(metric, found.builds, anchors[metric.key], row.pk)
                for metric in shown[: self.SHOWN_METRICS]
            ],
            "more_metrics": max(len(shown) - self.SHOWN_METRICS, 0),
        }
        page = get_template("rainbow/baseline_trend.html")
        return HttpResponse(page.render(context, request))


def _trend_section(
    metric: trends.MetricTrend, builds: Sequence[trends.Build], anchor: str, opened: int
) -> dict[str, Any]:
    """One metric on the trend page: its chart, and its value per build, newest first."""
    moved = {move.at: move.sentence() for move in metric.moves}
    newest = len(builds) - 1
    rows = [
        {
            "commit": clean(build.commit, 64) or "—",
            "day": f"{build.made_at:%Y-%m-%d %H:%M}",
            "value": _value(value),
            "by": clean(build.recorded_by),
            "notes": [
                note
                for note, holds in (
                    ("newest", at == newest),
                    ("this baseline", build.baseline_id == opened),
                    (moved.get(at, ""), at in moved),
                )
                if holds
            ],
        }
        for at, (build, value) in reversed(list(enumerate(zip(builds, metric.values, strict=True))))
    ]
    return {
        "anchor": anchor,
        "key": clean(metric.key),
        "judged": "median" if metric.kind == "timing" else "mean",
        "kind": metric.kind,
        "better": f"{metric.better} is better",
        "chart": mark_safe(charts.builds_trend(metric, builds)),  # its text escaped there
        "rows": rows,
    }


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnly):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    fields = list_display
    list_select_related = ("user",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        return tokens if has_role(request.user, ADMIN) else tokens.filter(user=request.user.pk)


admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Django's user admin, with every change of roles or admin rights in the audit log."""

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        stored = User.objects.filter(pk=obj.pk).first() if obj.pk else None
        # Kept on the request: one admin object serves every thread of the server.
        request.rights_before = _rights(stored) if stored is not None else (set(), False)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user, before = form.instance, request.rights_before  # type: ignore[attr-defined]
        after = _rights(user)
        if after != before:
            audit.record(
                request.user,  # type: ignore[arg-type]
                "user.role",
                user.username,
                groups=sorted(after[0]),
                superuser=after[1],
                was={"groups": sorted(before[0]), "superuser": before[1]},
            )


def _rights(user: User) -> tuple[set[str], bool]:
    return set(user.groups.values_list("name", flat=True)), user.is_superuser
