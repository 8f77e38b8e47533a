"""Corpora: manifests made from folders of units, read back, checked file by file, fetched from
URLs into a cache, and every refusal with its diagnostic id and a hint."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.diagnostics import Diagnostic
from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate import corpus
from rainbow.evaluate.corpus import (
    MANIFEST,
    CorpusInfo,
    Manifest,
    Provenance,
    Registration,
    Unit,
)
from rainbow.evaluate.figures import Tolerance

MADE_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TERMS: dict[str, Any] = {
    "name": "rooms",
    "version": "1",
    "licence": "CC-BY-4.0",
    "use": "research",
    "source": "drawn by hand",
    "made_by": "ada@example.com",
    "made_at": MADE_AT,
}


def units_folder(folder: Path) -> Path:
    """A corpus in both layouts: two folder units and a unit file naming a file beside it."""
    for index in range(2):
        unit = folder / f"room-{index}"
        unit.mkdir(parents=True)
        (unit / "unit.json").write_text(json.dumps({"photo": "photo.jpg", "floor": "floor.png"}))
        (unit / "photo.jpg").write_bytes(bytes([index]) * 32)
        (unit / "floor.png").write_bytes(b"floor" + bytes([index]))
    (folder / "kitchen.json").write_text(json.dumps({"photo": "kitchen.jpg", "threshold": 0.5}))
    (folder / "kitchen.jpg").write_bytes(b"kitchen")
    return folder


@pytest.fixture
def made(tmp_path: Path) -> Path:
    folder = units_folder(tmp_path / "corpus")
    corpus.init(folder, **TERMS)
    return folder


def codes(problems: list[Diagnostic]) -> list[str]:
    return sorted(problem.code for problem in problems)


def refused(call: Any, *args: Any, **kwargs: Any) -> list[Diagnostic]:
    with pytest.raises(DiagnosticError) as caught:
        call(*args, **kwargs)
    for problem in caught.value.diagnostics:
        assert problem.hint, problem
    return caught.value.diagnostics


def refused_with(code: str, call: Any, *args: Any, **kwargs: Any) -> UserError:
    with pytest.raises(UserError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    assert caught.value.hint
    return caught.value


def write_manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(text)
    return folder


# Making and reading manifests --------------------------------------------------------------


def test_init_records_every_file_of_both_layouts_and_reads_back(made: Path) -> None:
    """A folder unit lists every file of its folder, a unit file the files its inputs name;
    the manifest reads back as written and validates clean."""
    manifest = corpus.read(made)
    assert [unit.name for unit in manifest.units] == ["kitchen", "room-0", "room-1"]
    assert list(manifest.units[0].files) == ["kitchen.jpg", "kitchen.json"]
    assert list(manifest.units[1].files) == [
        "room-0/floor.png",
        "room-0/photo.jpg",
        "room-0/unit.json",
    ]
    assert manifest.units[1].files["room-0/photo.jpg"] == corpus.file_hash(
        made / "room-0" / "photo.jpg"
    )
    assert manifest.corpus == CorpusInfo(
        name="rooms", version="1", licence="CC-BY-4.0", use="research"
    )
    assert manifest.provenance.made_at == MADE_AT
    assert corpus.validate(made) == []


def test_the_licence_is_recorded_canonical(tmp_path: Path) -> None:
    """An SPDX expression in any case is kept in its canonical spelling."""
    folder = units_folder(tmp_path / "c")
    manifest = corpus.init(folder, **{**TERMS, "licence": "mit or apache-2.0"})
    assert manifest.corpus.licence == "MIT OR Apache-2.0"
    assert corpus.read(folder).corpus.licence == "MIT OR Apache-2.0"


def test_the_same_folder_writes_the_same_manifest(tmp_path: Path) -> None:
    """Two folders holding the same units, made at the same moment, get identical bytes."""
    first, second = units_folder(tmp_path / "a"), units_folder(tmp_path / "b")
    corpus.init(first, **TERMS)
    corpus.init(second, **TERMS)
    assert (first / MANIFEST).read_bytes() == (second / MANIFEST).read_bytes()


def test_init_refuses_to_write_over_a_manifest_unless_forced(made: Path) -> None:
    """A second init is RB-E096; with force it writes again, keeping the tolerances people
    wrote in the manifest."""
    refused_with("RB-E096", corpus.init, made, **TERMS)
    with_tolerances = corpus.read(made).model_copy(
        update={"tolerances": {"segment.iou": Tolerance(absolute=0.01)}}
    )
    corpus.write(with_tolerances, made)
    again = corpus.init(made, **{**TERMS, "version": "2"}, force=True)
    assert again.corpus.version == "2"
    assert again.tolerances == {"segment.iou": Tolerance(absolute=0.01)}


def test_init_reports_every_bad_option_at_once(tmp_path: Path) -> None:
    """Name, version, licence and use are each RB-E091 at their field; an empty source RB-E090."""
    folder = units_folder(tmp_path / "c")
    problems = refused(
        corpus.init,
        folder,
        **{
            **TERMS,
            "name": "Rooms!",
            "version": corpus.UNVERSIONED,
            "licence": "Made-Up-1.0",
            "use": "anything",
            "source": "",
        },
    )
    where = {p.location.json_path: p.code for p in problems}
    assert where == {
        "corpus.name": "RB-E091",
        "corpus.version": "RB-E091",
        "corpus.licence": "RB-E091",
        "corpus.use": "RB-E091",
        "provenance.source": "RB-E090",
    }
    assert not (folder / MANIFEST).exists()


def test_init_refuses_a_folder_it_cannot_make_a_corpus_of(tmp_path: Path) -> None:
    """No folder, or a folder without units, is RB-E095."""
    refused_with("RB-E095", corpus.init, tmp_path / "missing", **TERMS)
    (tmp_path / "empty").mkdir()
    refused_with("RB-E095", corpus.init, tmp_path / "empty", **TERMS)


def test_init_refuses_units_whose_files_the_corpus_would_not_hold(tmp_path: Path) -> None:
    """A unit naming a file outside its folder, or by an absolute path, a symbolic link out of
    the corpus and a name no manifest can carry are each RB-E092 at the file; a unit that is
    not JSON is RB-E040; all are reported together."""
    folder = units_folder(tmp_path / "c")
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (folder / "room-0" / "unit.json").write_text(json.dumps({"photo": "../../outside.jpg"}))
    (folder / "room-1" / "unit.json").write_text(
        json.dumps({"photo": str(folder / "room-1" / "photo.jpg")})
    )
    os.symlink(tmp_path / "outside.jpg", folder / "room-1" / "linked.jpg")
    (folder / "a room.json").write_text("{}")
    (folder / "broken.json").write_text("{not json")
    problems = refused(corpus.init, folder, **TERMS)
    assert codes(problems) == ["RB-E040", *["RB-E092"] * 4]
    files = {Path(str(p.location.file)).name for p in problems}
    assert files == {"unit.json", "linked.jpg", "a room.json", "broken.json"}


def test_a_unit_file_and_a_unit_folder_of_one_name_are_refused(tmp_path: Path) -> None:
    """``room-0.json`` beside ``room-0/`` would be two units of one name: RB-E092."""
    folder = units_folder(tmp_path / "c")
    (folder / "room-0.json").write_text("{}")
    problems = refused(corpus.init, folder, **TERMS)
    assert codes(problems) == ["RB-E092"]
    assert "two units are named 'room-0'" in problems[0].message


def test_a_unit_of_too_many_files_is_refused(tmp_path: Path) -> None:
    """More files in one unit than a manifest holds is RB-E090, with a hint to pack them."""
    folder = units_folder(tmp_path / "c")
    for index in range(corpus.MAX_FILES_PER_UNIT):
        (folder / "room-0" / f"tile-{index}.png").write_bytes(b"")
    (problem,) = refused(corpus.init, folder, **TERMS)
    assert problem.code == "RB-E090" and "more than 1000" in problem.message


def test_hidden_files_and_remote_assets_are_not_part_of_a_unit(tmp_path: Path) -> None:
    """Dot files in a unit folder (an editor's, a file manager's) and URL inputs are left out."""
    folder = units_folder(tmp_path / "c")
    (folder / "room-0" / ".DS_Store").write_bytes(b"junk")
    (folder / "room-1" / "unit.json").write_text(json.dumps({"photo": "s3://bucket/p.jpg"}))
    manifest = corpus.init(folder, **TERMS)
    assert "room-0/.DS_Store" not in manifest.units[1].files
    assert list(manifest.units[2].files) == [
        "room-1/floor.png",
        "room-1/photo.jpg",
        "room-1/unit.json",
    ]


def test_only_files_a_module_could_read_are_part_of_a_unit(tmp_path: Path) -> None:
    """A dangling link or a named pipe in a unit folder is no file of the unit."""
    folder = units_folder(tmp_path / "c")
    os.symlink(tmp_path / "gone.jpg", folder / "room-0" / "dangling.jpg")
    os.mkfifo(folder / "room-0" / "pipe")
    manifest = corpus.init(folder, **TERMS)
    assert list(manifest.units[1].files) == [
        "room-0/floor.png",
        "room-0/photo.jpg",
        "room-0/unit.json",
    ]
    assert corpus.validate(folder) == []


# The manifest's own rules --------------------------------------------------------------------

GOOD = """
format = 1
[corpus]
name = "rooms"
version = "1"
licence = "CC0-1.0"
use = "production"
[provenance]
source = "s"
made_by = "m"
made_at = 2026-12-07T12:00:00Z
[[units]]
name = "a"
[units.files]
"a.json" = "sha256:{zero}"
""".replace("{zero}", "0" * 64)


def test_a_hand_written_manifest_in_any_order_reads_as_one_manifest() -> None:
    """Units and files are sorted whatever the file's order, so one corpus has one manifest."""
    later = f'files = {{ "0b/z" = "sha256:{"1" * 64}", "0b/unit.json" = "sha256:{"2" * 64}" }}'
    text = f'{GOOD}[[units]]\nname = "0b"\n{later}\n'
    manifest = corpus.parse(text.encode(), "corpus.toml")
    assert [unit.name for unit in manifest.units] == ["0b", "a"]
    assert list(manifest.units[0].files) == ["0b/unit.json", "0b/z"]


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        (b"\xff\xfe", "RB-E090", None),
        (b"[corpus\nname=", "RB-E090", None),
        (GOOD.replace("format = 1", "format = 2").encode(), "RB-E090", "format"),
        (
            GOOD.replace('use = "production"', 'use = "production"\nowner = "me"').encode(),
            "RB-E090",
            "corpus.owner",
        ),
        (GOOD.replace('made_by = "m"\n', "").encode(), "RB-E090", "provenance.made_by"),
        (GOOD.replace("12:00:00Z", "12:00:00").encode(), "RB-E090", "provenance.made_at"),
        (GOOD.replace('version = "1"', "version = 1").encode(), "RB-E091", "corpus.version"),
        (GOOD.replace("CC0-1.0", "CC0").encode(), "RB-E091", "corpus.licence"),
        (GOOD.replace('"production"', '"prod"').encode(), "RB-E091", "corpus.use"),
        (GOOD.replace('"a.json"', '"../a.json"').encode(), "RB-E092", 'units[0].files."../a.json"'),
        (
            GOOD.replace('"a.json"', '"/etc/a.json"').encode(),
            "RB-E092",
            'units[0].files."/etc/a.json"',
        ),
        (GOOD.replace('"a.json"', '"a b.json"').encode(), "RB-E092", 'units[0].files."a b.json"'),
        (GOOD.replace('name = "a"', 'name = ".a"').encode(), "RB-E092", "units[0].name"),
        (GOOD.replace('"sha256:0', '"md5:0').encode(), "RB-E090", 'units[0].files."a.json"'),
        (GOOD.replace('"a.json"', '"b.json"').encode(), "RB-E092", "units[name='a']"),
    ],
)
def test_a_manifest_that_breaks_a_rule_is_refused_where_it_does(
    text: bytes, code: str, where: str | None
) -> None:
    """Each mistake is reported with its id, its file and the field it is in, with a hint."""
    problems = refused(corpus.parse, text, "c/corpus.toml")
    assert [(p.code, p.location.json_path) for p in problems] == [(code, where)]
    assert problems[0].location.file == "c/corpus.toml"


