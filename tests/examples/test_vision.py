"""Room-scan vision functions and the edge_density command module, on real generated rooms."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from examples.room_scan import corpus, vision
from rainbow.sdk.command_runner import PERMANENT_EXIT_CODE

EDGE_DENSITY_SOURCE = (
    Path(__file__).parents[2] / "examples" / "room_scan" / "edge_density" / "edge_density.c"
)


@pytest.fixture(scope="module")
def rooms(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[np.ndarray, np.ndarray]]:
    """Eight generated rooms as (upright photo at max side 512, full-size truth)."""
    units = corpus.generate(tmp_path_factory.mktemp("rooms"), 8, seed=0)
    loaded = []
    for unit in units:
        photo, _ = vision.load_upright(unit / "photo.jpg")
        truth = vision.read_image(unit / "floor.png", grayscale=True)
        loaded.append((vision.resize_max(photo, 512), truth))
    return loaded


def test_segmentation_finds_the_floor_of_generated_rooms(
    rooms: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Floor IoU averages at least 0.80 over eight rooms (all four orientations), 0.6 at worst."""
    scores = [vision.iou(vision.segment_floor(photo), truth) for photo, truth in rooms]
    assert np.mean(scores) >= 0.80, scores
    assert min(scores) >= 0.6, scores


def test_segmentation_returns_a_binary_mask_of_the_image_size(
    rooms: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """The mask has the photo's rows and columns and holds only 0 and 255."""
    photo, _ = rooms[0]
    mask = vision.segment_floor(photo)
    assert mask.shape == photo.shape[:2] and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) <= {0, 255}


def test_segmentation_of_a_featureless_image_does_not_fail() -> None:
    """A flat grey frame is all 'floor' and yields a full mask rather than an error."""
    mask = vision.segment_floor(np.full((60, 80, 3), 128, np.uint8))
    assert mask.shape == (60, 80) and np.all(mask == 255)


def test_load_upright_rejects_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    """A non-image raises UnreadableImageError naming the file."""
    bogus = tmp_path / "photo.jpg"
    bogus.write_text("not a jpeg")
    with pytest.raises(vision.UnreadableImageError, match=r"photo\.jpg"):
        vision.load_upright(bogus)


def test_read_image_rejects_a_missing_file(tmp_path: Path) -> None:
    """A missing step output raises UnreadableImageError naming the path, not a None image."""
    with pytest.raises(vision.UnreadableImageError, match=r"gone\.png"):
        vision.read_image(tmp_path / "gone.png")


def test_resize_max_bounds_the_longer_side_and_never_enlarges() -> None:
    """A 1024x768 image becomes 512x384; one already small enough is returned unchanged."""
    large = np.zeros((768, 1024, 3), np.uint8)
    small = np.zeros((100, 50, 3), np.uint8)
    assert vision.resize_max(large, 512).shape == (384, 512, 3)
    assert vision.resize_max(small, 512) is small


def test_edges_are_found_in_a_room_and_not_in_a_blank_frame(
    rooms: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Canny marks some pixels of a room photo (colour or grey input) and none of a flat frame."""
    photo, _ = rooms[0]
    edges = vision.detect_edges(photo)
    assert edges.shape == photo.shape[:2] and set(np.unique(edges).tolist()) == {0, 255}
    assert np.count_nonzero(vision.detect_edges(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))) > 0
    assert np.count_nonzero(vision.detect_edges(np.full((50, 50), 90, np.uint8))) == 0


def test_iou_of_identical_masks_is_one_and_of_disjoint_masks_zero() -> None:
    """IoU is 1 for a mask with itself, 0 for disjoint masks, 2/8 when 2 of 8 columns are shared."""
    left = np.zeros((10, 10), np.uint8)
    left[:, :5] = 255
    middle = np.zeros((10, 10), np.uint8)
    middle[:, 3:8] = 255
    assert vision.iou(left, left) == 1.0
    assert vision.iou(left, 255 - left) == 0.0
    assert vision.iou(left, middle) == pytest.approx(2 / 8)


def test_iou_resizes_the_second_mask_to_the_first() -> None:
    """A truth at twice the resolution compares equal to the same shape at the mask's size."""
    mask = np.zeros((20, 30), np.uint8)
    mask[10:, :] = 255
    truth = cv2.resize(mask, (60, 40), interpolation=cv2.INTER_NEAREST)
    assert vision.iou(mask, truth) == 1.0


def test_mask_image_blacks_out_everything_outside_the_mask() -> None:
    """Pixels inside the mask keep their colour; the rest become black."""
    image = np.full((4, 4, 3), 200, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[2:, :] = 255
    masked = vision.mask_image(image, mask)
    assert np.all(masked[2:] == 200) and np.all(masked[:2] == 0)


def test_mask_from_another_frame_is_refused() -> None:
    """Masking with a mask of a different size raises ValueError instead of misplacing pixels."""
    with pytest.raises(ValueError, match="mask is"):
        vision.mask_image(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4), np.uint8))


