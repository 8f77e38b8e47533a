"""Corpora of thousands of units through the control plane: submissions in pages, statuses of a
whole batch in one request, and what a submission that stops partway says."""

from __future__ import annotations

import io
import itertools
import json
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rainbow.cli import control_commands
from rainbow.cli.control_commands import Batch, follow
from rainbow.cli.remote import ControlPlane, RemoteError, _refusal
from rainbow.errors import PlatformError, UserError
from tests.control.conftest import Api, RecordingExecutor, register

Before = Callable[[str, str, Any], None]


class Through(ControlPlane):
    """The CLI's client answered by the control plane of this process (Django's test client),
    counting every request; ``before`` acts ahead of each (ends runs, fails a request)."""

    def __init__(self, api: Api, before: Before | None = None) -> None:  # no URL or token
        self.api, self.before = api, before
        self.requests: list[tuple[str, str, Any]] = []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        if self.before is not None:
            self.before(method, path, body)
        response = self.api.call(method, path, body)
        if response.status_code >= 400:
            raw = io.BytesIO(response.content)
            raise _refusal(urllib.error.HTTPError(path, response.status_code, "no", {}, raw))  # type: ignore[arg-type]
        return response.json()

    def sent(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]


def _submission(registered: dict[str, Any], alice: Api) -> dict[str, Any]:
    version = register(alice, registered["spec"])
    return {"pipeline": "pair-v11", "environment": "staging", "version": version}


def _units(count: int) -> tuple[list[str], list[dict[str, Any]]]:
    return [f"unit-{i:04d}" for i in range(count)], [{"x": i} for i in range(count)]


def _stored_units() -> list[str]:
    from rainbow.control.models import Run

    return list(Run.objects.order_by("created_at").values_list("unit", flat=True))