def test_every_mistake_of_a_manifest_is_reported_at_once() -> None:
    """Three mistakes in three places: three diagnostics in one refusal."""
    text = (
        GOOD.replace("CC0-1.0", "nope")
        .replace('"a.json"', '"../a"')
        .replace("2026-12-07T12:00:00Z", '"yesterday"')
    )
    assert codes(refused(corpus.parse, text.encode(), "m")) == ["RB-E090", "RB-E091", "RB-E092"]


def test_units_that_disagree_with_each_other_are_refused() -> None:
    """Two units of one name, a unit listing both entry files, and a folder unit with a file
    outside its folder are each RB-E092."""
    zero, one = "sha256:" + "0" * 64, "sha256:" + "1" * 64
    twice = f'{GOOD}[[units]]\nname = "a"\nfiles = {{ "a.json" = "{zero}" }}\n'
    assert codes(refused(corpus.parse, twice.encode(), "m")) == ["RB-E092"]
    both = GOOD.replace('"a.json" =', f'"a/unit.json" = "{one}"\n"a.json" =')
    assert codes(refused(corpus.parse, both.encode(), "m")) == ["RB-E092"]
    astray = GOOD.replace('"a.json" =', f'"a/unit.json" = "{one}"\n"b/x" =')
    (problem,) = refused(corpus.parse, astray.encode(), "m")
    assert "'b/x' is outside the folder of unit 'a'" in problem.message


