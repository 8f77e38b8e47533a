"""The control plane from the command line: serve it, manage users and tokens, register.

``rainbow module register`` and ``rainbow pipeline register`` talk to the REST API when
``RAINBOW_URL`` is set (with ``RAINBOW_TOKEN``), and to the database directly otherwise.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from rainbow import settings as rb_settings
from rainbow.cli import render
from rainbow.cli.app import ModulesOption, app, err, open_store, out, settings_of, user_errors
from rainbow.cli.run_commands import progress_of
from rainbow.engine.machine import FINISHED_RUN
from rainbow.errors import RainbowError, UserError

ROLE_NAMES = ("researcher", "approver", "admin")
"""As rainbow.control.services.roles.ROLES, which the CLI cannot import before Django is set up."""

token_app = typer.Typer(help="API tokens for the REST API and the CLI (RAINBOW_TOKEN).")
module_app = typer.Typer(help="Module versions in the registry.")
pipeline_app = typer.Typer(help="Pipeline versions in the registry.")
app.add_typer(token_app, name="token")
app.add_typer(module_app, name="module")
app.add_typer(pipeline_app, name="pipeline")


@app.command()
@user_errors
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Web server processes")] = 2,
) -> None:
    """Serve the control plane: admin at /admin/, REST API at /api/ (gunicorn)."""
    from rainbow.control.web.server import check_port, serve

    settings = settings_of(ctx)
    check_port(port)
    err.print(
        f"control plane on http://{host}:{port}/admin/ (API: /api/, schema: /api/openapi.json), "
        f"store {rb_settings.redact(settings.store.database_url)}, engine {settings.web.engine}"
    )
    serve(settings, host, port, workers)


@app.command()
@user_errors
def createuser(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="researcher, approver or admin")] = "researcher",
    email: Annotated[str, typer.Option(help="E-mail address")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user of the control plane in a role (or change an existing user's role)."""
    if role not in ROLE_NAMES:
        raise UserError(f"{role!r} is not a role", hint=f"use one of {', '.join(ROLE_NAMES)}")
    open_store(settings_of(ctx).store)
    from django.contrib.auth.models import Group, User
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from rainbow.control.persistence import audit
    from rainbow.control.services.roles import ensure_groups

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {username}: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ")
    user = User.objects.filter(username=username).first() or User(username=username)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise UserError(
            f"password refused: {' '.join(exc.messages)}", hint="choose a longer, rarer one"
        ) from None
    with transaction.atomic():
        user.email = email or user.email
        user.is_staff = True  # every role may log in to the admin; what it may do there varies
        user.set_password(password)
        user.save()
        if not Group.objects.filter(name=role).exists():
            ensure_groups()  # deleted by hand since the last migrate
        user.groups.set([Group.objects.get(name=role)])
        audit.record(None, "user.role", username, role=role)
    out.print(f"[green]ok[/green] {username} has the {role} role")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def manage(ctx: typer.Context) -> None:
    """Run one of Django's management commands on the control plane's database."""
    from django.core.management import execute_from_command_line

    from rainbow.control.django_setup import configure
    from rainbow.control.web.server import web_options

    settings = settings_of(ctx)
    configure(settings.store.database_url, web=web_options(settings))
    execute_from_command_line(["rainbow manage", *ctx.args])


@token_app.command("create")
@user_errors
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. ci")],
    user: Annotated[str, typer.Option(help="Whose token it is")] = "",
) -> None:
    """Issue an API token (printed once; only its digest is kept)."""
    holder = _local_user(settings_of(ctx).store, user)
    from rainbow.control.services import tokens

    row, token = tokens.issue(holder, name)
    err.print(f"token {row.prefix}… for {row.user.get_username()}; it is shown only now:")
    out.print(token, highlight=False)


@token_app.command("revoke")
@user_errors
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (rainbow token list)")],
    user: Annotated[str, typer.Option(help="Who revokes it")] = "",
) -> None:
    """Revoke an API token at once."""
    revoker = _local_user(settings_of(ctx).store, user)
    from rainbow.control.services import tokens

    row = tokens.revoke(token_id, revoker)
    out.print(f"[green]revoked[/green] {row.prefix}… ({row.name})")