def test_a_request_over_the_per_request_bound_is_refused_with_a_hint_to_page(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """1,000 units go in one request, 1,001 do not; 5,000 run ids in a status read, 5,001 not:
    each refusal says the bound and to send pages (RB-E110)."""
    alice = people["alice"]
    body = _submission(registered, alice)
    _, units = _units(1001)

    refused = alice.post("/runs", {**body, "units": units})
    accepted = alice.post("/runs", {**body, "units": units[:1000]})
    too_many_ids = alice.post("/runs/statuses", {"run_ids": [f"r{i}" for i in range(5001)]})

    assert refused.status_code == 422
    assert refused.json()["code"] == "RB-E110"
    assert "1,001 work units in one request; at most 1,000" in refused.json()["detail"]
    assert "pages of at most 1,000 units" in refused.json()["hint"]
    assert accepted.status_code == 201 and len(set(accepted.json()["run_ids"])) == 1000
    assert too_many_ids.status_code == 422 and too_many_ids.json()["code"] == "RB-E110"
    assert "pages of at most 5,000 run ids" in too_many_ids.json()["hint"]
    most = alice.post("/runs/statuses", {"run_ids": [f"r{i}" for i in range(5000)]})
    assert most.status_code == 200 and len(most.json()["unknown"]) == 5000


@pytest.mark.parametrize(
    "run_ids",
    [[], ["a b"], ["x" * 65], "r1", [5], None],
)
def test_a_status_read_refuses_malformed_run_ids(people: dict[str, Api], run_ids: Any) -> None:
    """Ids follow the run id grammar (as in /runs/{id}); at least one is asked for."""
    response = people["alice"].post("/runs/statuses", {"run_ids": run_ids})

    assert response.status_code == 422, response.content
    assert response.json()["detail"]


@pytest.mark.parametrize("count", [3, 600])
def test_the_statuses_of_a_batch_come_from_one_query_whatever_its_size(
    registered: dict[str, Any],
    people: dict[str, Api],
    executor: RecordingExecutor,
    count: int,
    django_assert_max_num_queries: Any,
) -> None:
    """Each run's status and reason, and the ids the control plane has no run of, in one
    query after authentication's three."""
    alice = people["alice"]
    _, units = _units(count)
    run_ids = alice.post("/runs", {**_submission(registered, alice), "units": units}).json()[
        "run_ids"
    ]
    executor.finish(run_ids[:1])
    executor.finish(run_ids[1:2], status="failed")

    with django_assert_max_num_queries(4):
        answer = alice.post("/runs/statuses", {"run_ids": [*run_ids, "gone-1", run_ids[0]]})

    assert answer.status_code == 200, answer.content
    runs = answer.json()["runs"]
    assert runs[run_ids[0]] == {"status": "succeeded", "reason": None}
    assert runs[run_ids[1]] == {"status": "failed", "reason": "smoke"}
    assert {runs[run_id]["status"] for run_id in run_ids[2:]} == {"pending"}
    assert len(runs) == count and answer.json()["unknown"] == ["gone-1"]


def test_a_status_answer_carries_the_start_of_a_long_reason(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """A reason of megabytes would make every poll that big: the answer has its first 1,000
    characters (GET /api/runs/{id} has it whole)."""
    from datetime import UTC, datetime

    from rainbow.control.persistence.store import DjangoStore
    from rainbow.engine.records import RunChanged

    alice = people["alice"]
    (run_id,) = alice.post("/runs", {**_submission(registered, alice), "units": [{"x": 1}]}).json()[
        "run_ids"
    ]
    DjangoStore().write([RunChanged(run_id, "failed", datetime.now(UTC), "why " * 100_000)])

    answer = alice.post("/runs/statuses", {"run_ids": [run_id]}).json()

    assert answer["runs"][run_id]["reason"] == ("why " * 250)


def test_a_corpus_goes_out_in_pages_and_each_poll_is_one_request(
    registered: dict[str, Any],
    people: dict[str, Api],
    executor: RecordingExecutor,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,200 units: three pages of at most 500, in order, their run ids printed; then each poll
    asks about the runs still going, all of them in one request."""
    monkeypatch.setattr(control_commands, "POLL_S", 0)
    alice = people["alice"]
    body = _submission(registered, alice)
    names, units = _units(1200)
    going: list[str] = []

    def end_400(method: str, path: str, sent: Any) -> None:
        if path == "/runs/statuses":
            executor.finish(going[:399])
            executor.finish(going[399:400], status="failed")
            del going[:400]

    plane = Through(alice, end_400)
    batch = Batch(names, units, skip=0)
    run_ids = batch.submit(plane, body, batch.pages(body, 10 * 1024 * 1024))
    going += run_ids
    ended = follow(plane, "pair-v11", run_ids)

    assert [len(page["units"]) for page in plane.sent("POST", "/runs")] == [500, 500, 200]
    assert _stored_units() == names
    assert capsys.readouterr().out.split() == run_ids and len(set(run_ids)) == 1200
    polls = plane.sent("POST", "/runs/statuses")
    assert [len(poll["run_ids"]) for poll in polls] == [1200, 800, 400]
    assert [method for method, *_ in plane.requests].count("GET") == 0
    assert sum(run["status"] == "failed" for run in ended.values()) == 3
    assert batch.name_of(run_ids[399]) == "unit-0399"


def test_the_status_read_pages_when_more_runs_are_going_than_a_request_takes(
    registered: dict[str, Any],
    people: dict[str, Api],
    executor: RecordingExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 500 ids a request, 1,200 runs still going cost three requests in a poll, and
    500 one."""
    monkeypatch.setattr(control_commands, "POLL_S", 0)
    monkeypatch.setattr(control_commands, "STATUS_PAGE", 500)
    alice = people["alice"]
    body = _submission(registered, alice)
    _, units = _units(1000)
    run_ids = alice.post("/runs", {**body, "units": units}).json()["run_ids"]
    run_ids += alice.post("/runs", {**body, "units": units[:200]}).json()["run_ids"]
    requests = 0

    def end_runs(method: str, path: str, sent: Any) -> None:
        nonlocal requests
        requests += 1
        if requests in (1, 4):  # the first request of each poll
            executor.finish(run_ids[:700] if requests == 1 else run_ids[700:])

    plane = Through(alice, end_runs)
    follow(plane, "pair-v11", run_ids)

    assert [len(sent["run_ids"]) for sent in plane.sent("POST", "/runs/statuses")] == [
        500,
        500,
        200,
        500,
    ]


def test_pages_stay_within_the_request_bytes_and_a_unit_too_big_for_one_is_refused_first() -> None:
    """Pages are cut by bytes as well as by count, each body within RAINBOW_MAX_REQUEST_BYTES
    as it is sent; a unit bigger than a request stops the submission before any is sent."""
    body = {"pipeline": "p", "environment": "staging", "version": "sha256:" + "0" * 64}
    names = [f"u{i}" for i in range(40)]
    units = [{"x": i, "text": "é" * (i * 20)} for i in range(40)]  # é is 6 bytes as JSON

    pages = Batch(names, units, skip=3).pages(body, 8_000)
    with pytest.raises(UserError) as too_big:
        Batch(names, [*units[:7], {"x": 7, "text": "x" * 8_000}, *units[8:]], 0).pages(body, 8_000)

    assert len(pages) > 5 and pages[0].start == 3 and pages[-1].stop == 40
    assert all(a.stop == b.start for a, b in itertools.pairwise(pages))
    for page in pages:
        units_sent, names_sent = units[page.start : page.stop], names[page.start : page.stop]
        assert len(json.dumps({**body, "units": units_sent, "names": names_sent})) <= 8_000
    assert too_big.value.code == "RB-E112" and "'u7'" in too_big.value.message
    assert "nothing was submitted" in too_big.value.message


def test_a_page_refused_midway_stops_the_submission_saying_which_were_submitted(
    registered: dict[str, Any], people: dict[str, Api], capsys: pytest.CaptureFixture[str]
) -> None:
    """Page 3 of 3 refused: the 1,000 runs of pages 1-2 exist, their ids are printed, and the
    hint gives the --skip that submits the rest without submitting any twice."""
    alice = people["alice"]
    body = _submission(registered, alice)
    names, units = _units(1200)
    bad = [*names[:1100], "n" * 201, *names[1101:]]  # a name longer than the API takes
    batch = Batch(bad, units, skip=0)

    with pytest.raises(UserError) as stopped:
        batch.submit(Through(alice), body, batch.pages(body, 10 * 1024 * 1024))
    printed = capsys.readouterr().out.split()
    again = Batch(names, units, skip=1000)
    more = again.submit(Through(alice), body, again.pages(body, 10 * 1024 * 1024))

    assert stopped.value.code == "RB-E111"
    message = stopped.value.message
    assert "page 3 of 3 (units 1,001–1,200)" in message
    assert "units 1–1,000 of 1,200 were submitted" in message
    assert "nothing of it was recorded" in message and "at most 200 characters" in message
    assert stopped.value.hint is not None and "--skip 1000" in stopped.value.hint
    assert len(printed) == 1000 and len(more) == 200
    assert _stored_units() == names


def test_a_page_without_an_answer_says_its_runs_may_exist(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """A page the control plane did not answer may have been recorded: the message says so,
    and the hint gives the --skip for either case."""
    alice = people["alice"]
    body = _submission(registered, alice)
    names, units = _units(1200)

    def lost_second_page(method: str, path: str, sent: Any) -> None:
        if path == "/runs" and sent["names"][0] == "unit-0500":
            raise PlatformError("cannot reach the control plane at http://cp (RAINBOW_URL): reset")

    batch = Batch(names, units, skip=0)
    with pytest.raises(UserError) as stopped:
        batch.submit(Through(alice, lost_second_page), body, batch.pages(body, 10**7))

    assert stopped.value.code == "RB-E111"
    assert "units 1–500 of 1,200 were submitted" in stopped.value.message
    assert "its 500 run(s) may or may not exist: cannot reach" in stopped.value.message
    assert stopped.value.hint is not None
    assert "--skip 1000 if they are there, --skip 500 if not" in stopped.value.hint


def test_a_first_page_refused_is_the_refusal_itself(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """Nothing was submitted, so the control plane's refusal is all there is to say."""
    alice = people["alice"]
    body = _submission(registered, alice)
    names, units = _units(3)
    batch = Batch(["n" * 201, *names[1:]], units, skip=0)

    with pytest.raises(RemoteError) as refused:
        batch.submit(Through(alice), body, batch.pages(body, 10**7))

    assert refused.value.status == 422 and _stored_units() == []


def test_submit_wait_follows_a_corpus_and_lists_the_runs_that_did_not_succeed(
    registered: dict[str, Any],
    people: dict[str, Api],
    executor: RecordingExecutor,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`rainbow submit --corpus --wait`: the run ids on stdout, the outcome counted on stderr,
    the unsuccessful runs named with their units and reasons, exit 1."""
    from rainbow.cli.main import app

    alice = people["alice"]
    version = register(alice, registered["spec"])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"kitchen-{i:02d}.json").write_text(json.dumps({"x": i}))
    polls: list[int] = []

    def end_runs(method: str, path: str, sent: Any) -> None:
        if path == "/runs/statuses":
            polls.append(len(sent["run_ids"]))
            executor.finish(sent["run_ids"][:2], status="failed")
            executor.finish(sent["run_ids"][2:15])

    plane = Through(alice, end_runs)
    monkeypatch.setattr(control_commands, "POLL_S", 0)
    monkeypatch.setattr(control_commands, "_plane", lambda ctx: plane)

    done = CliRunner().invoke(
        app,
        [
            "submit",
            "pair-v11",
            "--env",
            "staging",
            "--version",
            version,
            "--corpus",
            str(corpus),
            "--wait",
        ],
    )

    assert done.exit_code == 1, done.output
    assert len(done.stdout.split()) == 30
    assert "30 run(s): 26 succeeded, 4 did not" in done.stderr
    assert "kitchen-00 failed smoke" in done.stderr and "kitchen-15 failed smoke" in done.stderr
    assert polls == [30, 15]
    assert len(plane.sent("POST", "/runs")) == 1