def test_a_manifest_larger_than_the_limit_is_refused_unread() -> None:
    """More than 64 MiB is RB-E090 before any parsing."""
    (problem,) = refused(corpus.parse, b" " * (corpus.MAX_MANIFEST_BYTES + 1), "m")
    assert problem.code == "RB-E090" and "larger than 64 MiB" in problem.message


def test_a_manifest_nested_without_end_is_refused() -> None:
    """Arrays nested a hundred thousand deep are RB-E090, never a RecursionError."""
    text = b"x = " + b"[" * 100_000
    assert codes(refused(corpus.parse, text, "m")) == ["RB-E090"]


def test_reading_a_folder_without_a_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    """``read`` of a folder with no corpus.toml is RB-E095, its hint the init command."""
    error = refused_with("RB-E095", corpus.read, tmp_path)
    assert "rainbow corpus init" in str(error.hint)


# The writer, against any manifest ------------------------------------------------------------

free_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40
)
part = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9._+-]{0,12}\Z")
file_hashes = st.from_regex(r"\Asha256:[0-9a-f]{64}\Z")


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    names = draw(st.lists(part, min_size=1, max_size=4, unique=True))
    units = []
    for name in names:
        in_folder = draw(st.booleans())
        entry = f"{name}/unit.json" if in_folder else f"{name}.json"
        extra = draw(st.lists(st.lists(part, min_size=1, max_size=3), max_size=3))
        paths = [f"{name}/{'/'.join(p)}" if in_folder else "/".join(p) for p in extra]
        # A unit file may list any file but the manifest and the entry of a folder unit.
        kept = [path for path in paths if path not in (MANIFEST, f"{name}/unit.json")]
        files = {path: draw(file_hashes) for path in [entry, *kept]}
        units.append(Unit(name=name, files=files))
    moment = draw(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
        )
    )
    return Manifest(
        corpus=CorpusInfo(
            name=draw(st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")),
            version=draw(
                st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,10}\Z").filter(
                    lambda v: v != corpus.UNVERSIONED
                )
            ),
            licence=draw(st.sampled_from(["CC0-1.0", "MIT OR Apache-2.0", "LicenseRef-Ours"])),
            use=draw(st.sampled_from(["research", "production"])),
            description=draw(free_text),
        ),
        provenance=Provenance(
            source=draw(free_text.filter(bool)),
            made_by=draw(free_text.filter(bool)),
            made_at=moment,
        ),
        units=units,
        tolerances=draw(
            st.dictionaries(
                free_text.filter(bool),
                st.builds(
                    Tolerance,
                    absolute=st.floats(0, 1e9, allow_nan=False),
                    relative=st.floats(0, 1e9, allow_nan=False),
                ),
                max_size=3,
            )
        ),
    )