@token_app.command("list")
@user_errors
def token_list(
    ctx: typer.Context, user: Annotated[str, typer.Option(help="Whose tokens")] = ""
) -> None:
    """List a user's API tokens (never the tokens themselves)."""
    holder = _local_user(settings_of(ctx).store, user)
    for row in holder.api_tokens.order_by("-created_at"):
        state = "revoked" if row.revoked_at else "active"
        out.print(f"{row.pk:>5}  {row.prefix}…  {row.name:20} {state}", highlight=False)


@module_app.command("register")
@user_errors
def module_register(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="IMPORT_OR_FILE[:MODULE]; without :MODULE, every module there")
    ],
    version: Annotated[str, typer.Option(help="latest, or X.Y for a release")],
    commit: Annotated[str, typer.Option(help="The code's commit")] = "",
    user: Annotated[str, typer.Option(help="Who registers it (direct database use)")] = "",
) -> None:
    """Record module versions and their interfaces in the registry."""
    from rainbow.cli.distributed import pick_module
    from rainbow.sdk.catalog import load_modules

    found = [pick_module(target)] if ":" in target else list(load_modules([target]).values())
    if not found:
        raise UserError(f"no Rainbow module in {target}")
    settings = settings_of(ctx)
    for module in found:
        interface = module.rainbow_interface.model_dump(mode="json")
        if settings.client.url:
            from rainbow.cli.remote import ControlPlane

            body = {"version": version, "commit": commit, "interface": interface}
            ControlPlane(settings.client).call("POST", f"/modules/{module.name}/versions", body)
        else:
            registrar = _local_user(settings.store, user)
            from rainbow.control.services.registry import register_module_version

            register_module_version(module.name, version, interface, commit=commit, by=registrar)
        out.print(f"[green]registered[/green] {module.name}@{version}")


@pipeline_app.command("register")
@user_errors
def pipeline_register(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] or SPEC.json")],
    kind: Annotated[str, typer.Option(help="system-default or one-off")] = "system-default",
    commit: Annotated[str, typer.Option(help="The pipeline file's commit")] = "",
    modules: ModulesOption = None,
    user: Annotated[str, typer.Option(help="Who registers it (direct database use)")] = "",
) -> None:
    """Register a pipeline version: its wiring is checked against the registered interfaces
    of the exact module versions it pins."""
    from rainbow.cli.targets import load, registry_lookup
    from rainbow.spec.canonical import spec_to_dict

    settings = settings_of(ctx)
    loaded = load(target, modules or [], limits=settings.spec, registered=registry_lookup(settings))
    spec = spec_to_dict(loaded.spec)
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        body = {"spec": spec, "kind": kind, "source_commit": commit}
        answer: dict[str, Any] = ControlPlane(settings.client).call("POST", "/pipelines", body)
        created, spec_hash = answer["created"], answer["version"]["spec_hash"]
    else:
        author = _local_user(settings.store, user)
        from rainbow.control.services.registry import register_pipeline_version
        from rainbow.spec.limits import SpecLimits

        done = register_pipeline_version(
            spec,
            limits=SpecLimits.of(settings.spec),
            kind=kind,
            source_commit=commit,
            author=author,
        )
        render.diagnostics(err, done.warnings)
        created, spec_hash = done.created, done.version.spec_hash
    verb = "registered" if created else "already registered"
    out.print(f"[green]{verb}[/green] {loaded.spec.name} {spec_hash}", soft_wrap=True)


def _local_user(store: rb_settings.StoreSettings, username: str) -> Any:
    """The user a direct-database command acts as: --user, or the login name."""
    open_store(store)
    from django.contrib.auth.models import User

    name = username or os.environ.get("USER") or getpass.getuser()
    user = User.objects.filter(username=name, is_active=True).first()
    if user is None:
        raise UserError(
            f"no control plane user {name!r}",
            hint=f"create one: rainbow createuser {name} --role researcher (or pass --user)",
        )
    return user


def _plane(ctx: typer.Context) -> Any:
    from rainbow.cli.remote import ControlPlane

    client = settings_of(ctx).client
    if not client.url:
        raise UserError(
            "release gates are the control plane's: this command needs RAINBOW_URL",
            hint="start one with `rainbow web`, then export RAINBOW_URL and RAINBOW_TOKEN",
        )
    return ControlPlane(client)


Environment = Annotated[str, typer.Option("--env", help="staging or prod")]