def test_overlay_tints_the_floor_green_and_draws_edges_red() -> None:
    """Floor pixels lean green, edge pixels are pure red, the rest are untouched."""
    image = np.full((6, 6, 3), 100, np.uint8)
    mask = np.zeros((6, 6), np.uint8)
    mask[3:, :] = 255
    edges = np.zeros((6, 6), np.uint8)
    edges[:, 0] = 255
    picture = vision.overlay(image, mask, edges)
    blue, green, red = picture[4, 3]
    assert green > 100 and blue < 100 and red < 100
    assert tuple(picture[1, 0]) == (0, 0, 255)
    assert tuple(picture[1, 3]) == (100, 100, 100)


# The edge_density command module (C) -------------------------------------------------------------


@pytest.fixture(scope="module")
def edge_density(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C program, compiled with the flags the project builds it with, warnings as errors."""
    binary = tmp_path_factory.mktemp("bin") / "edge_density"
    flags = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror"]
    subprocess.run(["cc", *flags, "-o", str(binary), str(EDGE_DENSITY_SOURCE)], check=True)
    return binary


def run(binary: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary)], input=stdin, capture_output=True, text=True, timeout=10, check=False
    )


def write_pgm(path: Path, pixels: np.ndarray) -> Path:
    """A binary PGM with a header comment, which readers must skip."""
    height, width = pixels.shape
    header = f"P5\n# written by a test\n{width} {height}\n255\n".encode()
    path.write_bytes(header + pixels.astype(np.uint8).tobytes())
    return path


def test_edge_density_reports_the_fraction_of_edge_pixels(
    edge_density: Path, tmp_path: Path
) -> None:
    """For a PGM with 3 of 12 pixels set it prints density 0.25 and an edge_density metric."""
    pixels = np.zeros((3, 4), np.uint8)
    pixels[0, :3] = (255, 1, 7)
    pgm = write_pgm(tmp_path / 'odd "name" \\ here.pgm', pixels)
    done = run(edge_density, json.dumps({"edges": str(pgm)}))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "density": 0.25,
        "$metrics": {"edge_density": {"value": 0.25, "better": "low"}},
    }


def test_edge_density_agrees_with_numpy_on_a_real_edge_map(
    edge_density: Path, tmp_path: Path, rooms: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    """On a PGM written by OpenCV from detect_edges, the C count matches numpy's."""
    edges = vision.detect_edges(rooms[0][0])
    pgm = tmp_path / "edges.pgm"
    cv2.imwrite(str(pgm), edges)
    done = run(edge_density, json.dumps({"other": [1, {"x": "}"}], "edges": str(pgm)}))
    assert done.returncode == 0, done.stderr
    expected = np.count_nonzero(edges) / edges.size
    assert json.loads(done.stdout)["density"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "stdin",
    ['{"edges": "/tmp/e.pgm"', '{"edges": 3}', '{"edge": "/tmp/e.pgm"}', "", '{"edges": "\\q"}'],
)
def test_edge_density_fails_permanently_on_malformed_input(edge_density: Path, stdin: str) -> None:
    """Unterminated JSON, a non-string or missing "edges", or a bad escape exit 3 with a reason."""
    done = run(edge_density, stdin)
    assert done.returncode == PERMANENT_EXIT_CODE
    assert done.stderr.startswith("edge_density: ") and done.stdout == ""


def test_edge_density_fails_permanently_when_the_file_is_missing_or_not_p5(
    edge_density: Path, tmp_path: Path
) -> None:
    """A missing file or a text (P2) PGM exits 3 (permanent) and says which file and why."""
    missing = run(edge_density, json.dumps({"edges": str(tmp_path / "missing.pgm")}))
    assert missing.returncode == PERMANENT_EXIT_CODE and "missing.pgm" in missing.stderr
    ascii_pgm = tmp_path / "ascii.pgm"
    ascii_pgm.write_text("P2\n1 1\n255\n0\n")
    not_binary = run(edge_density, json.dumps({"edges": str(ascii_pgm)}))
    assert not_binary.returncode == PERMANENT_EXIT_CODE and "P5" in not_binary.stderr
