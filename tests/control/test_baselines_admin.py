"""Main's baselines in the admin: a read-only list, each target's trend over main's builds with
its change points, on SQLite and PostgreSQL; and the change-point method itself, on synthetic
series, without Django."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rainbow.control.services.trends import (
    Build,
    Summary,
    shifts,
    summarise,
    trend_of,
    welch_p,
)
from rainbow.evaluate.figures import Better, CorpusRef, Figures, Kind, MetricFigures
from tests.webserver import PASSWORD

ROOMS = CorpusRef(name="room-scan", version="1", content_hash="sha256:" + "a" * 64)
OTHER = CorpusRef(name="room-scan", version="2", content_hash="sha256:" + "c" * 64)
FIRST_DAY = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


# The change points, on synthetic series -------------------------------------------------------


def noisy(level: float, sd: float, count: int, rng: random.Random) -> list[float]:
    return [level + rng.gauss(0, sd) for _ in range(count)]


def test_a_step_up_of_a_deterministic_metric_is_one_change_point() -> None:
    """Six builds at 0.80 then six at 0.91: one change point, at the first build of the new
    level, certain (p 0: both levels are constant) and 13.75 % up."""
    (found,) = shifts([0.80] * 6 + [0.91] * 6)
    assert found.index == 6
    assert (found.before, found.after, found.p_value) == (0.80, 0.91, 0.0)
    assert found.relative == pytest.approx(0.1375)


def test_a_step_down_in_noise_is_found_where_it_happened() -> None:
    """A 20 % fall of a metric with 3 % noise is found at the build it happened, or one off."""
    for seed in range(20):
        rng = random.Random(seed)
        (found,) = shifts(noisy(1.0, 0.03, 30, rng) + noisy(0.8, 0.03, 30, rng))
        assert abs(found.index - 30) <= 1, seed
        assert found.relative == pytest.approx(-0.2, abs=0.03)
        assert found.p_value < 1e-10


@pytest.mark.parametrize("sd", [0.01, 0.05, 0.3])
def test_noise_without_a_step_finds_nothing(sd: float) -> None:
    """A hundred builds of noise around one level (1 %, 5 %, even 30 % of it) keep no change
    point, for each of 50 seeds: the noise cannot pass both p < 0.001 and a 5 % move."""
    for seed in range(50):
        assert shifts(noisy(1.0, sd, 100, random.Random(seed))) == [], seed


def test_two_steps_are_two_change_points() -> None:
    """Up, then down again: both moves are found, each against its neighbouring level."""
    rng = random.Random(7)
    series = noisy(1.0, 0.02, 20, rng) + noisy(1.3, 0.02, 20, rng) + noisy(1.0, 0.02, 20, rng)
    first, second = shifts(series)
    assert (first.index, second.index) == (20, 40)
    assert first.relative > 0.25 and second.relative < -0.2


def test_a_level_that_moved_and_came_back_is_two_change_points() -> None:
    """Three builds at 0.8 among two hundred at 0.9 (a regression, fixed three builds later):
    the cut is found by its gain over the noise, which a t-test within the whole series would
    miss (the three builds barely move its mean)."""
    down, up = shifts([0.9] * 100 + [0.8] * 3 + [0.9] * 97)
    assert (down.index, down.before, down.after) == (100, 0.9, 0.8)
    assert (up.index, up.before, up.after) == (103, 0.8, 0.9)


def test_a_move_under_five_percent_is_not_a_change_point() -> None:
    """A deterministic move of 3 % is certain, and still too small to name; a 3 % step before
    a 12 % fall leaves only the fall, measured from the merged level before it."""
    assert shifts([1.0] * 10 + [1.03] * 10) == []
    (fall,) = shifts([0.9] * 5 + [0.905] * 5 + [0.8] * 5)
    assert fall.index == 10 and fall.before == pytest.approx(0.9025)


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([], []),
        ([1.0], []),
        ([1.0, 2.0, 2.0], []),
        ([1.0, 1.0, 2.0, 2.0], [2]),
        ([0.9, 0.9, 0.9, 0.8], []),  # a single build off the line: the next one tells
        ([0.9, 0.9, 0.9, 0.8, 0.8], [3]),  # two builds are a level
    ],
)
def test_short_series(series: list[float], expected: list[int]) -> None:
    """Fewer than four builds have no change point; a level is at least two builds."""
    assert [found.index for found in shifts(series)] == expected


def test_a_move_from_zero_and_the_largest_floats() -> None:
    """A level of 0 moving is an infinite relative move; the largest finite floats neither
    overflow nor make an infinite coordinate; a series that is not finite is refused."""
    (from_zero,) = shifts([0.0, 0.0, 0.0, 2.0, 2.0, 2.0])
    assert from_zero.relative == math.inf
    (huge,) = shifts([1e308, 1e308, -1e308, -1e308])
    assert (huge.before, huge.after) == (1e308, -1e308)
    with pytest.raises(ValueError, match="finite"):
        shifts([1.0, float("nan"), 1.0, 1.0])


def test_welch_p_matches_scipy() -> None:
    """Welch's two-sided p-value agrees with scipy's to 1e-9 relatively, from sides of two
    values to sixty and from p near 1 to p near 1e-100."""
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(11)
    for _ in range(500):
        left = noisy(0, rng.choice([0.1, 1, 10]), rng.randint(2, 60), rng)
        right = noisy(
            rng.choice([0, 0.5, 3, 20]), rng.choice([0.1, 1, 10]), rng.randint(2, 60), rng
        )
        expected = stats.ttest_ind(left, right, equal_var=False).pvalue
        assert welch_p(left, right) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_welch_p_of_constant_sides() -> None:
    """Constant sides are certainly apart when they differ and certainly alike when not; one
    constant side leaves the other's spread to judge by, as scipy's does."""
    stats = pytest.importorskip("scipy.stats")
    assert welch_p([0.9, 0.9], [0.8, 0.8, 0.8]) == 0.0
    assert welch_p([0.9, 0.9], [0.9, 0.9]) == 1.0
    left, right = [1.0, 1.0, 1.0], [1.1, 1.3, 1.2, 1.25]
    # From the summaries: scipy warns of cancellation on a constant sample.
    spread = statistics.stdev(right)
    expected = stats.ttest_ind_from_stats(1.0, 0.0, 3, 1.2125, spread, 4, equal_var=False).pvalue
    assert welch_p(left, right) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="two values"):
        welch_p([1.0], [1.0, 2.0])


def test_welch_p_does_not_depend_on_the_scale() -> None:
    """Samples of 1e-200 or near the largest float give the p-value of the same samples near 1:
    their variances neither underflow nor overflow."""
    left, right = [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]
    expected = welch_p(left, right)
    for scale in (1e-200, 3e307):
        scaled = welch_p([v * scale for v in left], [v * scale for v in right])
        assert scaled == pytest.approx(expected, rel=1e-6), scale


def build(at: int, commit: str = "", by: str = "ada") -> Build:
    return Build(at + 1, commit or f"c{at:06d}" + "f" * 33, FIRST_DAY + timedelta(days=at), by)


def summary(value: float, *, kind: Kind = "quality", better: Better = "high") -> Summary:
    return Summary(kind, better, 1, value, value)


def test_a_trend_names_each_move_by_its_build_and_which_way_is_better() -> None:
    """A build that did not measure the metric is skipped, not a level of its own; the change
    point names the first build at the new level and the one before; lower-is-better metrics
    improve when they fall."""
    builds = [build(at) for at in range(7)]
    iou = [0.91, 0.91, None, 0.91, 0.80, 0.80, 0.80]
    errors = [5.0, 5.0, 5.0, 5.0, 2.0, 2.0, 2.0]
    summaries = [
        {"seg.iou": summary(value)} if value is not None else {}
        for value in iou  # the third build did not measure it
    ]
    for row, count in zip(summaries, errors, strict=True):
        row["run:failed_units"] = summary(count, better="low")
    trend = trend_of(builds, summaries)
    failed, iou_trend = trend.metrics
    assert iou_trend.values == (0.91, 0.91, None, 0.91, 0.80, 0.80, 0.80)
    (fall,) = iou_trend.moves
    assert (fall.at, fall.build, fall.since) == (4, builds[4], builds[3])
    assert not fall.improved
    assert fall.sentence() == (
        "seg.iou fell 12% (0.91 → 0.8) at c000004 (2026-12-05), by ada: worse"
    )
    (fewer,) = failed.moves
    assert fewer.improved
    assert [move.key for move in trend.moves] == ["run:failed_units", "seg.iou"]
    assert [(level.first, level.last, level.value) for level in iou_trend.levels] == [
        (0, 3, 0.91),
        (4, 6, 0.80),
    ]


def test_a_trend_judges_timings_by_their_median_as_the_newest_build_declares() -> None:
    """A metric declared a timing by the newest build is judged by medians in every build."""
    builds = [build(at) for at in range(2)]
    older = Summary("quality", "high", 3, 2.0, 1.0)
    newer = Summary("timing", "low", 3, 4.0, 3.0)
    (metric,) = trend_of(builds, [{"s.t": older}, {"s.t": newer}]).metrics
    assert (metric.kind, metric.better, metric.values) == ("timing", "low", (1.0, 3.0))


def test_figures_are_read_leniently() -> None:
    """Samples stored as null, no samples, booleans, an integer beyond every float, or a metric
    of the wrong shape count as not measured; an unknown kind is a quality metric."""
    read = summarise(
        {
            "metrics": {
                "a.ok": {"kind": "timing", "better": "low", "values": [3, 1.0, 2.0]},
                "a.null": {"values": [1.0, None]},
                "a.none": {"values": []},
                "a.bool": {"values": [True, False]},
                "a.huge": {"values": [10**400, 1.0]},
                "a.odd": "not a metric",
                "a.kind": {"kind": "odd", "values": [1.0, 3.0]},
            }
        }
    )
    assert read["a.ok"] == Summary("timing", "low", 3, 2.0, 2.0)
    assert read["a.null"].mean is None and read["a.none"].median is None
    assert read["a.bool"].mean is None and read["a.huge"].mean is None
    assert "a.odd" not in read
    assert read["a.kind"] == Summary("quality", "high", 2, 2.0, 2.0)
    assert summarise({"metrics": []}) == {}


def test_the_change_points_need_no_django() -> None:
    """The trend's arithmetic imports nothing of Django: only reading the store does."""
    code = (
        "import sys, rainbow.control.services.trends; "
        "print(any('django' in m for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# The admin's pages, on SQLite and PostgreSQL --------------------------------------------------


class Everything:
    """A database router sending every read and write to one alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self.alias

    def allow_relation(self, first: Any, second: Any, **hints: Any) -> bool:
        return True


@pytest.fixture(params=["sqlite_database", "postgres_database"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The alias every query of the test goes to: the admin's pages, the users, the rows."""
    from django.test import override_settings

    alias = str(request.getfixturevalue(request.param))
    with override_settings(DATABASE_ROUTERS=[Everything(alias)]):
        yield alias


@pytest.fixture
def people(database: str) -> dict[str, Any]:
    """Staff members: alice a researcher, dana an admin, root a superuser, nora in no role."""
    from django.contrib.auth.models import Group, User

    made = {}
    for name, role in [("alice", "researcher"), ("dana", "admin"), ("nora", None)]:
        made[name] = User.objects.create_user(name, password=PASSWORD, is_staff=True)
        if role:
            made[name].groups.set([Group.objects.get(name=role)])
    made["root"] = User.objects.create_superuser("root", password=PASSWORD)
    return made


def client(username: str) -> Any:
    from django.test import Client

    logged_in = Client()
    assert logged_in.login(username=username, password=PASSWORD)
    return logged_in


def metric(key: str, values: list[float], better: Better = "high", kind: Kind = "quality") -> Any:
    step, _, name = key.partition(":") if key.startswith("run:") else key.partition(".")
    units = [f"unit-{i}" for i in range(len(values))]
    return MetricFigures(
        key=key, step=step, name=name, better=better, kind=kind, units=units, values=values
    )


def record(
    at: int,
    *metrics: MetricFigures,
    target: str = "room-scan",
    corpus: CorpusRef = ROOMS,
    commit: str = "",
    by: str = "ada",
) -> Any:
    """Main's baseline of build ``at`` (a day apart), recorded as `rainbow evaluate` would."""
    from rainbow.control.services import baselines

    figures = Figures(
        target=target,
        spec_hash="sha256:" + "b" * 64,
        corpus=corpus,
        commit=commit or f"c{at:06d}" + "e" * 33,
        branch="main",
        made_at=FIRST_DAY + timedelta(days=at),
        units=["unit-0", "unit-1"],
        metrics={m.key: m for m in metrics},
    )
    return baselines.record(figures, main_branch="main", by=None, actor_name=by)


def builds_of_main(count: int, fall_at: int | None = None) -> list[Any]:
    """``count`` builds: floor_iou 0.91 until ``fall_at`` then 0.80, a steady timing."""
    return [
        record(
            at,
            metric(
                "segment.floor_iou", [0.91, 0.91] if fall_at is None or at < fall_at else [0.8, 0.8]
            ),
            metric("segment.duration_s", [1.0, 1.2, 5.0], better="low", kind="timing"),
        )
        for at in range(count)
    ]


def queries_of(database: str, path: str, username: str = "alice") -> tuple[int, str, list[str]]:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    logged_in = client(username)
    with CaptureQueriesContext(connections[database]) as seen:
        response = logged_in.get(path)
    return response.status_code, response.content.decode(), [q["sql"] for q in seen]


def test_the_list_shows_main_baselines_and_never_reads_their_figures(
    database: str, people: dict[str, Any]
) -> None:
    """A researcher sees each baseline's target, corpus, branch, short commit and who recorded
    it, with a link to its trend; the list reads no figures, in the same number of queries for
    any length."""
    rows = builds_of_main(2)
    status, page, _ = queries_of(database, "/admin/rainbow/baseline/")
    assert status == 200
    for shown in ("room-scan@1", '<td class="field-branch">main</td>', "c000001", ">ada<"):
        assert shown in page, shown
    assert "c000001" + "e" * 8 not in page  # the commit is short
    assert f'href="/admin/rainbow/baseline/{rows[1].pk}/trend/"' in page
    few = len(queries_of(database, "/admin/rainbow/baseline/")[2])
    builds_of_main(12)
    status, page, sql = queries_of(database, "/admin/rainbow/baseline/")
    assert status == 200 and page.count("trend on main") == 14
    assert len(sql) == few
    assert not [q for q in sql if "rainbow_baseline" in q and "figures" in q]


def test_the_list_filters_by_target_and_corpus_and_searches_commits(
    database: str, people: dict[str, Any]
) -> None:
    """The filters offer each target and each corpus (name@version); search finds a commit by
    its first characters."""
    record(0, metric("s.m", [1.0]), commit="abc1234" + "0" * 33)
    record(1, metric("s.m", [1.0]), target="module:segment", corpus=OTHER, commit="def5678")
    logged_in = client("alice")
    page = logged_in.get("/admin/rainbow/baseline/").content.decode()
    assert "room-scan@2" in page and "module:segment" in page
    by_corpus = logged_in.get(f"/admin/rainbow/baseline/?corpus={OTHER.content_hash}")
    assert "def5678" in by_corpus.content.decode() and "abc1234" not in by_corpus.content.decode()
    by_target = logged_in.get("/admin/rainbow/baseline/?target=room-scan").content.decode()
    assert "abc1234" in by_target and "def5678" not in by_target
    found = logged_in.get("/admin/rainbow/baseline/?q=abc12").content.decode()
    assert "abc1234" in found and "def5678" not in found


def test_researchers_read_baselines_and_nobody_adds_changes_or_deletes_one(
    database: str, people: dict[str, Any]
) -> None:
    """Every role reads a baseline's page and trend; nobody, not even a superuser, adds,
    changes or deletes one through the admin; a staff member without a role sees nothing."""
    from rainbow.control.models import Baseline

    (row,) = builds_of_main(1)
    before = Baseline.objects.get().figures
    for who in ("alice", "dana", "root"):
        logged_in = client(who)
        for path in ("", f"{row.pk}/change/", f"{row.pk}/trend/"):
            assert logged_in.get(f"/admin/rainbow/baseline/{path}").status_code == 200, (who, path)
        assert logged_in.get("/admin/rainbow/baseline/add/").status_code == 403, who
        assert logged_in.post("/admin/rainbow/baseline/add/", {}).status_code == 403, who
        edited = {"target": "x", "branch": "x", "commit": "x"}
        assert (
            logged_in.post(f"/admin/rainbow/baseline/{row.pk}/change/", edited).status_code == 403
        )
        assert (
            logged_in.post(f"/admin/rainbow/baseline/{row.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
        bulk = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
        logged_in.post("/admin/rainbow/baseline/", bulk)
    assert Baseline.objects.get().figures == before
    nora = client("nora")
    for path in ("", f"{row.pk}/change/", f"{row.pk}/trend/"):
        assert nora.get(f"/admin/rainbow/baseline/{path}").status_code == 403, path


def test_the_pages_need_a_login_and_an_unknown_baseline_is_a_404(
    database: str, people: dict[str, Any]
) -> None:
    """Logged out, the trend page sends to the login; a baseline that is not there is a 404."""
    from django.test import Client

    (row,) = builds_of_main(1)
    answer = Client().get(f"/admin/rainbow/baseline/{row.pk}/trend/")
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/")
    for missing in (row.pk + 1, "nope"):
        assert client("alice").get(f"/admin/rainbow/baseline/{missing}/trend/").status_code == 404


def test_a_baselines_page_shows_its_metrics_and_links_its_trend(
    database: str, people: dict[str, Any]
) -> None:
    """A baseline's page lists its metrics with kind, direction, samples and the judged value
    (the median of a timing), and links the trend of its target on its corpus."""
    (row,) = builds_of_main(1)
    page = client("alice").get(f"/admin/rainbow/baseline/{row.pk}/change/").content.decode()
    assert (
        "<td>segment.duration_s</td><td>timing</td><td>low is better</td><td>3</td><td>1.2</td>"
        in page
    )
    assert (
        "<td>segment.floor_iou</td><td>quality</td><td>high is better</td><td>2</td><td>0.91</td>"
        in page
    )
    assert f'href="/admin/rainbow/baseline/{row.pk}/trend/"' in page
    assert ROOMS.content_hash in page


def test_the_trend_page_charts_each_metric_and_names_the_commit_that_moved_it(
    database: str, people: dict[str, Any]
) -> None:
    """Eight builds of main, floor_iou falling 12 % at the fifth: each metric is charted with
    its values, the newest build ringed; the fall is drawn, listed and tabled with its commit,
    day and recorder, and the metric that moved comes first."""
    rows = builds_of_main(8, fall_at=4)
    record(9, metric("segment.floor_iou", [0.1]), corpus=OTHER)  # another corpus: not here
    page = client("alice").get(f"/admin/rainbow/baseline/{rows[0].pk}/trend/").content.decode()
    sentence = "segment.floor_iou fell 12% (0.91 → 0.8) at c000004 (2026-12-05), by ada: worse"
    assert f'<li class="rainbow-move-worse"><a href="#metric-0">{sentence}</a></li>' in page
    assert "Main's last 8 baselines (at most 200)" in page
    assert page.count('class="rainbow-builds-trend"') == 2
    assert page.index("<h2>segment.floor_iou</h2>") < page.index("<h2>segment.duration_s</h2>")
    assert page.count('class="rainbow-newest"') == 2
    assert page.count('data-move="worse"') == 1 and 'data-move="better"' not in page
    assert page.count('data-level="0.91"') == 1 and page.count('data-level="0.8"') == 1
    assert page.count("<td>0.91</td>") == 4 and page.count("<td>0.8</td>") == 4
    assert page.count("<td>1.2</td>") == 8  # the timing's median
    assert f"<td>{sentence}</td>" in page
    assert "<td>newest</td>" in page and "<td>this baseline</td>" in page
    assert "<td>0.1</td>" not in page


def test_the_trend_page_shows_main_last_baselines_only(
    database: str, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page reads at most the last ``MAX_HISTORY`` baselines of the target on its corpus."""
    from rainbow.control.services import baselines

    monkeypatch.setattr(baselines, "MAX_HISTORY", 5)
    rows = builds_of_main(7)
    page = client("alice").get(f"/admin/rainbow/baseline/{rows[-1].pk}/trend/").content.decode()
    assert "last 5 baselines (at most 5)" in page
    assert "c000002" in page and "c000001" not in page


@pytest.mark.parametrize("count", [2, 20])
def test_the_trend_page_costs_the_same_queries_for_any_number_of_builds(
    database: str, people: dict[str, Any], count: int
) -> None:
    """However many builds and metrics, the trend page reads the baselines in one query."""
    rows = builds_of_main(count, fall_at=1)
    status, _, sql = queries_of(database, f"/admin/rainbow/baseline/{rows[0].pk}/trend/")
    assert status == 200
    assert len(sql) <= 8, sql
    assert len([q for q in sql if "rainbow_baseline" in q]) == 2  # the row, then its trend


HOSTILE = "<script>alert(1)</script>"


def test_hostile_names_are_escaped_and_cut(database: str, people: dict[str, Any]) -> None:
    """Metric keys, commits, targets and recorders from figures are text on every page,
    never markup; a key of 5,000 characters is cut."""
    long_key = "step." + "k" * 5_000
    rows = [
        record(
            at,
            metric(f"step.{HOSTILE}", [1.0] if at < 2 else [2.0]),
            metric(long_key, [1.0]),
            target=f"<b>{HOSTILE}</b>",
            commit=f'"><img src=x onerror=alert({at})>',
            by=HOSTILE,
        )
        for at in range(4)
    ]
    logged_in = client("alice")
    for path in ("", f"{rows[0].pk}/change/", f"{rows[0].pk}/trend/"):
        page = logged_in.get(f"/admin/rainbow/baseline/{path}").content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "k" * 5_000 not in page, path
    assert "k" * 70 + "…" in page
    assert "&lt;img src=x onerror=alert(" in page