@pipeline_app.command("approve")
@user_errors
def pipeline_approve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name")],
    version: Annotated[str, typer.Argument(help="Its spec hash (at least 6 hex digits)")],
    comment: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Approve a pipeline version (approvers; never one's own)."""
    answer = _plane(ctx).call(
        "POST", f"/pipelines/{name}/versions/{version}/approve", {"comment": comment}
    )
    out.print(f"[green]approved[/green] by {', '.join(answer['approvals'])}")


@pipeline_app.command("promote")
@user_errors
def pipeline_promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name")],
    version: Annotated[str, typer.Argument(help="Its spec hash (at least 6 hex digits)")],
    env: Environment,
    wait: Annotated[bool, typer.Option(help="Follow the smoke runs to the end")] = True,
) -> None:
    """Make a version the default in an environment once its smoke runs succeed."""
    plane = _plane(ctx)
    path = f"/pipelines/{name}/versions/{version}/promote"
    promotion = plane.call("POST", path, {"environment": env})
    err.print(f"smoke testing with {len(promotion['run_ids'])} run(s) in {env}")
    while wait and promotion["status"] == "smoke-testing":
        time.sleep(1)
        promotion = plane.call("GET", f"/promotions/{promotion['id']}")
    if promotion["status"] == "failed":
        raise UserError(f"not promoted: {promotion['reason']}", hint="the old default stays")
    verb = "promoted" if promotion["status"] == "succeeded" else "smoke testing"
    out.print(f"[green]{verb}[/green] {name} {promotion['spec_hash']} in {env}", soft_wrap=True)


@pipeline_app.command("rollback")
@user_errors
def pipeline_rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name")],
    env: Environment,
) -> None:
    """Point the default back at the version before the last move."""
    answer = _plane(ctx).call("POST", f"/pipelines/{name}/rollback", {"environment": env})
    out.print(
        f"[green]rolled back[/green] {name} in {env} to {answer['spec_hash']}", soft_wrap=True
    )


InputsOption = Annotated[
    list[Path] | None,
    typer.Option("--input", "-i", help="A work unit: UNIT.json (repeatable)"),
]
CorpusOption = Annotated[Path | None, typer.Option("--corpus", help="A folder of work units")]


def spec_of(plane: Any, name: str, version: str | None, env: str | None) -> Any:
    """The spec units are checked against: an exact version, the default in ``env``, or the
    newest version."""
    from rainbow.spec.models import PipelineSpec

    if version:
        return PipelineSpec.model_validate(
            plane.call("GET", f"/pipelines/{name}/versions/{version}")["spec"]
        )
    # The pipeline lists its versions without their specs: the chosen one's is fetched alone.
    pipeline = plane.call("GET", f"/pipelines/{name}")
    wanted = pipeline["defaults"].get(env) if env else None
    if env and wanted is None:
        raise UserError(
            f"pipeline {name!r} has no default in {env}",
            hint="give --version, or promote one (rainbow pipeline promote)",
        )
    for row in pipeline["versions"]:
        if wanted is None or row["spec_hash"] == wanted:
            return spec_of(plane, name, row["spec_hash"], None)
    raise UserError(f"pipeline {name!r} has no versions", hint="rainbow pipeline register FILE.py")