@settings(max_examples=100, deadline=None)
@given(manifests())
def test_any_manifest_survives_writing_and_reading(manifest: Manifest) -> None:
    """Whatever the text holds (quotes, backslashes, control characters, any script), the TOML
    written reads back as the same manifest, and writing it again gives the same text."""
    text = corpus.dumps(manifest)
    again = corpus.parse(text.encode(), "m")
    assert again == manifest
    assert corpus.dumps(again) == text


# Content hashes ------------------------------------------------------------------------------


def test_the_content_hash_is_the_units_not_the_metadata(made: Path) -> None:
    """Another name, version, licence or provenance keeps the hash; the same units hash alike
    in any order."""
    manifest = corpus.read(made)
    renamed = manifest.model_copy(
        update={
            "corpus": CorpusInfo(name="other", version="9", licence="MIT", use="production"),
            "provenance": Provenance(source="x", made_by="y", made_at=MADE_AT),
        }
    )
    assert corpus.ref_of(renamed).content_hash == corpus.ref_of(manifest).content_hash
    assert corpus.content_hash(reversed(manifest.units)) == corpus.content_hash(manifest.units)
    assert corpus.content_hash(manifest.units).startswith("sha256:")


def test_the_content_hash_changes_with_any_byte_of_any_file(tmp_path: Path) -> None:
    """Flipping any one bit of a unit's file gives the corpus another content hash."""
    folder = units_folder(tmp_path / "c")
    original = corpus.content_hash(corpus.init(folder, **TERMS).units)
    photo = folder / "room-1" / "photo.jpg"
    data = photo.read_bytes()
    seen = {original}
    for index in range(len(data)):
        photo.write_bytes(data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :])
        changed = corpus.init(folder, **TERMS, force=True)
        seen.add(corpus.content_hash(changed.units))
    assert len(seen) == len(data) + 1


