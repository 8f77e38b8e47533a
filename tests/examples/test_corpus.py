"""The synthetic room generator: deterministic, phone-like EXIF, and honest ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from examples.room_scan import corpus, vision

UNITS = 8


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return corpus.generate(tmp_path_factory.mktemp("rooms"), UNITS, seed=0)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*.*")}


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    """Generating twice with one seed writes byte-identical units, so corpora are reproducible."""
    corpus.generate(tmp_path / "a", 2, seed=5)
    corpus.generate(tmp_path / "b", 2, seed=5)
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")


def test_different_seeds_draw_different_rooms(tmp_path: Path) -> None:
    """Another seed gives another room, not the same one re-encoded."""
    first = corpus.generate(tmp_path / "a", 1, seed=1)[0]
    second = corpus.generate(tmp_path / "b", 1, seed=2)[0]
    assert (first / "floor.png").read_bytes() != (second / "floor.png").read_bytes()


def test_each_unit_is_a_folder_whose_unit_json_names_its_files(units: list[Path]) -> None:
    """Every unit-NNN/ holds unit.json with relative paths to a photo and a truth beside it."""
    assert [unit.name for unit in units] == [f"unit-{index:03d}" for index in range(UNITS)]
    for unit in units:
        described = json.loads((unit / "unit.json").read_text())
        assert described == {"photo": "photo.jpg", "floor_truth": "floor.png"}
        assert (unit / "photo.jpg").is_file() and (unit / "floor.png").is_file()


def test_photos_are_stored_rotated_and_exif_turns_them_upright(units: list[Path]) -> None:
    """Raw pixels are rotated for EXIF 3, 6 and 8; honouring EXIF restores the truth's shape."""
    orientations = set()
    for unit in units:
        truth = vision.read_image(unit / "floor.png", grayscale=True)
        with Image.open(unit / "photo.jpg") as raw:
            raw_shape = (raw.height, raw.width)
        upright, info = vision.load_upright(unit / "photo.jpg")
        orientations.add(info["orientation"])
        turned_sideways = info["orientation"] in (6, 8)
        assert raw_shape == (truth.shape[::-1] if turned_sideways else truth.shape)
        assert upright.shape[:2] == truth.shape
    assert orientations == {1, 3, 6, 8}


def test_some_units_carry_gps_and_camera_tags_and_some_do_not(units: list[Path]) -> None:
    """GPS and camera make/model appear on some photos only, as with real uploads."""
    infos = [vision.load_upright(unit / "photo.jpg")[1] for unit in units]
    assert {info["has_gps"] for info in infos} == {True, False}
    cameras = {info["camera"] for info in infos}
    assert None in cameras and "Apple iPhone 13" in cameras


def test_truth_is_a_binary_mask_of_part_of_the_frame(units: list[Path]) -> None:
    """floor.png holds only 0 and 255, and the floor covers some but not all of the picture."""
    for unit in units:
        with Image.open(unit / "floor.png") as stored:
            assert stored.mode == "L"
        truth = vision.read_image(unit / "floor.png", grayscale=True)
        assert set(np.unique(truth).tolist()) <= {0, 255}
        assert 0.1 < np.count_nonzero(truth) / truth.size < 0.9


def test_furniture_removes_the_floor_it_hides_from_the_truth() -> None:
    """A box standing on the floor is painted over it and cut out of the visible-floor mask."""
    camera = corpus.Camera(width=320, height=240, focal=300, cx=160, cy=60, eye_height=1.5)
    canvas = corpus.Canvas(camera)
    canvas.fill_floor(corpus.horizontal_quad(-2.0, 2.0, 1.0, 6.0, 0.0))
    box = corpus.Furniture(x0=-0.5, x1=0.5, z0=3.0, z1=3.5, height=0.8, colour=(0, 0, 255))
    corpus.paint_furniture(canvas, box)
    box_foot = tuple(round(v) for v in camera.project((0.0, 0.0, 3.0)))
    floor_beside = tuple(round(v) for v in camera.project((1.5, 0.0, 3.0)))
    visible = canvas.visible_floor()
    assert canvas.floor[box_foot[1] - 2, box_foot[0]] == 255
    assert visible[box_foot[1] - 2, box_foot[0]] == 0
    assert visible[floor_beside[1], floor_beside[0]] == 255