def _units(
    spec: Any, inputs: list[Path] | None, corpus: Path | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Work unit files checked here, asset paths made absolute (the server cannot see relative
    ones), in the form the API takes: their names and their inputs."""
    from rainbow.engine.workunits import load_corpus, load_unit

    if not inputs and corpus is None:
        raise UserError("no work units", hint="give --input UNIT.json or --corpus DIR")
    units = [load_unit(path, spec) for path in inputs or []]
    units += load_corpus(corpus, spec) if corpus is not None else []
    return [unit.name for unit in units], [
        {key: _unbound(value) for key, value in unit.inputs.items()} for unit in units
    ]


def _unbound(value: Any) -> Any:
    """An asset reference back to the path or URL it stands for."""
    if isinstance(value, dict) and value.keys() == {"$asset"}:
        return value["$asset"]
    return value


SkipOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="Leave out the first N units: after a submission stopped partway, the ones it "
        "submitted",
    ),
]


@app.command()
@user_errors
def submit(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="A registered pipeline's name")],
    env: Environment,
    version: Annotated[
        str | None, typer.Option(help="An exact version (spec hash); default: the env's default")
    ] = None,
    input_files: InputsOption = None,
    corpus: CorpusOption = None,
    skip: SkipOption = 0,
    wait: Annotated[bool, typer.Option(help="Follow the runs to the end")] = False,
) -> None:
    """Submit work units to the control plane (RAINBOW_URL), in pages of at most 500; exit 0
    only if, with --wait, every run succeeded."""
    plane = _plane(ctx)
    spec = spec_of(plane, pipeline, version, env)
    names, units = _units(spec, input_files, corpus)
    if skip >= len(units):
        raise UserError(
            f"--skip {skip} leaves none of the {len(units):,} work units to submit",
            hint="--skip is how many units a stopped submission did submit (its message says)",
        )
    # Every page runs the version the units were checked against, even if the default in the
    # environment moves while the pages go out.
    body = {"pipeline": pipeline, "environment": env, "version": spec.spec_hash}
    batch = Batch(names, units, skip)
    pages = batch.pages(body, settings_of(ctx).web.max_request_bytes)
    run_ids = batch.submit(plane, body, pages)
    err.print(f"{len(run_ids)} run(s) of {pipeline} {spec.spec_hash} in {env}", soft_wrap=True)
    if not wait:
        return
    ended = follow(plane, pipeline, run_ids)
    unsuccessful = [run_id for run_id in run_ids if ended[run_id]["status"] != "succeeded"]
    err.print(
        f"{len(run_ids)} run(s): {len(run_ids) - len(unsuccessful)} succeeded, "
        f"{len(unsuccessful)} did not"
    )
    for run_id in unsuccessful[:SHOWN_FAILURES]:
        run = ended[run_id]
        err.print(
            Text.assemble(
                f"{run_id} {batch.name_of(run_id)} ",
                render.status(run["status"]),
                # The control plane sends the start of a reason only (as `rainbow show` prints).
                f" {run['reason'] or ''}",
            ),
            highlight=False,
        )
    if len(unsuccessful) > SHOWN_FAILURES:
        err.print(
            f"… and {len(unsuccessful) - SHOWN_FAILURES} more: rainbow runs --status failed "
            "(or timed_out, cancelled) lists them"
        )
    if unsuccessful:
        raise typer.Exit(1)


PAGE_UNITS = 500
"""Work units per submission request: half of what the control plane takes in one (1,000,
``run_service.MAX_UNITS``), so that each request is short and a refused page holds back few."""
STATUS_PAGE = 5000
"""Run ids per status request: ``run_service.MAX_STATUS_IDS``, which the CLI cannot import
before Django is set up."""
POLL_S = 1.0
SHOWN_FAILURES = 20


class Batch:
    """The units of one submission, sent in pages in their order (a page: a range of them)."""

    def __init__(self, names: list[str], units: list[dict[str, Any]], skip: int) -> None:
        self.names, self.units, self.skip = names, units, skip
        self.run_names: dict[str, str] = {}

    def pages(self, body: dict[str, Any], max_bytes: int) -> list[range]:
        """Ranges of at most ``PAGE_UNITS`` units whose request body, as ``ControlPlane.call``
        encodes it, stays within ``max_bytes`` (RAINBOW_MAX_REQUEST_BYTES, read here as the
        server reads it). Every unit is measured before any is sent: one too big for a request
        of its own stops the submission before it starts."""
        envelope = len(json.dumps({**body, "units": [], "names": []}))
        pages: list[range] = []
        first, size = self.skip, envelope
        for index in range(self.skip, len(self.units)):
            # Each unit and its name, with the ", " that separates them from the one before.
            cost = len(json.dumps(self.units[index])) + len(json.dumps(self.names[index])) + 4
            if envelope + cost > max_bytes:
                raise UserError(
                    f"work unit {self.names[index]!r} is {cost:,} bytes of JSON: more than one "
                    f"request to the control plane holds ({max_bytes:,} bytes, "
                    "RAINBOW_MAX_REQUEST_BYTES); nothing was submitted",
                    hint="pass big values as asset files (a path or URL in the unit), or raise "
                    "RAINBOW_MAX_REQUEST_BYTES on the control plane and here",
                    code="RB-E112",
                )
            if index - first == PAGE_UNITS or size + cost > max_bytes:
                pages.append(range(first, index))
                first, size = index, envelope
            size += cost
        return [*pages, range(first, len(self.units))]

    def submit(self, plane: Any, body: dict[str, Any], pages: list[range]) -> list[str]:
        """Post the pages in order; the run ids, printed on stdout once the pages are in (or
        as far as they went: a page that fails stops the submission, saying what was
        submitted)."""
        run_ids: list[str] = []
        progress = Progress(
            TextColumn(f"[bold]{body['pipeline']}[/bold] submitting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        try:
            with progress:
                bar = progress.add_task("units", total=len(self.units) - self.skip)
                for number, page in enumerate(pages, 1):
                    try:
                        answer = plane.call("POST", "/runs", self._request(body, page))
                    except (RainbowError, KeyboardInterrupt) as exc:
                        self._stopped(exc, pages, number, len(run_ids))
                    run_ids += answer["run_ids"]
                    self.run_names.update(
                        zip(answer["run_ids"], self.names[page.start : page.stop], strict=True)
                    )
                    progress.advance(bar, len(page))
        finally:
            # After the bar: a live bar on a terminal would take over what goes to stdout.
            for run_id in run_ids:
                out.print(run_id, highlight=False)
        return run_ids

    def name_of(self, run_id: str) -> str:
        return self.run_names.get(run_id, "")

    def _request(self, body: dict[str, Any], page: range) -> dict[str, Any]:
        return {
            **body,
            "units": self.units[page.start : page.stop],
            "names": self.names[page.start : page.stop],
        }

    def _stopped(
        self, exc: BaseException, pages: list[range], number: int, submitted: int
    ) -> NoReturn:
        """Say exactly what a submission that stopped at page ``number`` did submit, and how to
        submit the rest without submitting anything twice."""
        page, total = pages[number - 1], len(self.units)
        refused = isinstance(exc, UserError)
        if refused and number == 1 and not self.skip:
            raise exc  # nothing was submitted: the refusal says all there is to say
        done = self.skip + submitted
        span = f"units {page.start + 1:,}–{page.stop:,}"
        if submitted:
            what = (
                f"units {self.skip + 1:,}–{done:,} of {total:,} were submitted (their run ids "
                "are on stdout)"
            )
        else:
            what = "none of this command's units were submitted"
        if refused:
            fate, hint = (
                "nothing of it was recorded",
                f"fix what it was refused for, then submit the rest: the same command with "
                f"--skip {done}",
            )
        else:
            fate, hint = (
                f"it got no answer, so its {len(page)} run(s) may or may not exist",
                f"look for them (rainbow runs) before submitting the rest: the same command "
                f"with --skip {page.stop} if they are there, --skip {done} if not",
            )
        cause = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        raise UserError(
            f"the submission stopped at page {number} of {len(pages)} ({span}): {what}; "
            f"{fate}: {cause}",
            hint=hint,
            code="RB-E111",
        ) from None


def follow(plane: Any, pipeline: str, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll the runs until every one has ended, with a bar of how many did (and failed); each
    run's status and reason. A poll asks only about the runs still going, in one request per
    ``STATUS_PAGE`` of them: one request while at most 5,000 are."""
    ended: dict[str, dict[str, Any]] = {}
    going = list(run_ids)
    gone = {"status": "missing", "reason": "the control plane has no such run now"}
    with progress_of(pipeline, quiet=False) as progress:
        bar = progress.add_task("runs", total=len(run_ids), failed=0)
        while going:
            for start in range(0, len(going), STATUS_PAGE):
                chunk = going[start : start + STATUS_PAGE]
                answer = plane.call("POST", "/runs/statuses", {"run_ids": chunk})
                ended |= {
                    r: run for r, run in answer["runs"].items() if run["status"] in FINISHED_RUN
                }
                ended |= dict.fromkeys(answer["unknown"], gone)
            going = [run_id for run_id in going if run_id not in ended]
            failed = sum(run["status"] != "succeeded" for run in ended.values())
            progress.update(bar, completed=len(ended), failed=failed)
            if going:
                time.sleep(POLL_S)
    return ended


@pipeline_app.command("smoke-units")
@user_errors
def pipeline_smoke_units(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name")],
    input_files: InputsOption = None,
    corpus: CorpusOption = None,
) -> None:
    """Set the work units a promotion of this pipeline must run successfully (approvers)."""
    plane = _plane(ctx)
    _, units = _units(spec_of(plane, name, None, None), input_files, corpus)
    plane.call("PUT", f"/pipelines/{name}/smoke-units", {"units": units})
    out.print(f"[green]ok[/green] {len(units)} smoke unit(s) for {name}")