def test_a_unit_name_or_path_is_part_of_the_content(made: Path) -> None:
    """The same bytes under another unit name or path are another corpus."""
    manifest = corpus.read(made)
    first = manifest.units[0]
    moved = Unit(name=first.name, files={f"x{p}": h for p, h in first.files.items()})
    assert corpus.content_hash([moved, *manifest.units[1:]]) != corpus.content_hash(manifest.units)


# Checking a folder against its manifest ------------------------------------------------------


def test_validate_lists_every_missing_changed_and_unlisted_file(made: Path) -> None:
    """A changed file and a missing one (RB-E093), a new unit and a new file in a unit folder
    (RB-E094): four diagnostics, each at its file."""
    (made / "room-0" / "photo.jpg").write_bytes(b"retouched")
    (made / "kitchen.jpg").unlink()
    (made / "new.json").write_text("{}")
    (made / "room-1" / "notes.txt").write_text("x")
    problems = corpus.validate(made)
    assert codes(problems) == ["RB-E093", "RB-E093", "RB-E094", "RB-E094"]
    assert {Path(str(p.location.file)).name for p in problems} == {
        "photo.jpg",
        "kitchen.jpg",
        "new.json",
        "notes.txt",
    }
    assert all(p.hint for p in problems)


def test_validate_refuses_a_listed_file_that_links_out_of_the_corpus(
    made: Path, tmp_path: Path
) -> None:
    """A listed file replaced by a symbolic link to a file elsewhere, even one of the same
    bytes, is RB-E092."""
    photo = made / "room-0" / "photo.jpg"
    outside = tmp_path / "same.jpg"
    outside.write_bytes(photo.read_bytes())
    photo.unlink()
    os.symlink(outside, photo)
    assert codes(corpus.validate(made)) == ["RB-E092"]


def test_validate_reports_an_unreadable_manifest_as_its_diagnostics(tmp_path: Path) -> None:
    """A broken manifest is returned as diagnostics, like the files' problems."""
    folder = write_manifest(units_folder(tmp_path / "c"), "not = [toml")
    assert codes(corpus.validate(folder)) == ["RB-E090"]


# Opening a corpus for a run ------------------------------------------------------------------


def test_a_plain_folder_opens_unversioned_with_a_note(tmp_path: Path) -> None:
    """Without a manifest: no manifest, a note saying so, and a reference named after the
    folder, version "unversioned", hashed over the files as found."""
    folder = units_folder(tmp_path / "plain")
    opened = corpus.open_corpus(folder, tmp_path / "cache")
    assert opened.manifest is None and opened.folder == folder
    assert "has no manifest" in str(opened.note)
    assert (opened.ref.name, opened.ref.version) == ("plain", corpus.UNVERSIONED)
    recorded = corpus.init(folder, **TERMS)
    assert opened.ref.content_hash == corpus.content_hash(recorded.units)


def test_a_plain_folder_with_names_no_manifest_allows_still_opens(tmp_path: Path) -> None:
    """A unit called "a room" runs today; opening it without a manifest still works."""
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a room.json").write_text("{}")
    assert corpus.open_corpus(str(folder), tmp_path / "cache").ref.content_hash.startswith(
        "sha256:"
    )


def test_a_folder_with_a_manifest_opens_only_when_every_file_is_its_hash(
    made: Path, tmp_path: Path
) -> None:
    """A clean corpus opens with its manifest and reference; a changed file refuses it."""
    opened = corpus.open_corpus(made, tmp_path / "cache")
    assert opened.manifest == corpus.read(made) and opened.note is None
    assert opened.ref == corpus.ref_of(corpus.read(made))
    (made / "kitchen.jpg").write_bytes(b"other")
    assert codes(refused(corpus.open_corpus, made, tmp_path / "cache")) == ["RB-E093"]


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    refused_with("RB-E095", corpus.open_corpus, tmp_path / "nowhere", tmp_path / "cache")


@pytest.fixture
def published(made: Path) -> Iterator[str]:
    """The made corpus copied into fsspec's in-memory filesystem, under a root of its own."""
    memory = fsspec.filesystem("memory")
    root = f"/corpora-{uuid.uuid4().hex}"
    for path in made.rglob("*"):
        if path.is_file():
            memory.pipe(f"{root}/{path.relative_to(made).as_posix()}", path.read_bytes())
    yield f"memory://{root}"
    memory.rm(root, recursive=True)


def test_a_url_corpus_is_fetched_into_the_cache_by_its_content_hash(
    published: str, made: Path, tmp_path: Path
) -> None:
    """Every listed file is copied under cache/<hex>, byte for byte, with the manifest; a
    second open uses the cache without reading the files again."""
    cache = tmp_path / "cache"
    opened = corpus.open_corpus(published, cache)
    manifest = corpus.read(made)
    assert opened.folder == cache / corpus.content_hash(manifest.units).removeprefix("sha256:")
    assert opened.manifest == manifest and opened.ref == corpus.ref_of(manifest)
    assert corpus.validate(opened.folder) == []
    assert (opened.folder / "room-1" / "photo.jpg").read_bytes() == (
        made / "room-1" / "photo.jpg"
    ).read_bytes()
    fsspec.filesystem("memory").rm(f"{published.removeprefix('memory://')}/kitchen.jpg")
    assert corpus.open_corpus(published, cache).folder == opened.folder
    assert [p.name for p in cache.iterdir()] == [opened.folder.name]


def test_a_tampered_url_corpus_is_refused_and_leaves_nothing_in_the_cache(
    published: str, tmp_path: Path
) -> None:
    """A file changed after the manifest was made, and one gone: both RB-E093, at their URL."""
    memory = fsspec.filesystem("memory")
    root = published.removeprefix("memory://")
    memory.pipe(f"{root}/room-0/photo.jpg", b"swapped")
    memory.rm(f"{root}/kitchen.jpg")
    cache = tmp_path / "cache"
    problems = refused(corpus.open_corpus, published, cache)
    assert codes(problems) == ["RB-E093", "RB-E093"]
    assert {p.location.file for p in problems} == {
        f"{published}/room-0/photo.jpg",
        f"{published}/kitchen.jpg",
    }
    assert list(cache.iterdir()) == []
    assert codes(corpus.validate_url(published)) == ["RB-E093", "RB-E093"]


def test_a_file_url_corpus_is_fetched_and_checked_too(made: Path, tmp_path: Path) -> None:
    """``file://`` goes through fsspec like any URL: copied and checked into the cache."""
    opened = corpus.open_corpus(f"file://{made}", tmp_path / "cache")
    assert opened.folder.parent == tmp_path / "cache"
    assert opened.ref == corpus.ref_of(corpus.read(made))
    assert corpus.read_url(f"file://{made}") == corpus.read(made)


def test_a_url_without_a_manifest_or_a_filesystem_is_refused(tmp_path: Path) -> None:
    """A URL's corpus needs its manifest (RB-E095, unlike a folder); an unknown protocol is
    RB-E095 too."""
    folder = units_folder(tmp_path / "plain")
    error = refused_with("RB-E095", corpus.open_corpus, f"file://{folder}", tmp_path / "cache")
    assert "needs a manifest" in error.message
    refused_with("RB-E095", corpus.open_corpus, "nosuch://bucket/corpus", tmp_path / "cache")
    refused_with("RB-E095", corpus.validate_url, "nosuch://bucket/corpus")


def test_a_url_whose_manifest_is_broken_is_refused_with_its_diagnostics(tmp_path: Path) -> None:
    """The manifest at a URL meets the same rules, reported at the URL."""
    folder = write_manifest(tmp_path / "c", GOOD.replace("CC0-1.0", "nope"))
    (problem,) = refused(corpus.open_corpus, f"file://{folder}", tmp_path / "cache")
    assert problem.code == "RB-E091" and problem.location.file == f"file://{folder}/{MANIFEST}"
    assert codes(corpus.validate_url(f"file://{folder}")) == ["RB-E091"]


# What the control plane is sent --------------------------------------------------------------


def test_a_registration_carries_the_units_and_their_hash(made: Path) -> None:
    """``Registration.of`` sends the metadata, content hash, count and units, which agree."""
    manifest = corpus.read(made)
    registration = Registration.of(manifest)
    assert registration.content_hash == corpus.ref_of(manifest).content_hash
    assert registration.unit_count == 3 and registration.units == manifest.units
    assert registration.problems() == []
    assert Registration.model_validate(registration.model_dump(mode="json")) == registration


def test_a_registration_whose_units_disagree_with_it_has_problems(made: Path) -> None:
    """Units that hash to another content hash (RB-E093) or count (RB-E090) are problems; a
    registration without units has none to check."""
    registration = Registration.of(corpus.read(made))
    other = registration.model_copy(update={"content_hash": "sha256:" + "0" * 64, "unit_count": 2})
    assert codes(other.problems()) == ["RB-E090", "RB-E093"]
    assert other.model_copy(update={"units": None}).problems() == []


def test_a_corpus_too_large_to_send_registers_without_its_units(made: Path) -> None:
    """Units whose JSON passes the bound are left out; the hash and count still say what the
    corpus is."""
    digest, count = "sha256:" + "0" * 64, 1_300  # about 4.4 MiB of units
    many = [
        Unit(name=f"u{i}", files={f"u{i}.json": digest, **{f"f{i}-{n}": digest for n in range(40)}})
        for i in range(count)
    ]
    registration = Registration.of(corpus.read(made).model_copy(update={"units": many}))
    assert registration.units is None
    assert registration.unit_count == count
    assert registration.content_hash == corpus.content_hash(many)
