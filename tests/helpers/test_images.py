"""rainbow.helpers.images reads images upright, writes images and arrays whole, refuses pickle.

Every image here is made in a temporary folder; EXIF orientations are set with the real
exiftool, so the tags are the ones cameras write rather than ones Pillow wrote for itself.
"""

from __future__ import annotations

import ast
import errno
import functools
import inspect
import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import rainbow as rb
from rainbow.helpers import images
from rainbow.helpers.images import (
    MAX_IMAGE_PIXELS,
    UnreadableFile,
    convert_image,
    load_array,
    read_image,
    save_array,
    write_image,
)
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Task

RED, GREEN, GREY = (255, 0, 0), (0, 255, 0), (128, 128, 128)


def marked(height: int = 32, width: int = 48) -> np.ndarray:
    """An upright picture: grey, a red block in its top-left corner, a green one top-right.

    Blocks are 16 pixels, JPEG's chroma block, so compression does not blur their colours.
    """
    picture = np.full((height, width, 3), GREY, np.uint8)
    picture[:16, :16] = RED
    picture[:16, -16:] = GREEN
    return picture


def corners(picture: np.ndarray) -> tuple[str, ...]:
    """The colour nearest to each corner block's centre: top-left, top-right, bottom-left,
    bottom-right."""
    names = {"red": RED, "green": GREEN, "grey": GREY}
    found = []
    for row, col in ((8, 8), (8, -9), (-9, 8), (-9, -9)):
        pixel = picture[row, col].astype(int)
        found.append(min(names, key=lambda n: int(np.abs(pixel - names[n]).sum())))
    return tuple(found)


def gradient(height: int, width: int, channels: int) -> np.ndarray:
    """A smooth image, which lossy formats keep close."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height), 200 + 0 * x]
    return np.stack(planes[:channels], axis=-1).astype(np.uint8)


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random pixels, which only a lossless format returns exactly."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def require_exiftool() -> str:
    """The exiftool command; a missing one skips the test, or fails it under CI=true."""
    found = shutil.which("exiftool")
    if found is None:
        message = "exiftool is not installed (Debian: apt-get install libimage-exiftool-perl)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and under CI=true a missing tool is a failure", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def exiftool() -> str:
    return require_exiftool()


def set_orientation(exiftool: str, path: Path, value: int) -> None:
    """Write the EXIF Orientation tag with exiftool, and check that it says so afterwards."""
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", "-n", f"-Orientation={value}", str(path)],
        check=True,
        capture_output=True,
    )
    assert read_orientation(exiftool, path) == str(value)


def read_orientation(exiftool: str, path: Path) -> str:
    """The Orientation tag as exiftool reads it, or '' when the file has none."""
    shown = subprocess.run(
        [exiftool, "-n", "-s3", "-Orientation", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return shown.stdout.strip()


# How a camera stores an upright picture under each EXIF orientation (EXIF 2.32, tag 0x0112):
# the value says which edge of the picture the file's row 0 and column 0 hold.
STORED: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda up: up,  # row 0 is the top, column 0 the left
    2: lambda up: up[:, ::-1],  # top, right
    3: lambda up: up[::-1, ::-1],  # bottom, right
    4: lambda up: up[::-1, :],  # bottom, left
    5: lambda up: up.transpose(1, 0, 2),  # left, top
    6: lambda up: np.rot90(up, 1),  # right, top
    7: lambda up: np.rot90(up, 1)[:, ::-1],  # right, bottom
    8: lambda up: np.rot90(up, -1),  # left, bottom
}


# Reading upright ------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_each_exif_orientation_is_read_upright(
    exiftool: str, tmp_path: Path, orientation: int
) -> None:
    """A JPEG stored turned, with the Orientation a camera would write, reads as the upright
    picture: same shape, the same colour in each corner, the same pixels within JPEG's loss."""
    upright = marked()
    photo = tmp_path / f"orientation-{orientation}.jpg"
    stored = np.ascontiguousarray(STORED[orientation](upright))
    Image.fromarray(stored).save(photo, quality=95, subsampling=0)
    set_orientation(exiftool, photo, orientation)

    pixels = read_image(photo)

    assert pixels.shape == upright.shape
    assert pixels.dtype == np.uint8
    assert corners(pixels) == ("red", "green", "grey", "grey")
    assert np.abs(pixels.astype(int) - upright).mean() < 2


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_orientation_is_applied_in_every_format_that_carries_exif(
    exiftool: str, tmp_path: Path, suffix: str
) -> None:
    """PNG, TIFF and WebP carry EXIF too; a turned one reads upright, exactly."""
    upright = marked()
    path = tmp_path / f"turned{suffix}"
    Image.fromarray(np.ascontiguousarray(STORED[6](upright))).save(path, lossless=True)
    set_orientation(exiftool, path, 6)

    assert np.array_equal(read_image(path), upright)


@pytest.mark.parametrize("value", [0, 9])
def test_an_orientation_outside_the_eight_values_leaves_the_pixels_as_stored(
    exiftool: str, tmp_path: Path, value: int
) -> None:
    """A tag that names no orientation is ignored rather than guessed at."""
    stored = marked()
    path = tmp_path / "odd.png"
    Image.fromarray(stored).save(path)
    set_orientation(exiftool, path, value)

    assert np.array_equal(read_image(path), stored)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_converting_a_turned_photo_writes_upright_pixels_and_no_orientation(
    exiftool: str, tmp_path: Path, suffix: str
) -> None:
    """convert_image turns the pixels and drops the tag, so no viewer turns them again."""
    upright = marked()
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.ascontiguousarray(STORED[8](upright))).save(photo, quality=95)
    set_orientation(exiftool, photo, 8)

    converted = convert_image(photo, tmp_path / f"converted{suffix}")

    assert read_orientation(exiftool, converted) == ""
    assert corners(read_image(converted)) == ("red", "green", "grey", "grey")


@pytest.mark.parametrize(
    ("mode", "shape"), [("RGB", (6, 10, 3)), ("RGBA", (6, 10, 4)), ("L", (6, 10))]
)
def test_each_mode_gives_its_documented_shape(tmp_path: Path, mode: str, shape: tuple) -> None:
    """RGB is H×W×3, RGBA H×W×4 and L H×W, all uint8, whatever the file held."""
    path = tmp_path / "image.png"
    Image.fromarray(noise((6, 10, 4))).save(path)

    pixels = read_image(path, mode=mode)  # type: ignore[arg-type]

    assert pixels.shape == shape
    assert pixels.dtype == np.uint8
    assert pixels.flags.writeable


def test_a_sixteen_bit_image_keeps_its_high_byte(tmp_path: Path) -> None:
    """Pillow alone would clip 16-bit samples to 255; read_image keeps their contrast."""
    deep = (np.arange(64, dtype=np.uint16) * 1024 + 513).reshape(4, 16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)

    assert np.array_equal(read_image(path, mode="L"), (deep >> 8).astype(np.uint8))


@pytest.mark.parametrize(
    ("suffix", "transparency", "blue_alpha"), [(".gif", 0, 255), (".png", b"\x00\x80", 128)]
)
def test_a_palette_with_transparency_reads_as_alpha_or_as_its_colours(
    tmp_path: Path, suffix: str, transparency: int | bytes, blue_alpha: int
) -> None:
    """A palette's transparency (one index, or an alpha per index) becomes alpha in RGBA, and
    RGB gives the palette's colours without Pillow's warning about such palettes."""
    palette = Image.new("P", (2, 2))
    palette.putdata([0, 1, 1, 0])
    palette.putpalette([255, 0, 0, 0, 0, 255])
    path = tmp_path / f"palette{suffix}"
    palette.save(path, transparency=transparency)

    with_alpha = read_image(path, mode="RGBA")
    colours = read_image(path, mode="RGB")

    assert with_alpha[0, 1].tolist() == [0, 0, 255, blue_alpha]
    assert with_alpha[0, 0, 3] == 0
    assert colours[0, 1].tolist() == [0, 0, 255]


@pytest.mark.parametrize("mode", ["I", "F"])
def test_an_image_of_32_bit_samples_is_refused_with_advice(tmp_path: Path, mode: str) -> None:
    """32-bit samples have no known range, so read_image says how to read them instead."""
    path = tmp_path / "deep.tif"
    Image.new(mode, (4, 4), 70000).save(path)

    with pytest.raises(UnreadableFile, match=r"32-bit samples .*tifffile.* scale it to 0\.\.255"):
        read_image(path)


@pytest.mark.parametrize("kind", ["str", "Path", "asset url", "file url", "synced asset"])
def test_a_path_a_string_or_an_asset_names_the_file(tmp_path: Path, kind: str) -> None:
    """Paths, strings and rb.Assets (by their local path) all name the image to read."""
    path = tmp_path / "image.png"
    Image.fromarray(marked()).save(path)
    choices: dict[str, images.PathOrAsset] = {
        "str": str(path),
        "Path": path,
        "asset url": rb.Asset(url=str(path)),
        "file url": rb.Asset(url=f"file://{path}"),
        "synced asset": rb.Asset(url="s3://bucket/image.png", local=path),
    }

    assert np.array_equal(read_image(choices[kind]), marked())


# Errors a user can cause while reading ---------------------------------------------------------


def test_file_errors_are_permanent_failures_of_a_step() -> None:
    """UnreadableFile is an rb.PermanentError, so a module raising it is not retried."""
    assert issubclass(UnreadableFile, rb.PermanentError)


def test_a_missing_file_is_named_with_what_to_check(tmp_path: Path) -> None:
    """The message names the file and says what to check."""
    missing = tmp_path / "nowhere.jpg"
    with pytest.raises(UnreadableFile, match="does not exist: check the path") as caught:
        read_image(missing)
    assert str(caught.value).startswith(str(missing))
    assert caught.value.path == missing


def test_a_folder_is_not_an_image(tmp_path: Path) -> None:
    """A folder given as the image says it is one."""
    with pytest.raises(UnreadableFile, match=f"^{re.escape(str(tmp_path))} is a folder"):
        read_image(tmp_path)


def test_a_file_this_process_may_not_read_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied names the file and the fix (simulated: the tests may run as root)."""

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(UnreadableFile, match="permission denied\\): give its user read access"):
        read_image(tmp_path / "locked.png")


class DyingDisk(io.BytesIO):
    """A file whose reads fail past its first bytes, as a failing disk's or NFS mount's do."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= 64:
            raise OSError(errno.EIO, "Input/output error")
        return super().read(size)


def test_an_io_error_while_reading_is_raised_as_it_is_so_it_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO is the machine's failure, not the file's: it stays an OSError, which a module's
    step retries, instead of becoming a permanent UnreadableFile."""
    path = write_image(noise((64, 64, 3)), tmp_path / "image.png")
    data = path.read_bytes()
    monkeypatch.setattr(Path, "open", lambda self, *args, **kwargs: DyingDisk(data))

    with pytest.raises(OSError, match="Input/output error"):
        read_image(path)


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"%PDF-1.7\n"])
def test_a_file_that_is_no_image_is_named(tmp_path: Path, content: bytes) -> None:
    """Text, an empty file or a PDF is refused with the formats read_image opens."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(
        UnreadableFile, match=r"photo\.jpg is not an image read_image can open \(PNG, JPEG"
    ):
        read_image(path)


@pytest.mark.parametrize("suffix", [".eps", ".ppm", ".ico"])
def test_formats_outside_the_six_are_refused(tmp_path: Path, suffix: str) -> None:
    """Pillow opens EPS (through Ghostscript), PPM and ICO; read_image does not."""
    path = tmp_path / f"image{suffix}"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(UnreadableFile, match="is not an image read_image can open"):
        read_image(path)


@pytest.mark.parametrize(("suffix", "keep"), [(".jpg", 0.6), (".png", 0.6), (".webp", 0.5)])
def test_a_truncated_image_is_refused(tmp_path: Path, suffix: str, keep: float) -> None:
    """A file cut short (an interrupted copy) says so instead of giving half a picture."""
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray(noise((64, 64, 3))).save(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])

    with pytest.raises(UnreadableFile, match=r"cut\.\w+ is truncated or damaged .*write it again"):
        read_image(cut)


def test_an_unknown_mode_is_refused_naming_the_file_and_the_modes(tmp_path: Path) -> None:
    """An unsupported mode is the caller's mistake: a ValueError listing the three."""
    path = tmp_path / "image.png"
    with pytest.raises(ValueError, match=r"image\.png as mode 'CMYK': read_image returns 'L'"):
        read_image(path, mode="CMYK")  # type: ignore[arg-type]


@functools.cache
def damaged_sources() -> dict[str, bytes]:
    """One small valid file per readable format, to damage."""
    sources = {}
    for kind in ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"):
        buffer = io.BytesIO()
        Image.fromarray(gradient(12, 20, 3)).save(buffer, format=kind)
        sources[kind] = buffer.getvalue()
    return sources


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("damaged")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
)
def test_a_damaged_image_reads_or_raises_unreadable_file_never_anything_else(
    scratch: Path, kind: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    """Whatever bytes are cut or changed, read_image returns pixels or an UnreadableFile."""
    data = bytearray(damaged_sources()[kind])
    for where, value in flips:
        data[int(where * len(data))] = value
    path = scratch / "damaged.bin"
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
    refused: UnreadableFile | None = None
    try:
        pixels = read_image(path)
    except UnreadableFile as exc:
        refused = exc
    if refused is not None:
        assert str(refused).startswith(str(path))
    else:
        assert pixels.dtype == np.uint8
        assert pixels.ndim == 3
        assert pixels.shape[2] == 3


# Decompression bombs ---------------------------------------------------------------------------


def png_claiming(tmp_path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width``×``height`` pixels (with a valid checksum)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    return path


def test_the_named_limit_is_pillows_own_and_pillows_guard_stays_on() -> None:
    """MAX_IMAGE_PIXELS is Pillow's default, and importing the helpers leaves Pillow's alone."""
    assert MAX_IMAGE_PIXELS == 89_478_485
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS


def test_an_image_far_over_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    """A header claiming 10 gigapixels is refused at once, without allocating them."""
    bomb = png_claiming(tmp_path, 100_000, 100_000)
    started = time.perf_counter()
    with pytest.raises(UnreadableFile, match=r"bomb\.png is too large to decode safely .*shrink"):
        read_image(bomb)
    assert time.perf_counter() - started < 1


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_over_the_limit_is_refused_where_pillow_only_warns(tmp_path: Path) -> None:
    """Between one and two limits Pillow only warns; read_image refuses, naming the limit."""
    bomb = png_claiming(tmp_path, 10_000, 9_000)
    with pytest.raises(UnreadableFile, match=r"10000×9000 = 90,000,000 pixels .*MAX_IMAGE_PIXELS"):
        read_image(bomb)


def test_the_limit_holds_even_when_pillows_guard_was_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code elsewhere in the process turning Pillow's guard off does not turn off this one."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    bomb = png_claiming(tmp_path, 100_000, 100_000)
    with pytest.raises(UnreadableFile, match="is more than MAX_IMAGE_PIXELS"):
        read_image(bomb)


# Writing ---------------------------------------------------------------------------------------


LOSSLESS = [
    (".png", "L"),
    (".png", "RGB"),
    (".png", "RGBA"),
    (".tif", "L"),
    (".tif", "RGB"),
    (".tif", "RGBA"),
    (".bmp", "L"),
    (".bmp", "RGB"),
    (".webp", "L"),
    (".webp", "RGB"),
    (".webp", "RGBA"),
]
CHANNELS = {"L": (), "RGB": (3,), "RGBA": (4,)}


@pytest.mark.parametrize(("suffix", "mode"), LOSSLESS)
def test_lossless_formats_round_trip_exactly(tmp_path: Path, suffix: str, mode: str) -> None:
    """PNG, TIFF, BMP and WebP (written without a quality) give back every pixel, alpha too,
    even the colour under fully transparent pixels."""
    pixels = noise((9, 13, *CHANNELS[mode]))
    if mode == "RGBA":
        pixels[0, :, 3] = 0

    written = write_image(pixels, tmp_path / f"image{suffix}")

    assert written == tmp_path / f"image{suffix}"
    assert np.array_equal(read_image(written, mode=mode), pixels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("suffix", "quality", "mode"),
    [(".jpg", None, "RGB"), (".jpeg", 80, "RGB"), (".jpg", None, "L"), (".webp", 90, "RGBA")],
)
def test_lossy_formats_round_trip_closely(
    tmp_path: Path, suffix: str, quality: int | None, mode: str
) -> None:
    """JPEG, and WebP given a quality, give back a smooth picture within a few levels."""
    pixels = gradient(48, 64, {"L": 1, "RGB": 3, "RGBA": 4}[mode])
    if mode == "L":
        pixels = pixels[:, :, 0]

    written = write_image(pixels, tmp_path / f"image{suffix}", quality=quality)

    back = read_image(written, mode=mode)  # type: ignore[arg-type]
    assert back.shape == pixels.shape
    assert np.abs(back.astype(int) - pixels).mean() < 2


def test_jpeg_quality_is_applied_and_defaults_to_the_named_one(tmp_path: Path) -> None:
    """A lower quality makes a smaller file; no quality means JPEG_QUALITY."""
    pixels = noise((64, 64, 3))
    low = write_image(pixels, tmp_path / "low.jpg", quality=10)
    default = write_image(pixels, tmp_path / "default.jpg")
    named = write_image(pixels, tmp_path / "named.jpg", quality=images.JPEG_QUALITY)

    assert low.stat().st_size < default.stat().st_size
    assert default.read_bytes() == named.read_bytes()


@pytest.mark.parametrize(
    ("name", "given", "magic"),
    [
        ("out", "png", b"\x89PNG"),
        ("out.dat", "JPEG", b"\xff\xd8"),
        ("OUT.PNG", None, b"\x89PNG"),
        ("out.jpg", "jpg", b"\xff\xd8"),
        ("out.tiff", "tif", b"II*\x00"),
    ],
)
def test_the_format_comes_from_the_argument_or_the_suffix(
    tmp_path: Path, name: str, given: str | None, magic: bytes
) -> None:
    """format= names it for a path without a known suffix; suffixes are read in any case."""
    written = write_image(noise((4, 4, 3)), tmp_path / name, format=given)
    assert written.read_bytes().startswith(magic)


def test_a_single_channel_is_written_as_grey(tmp_path: Path) -> None:
    """H×W×1, as OpenCV code often holds grey, is written as a grey image."""
    pixels = noise((5, 7, 1))
    written = write_image(pixels, tmp_path / "grey.png")
    with Image.open(written) as image:
        assert image.mode == "L"
    assert np.array_equal(read_image(written, mode="L"), pixels[:, :, 0])


def test_an_asset_is_written_at_its_local_path(tmp_path: Path) -> None:
    """ctx.new_asset(...) gives an rb.Asset; write_image writes it where it lives."""
    asset = rb.Asset(url=str(tmp_path / "mask.png"), local=tmp_path / "mask.png")
    assert write_image(noise((3, 3)), asset) == tmp_path / "mask.png"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif", ".bmp"])
def test_written_images_carry_no_exif_orientation(tmp_path: Path, suffix: str) -> None:
    """The pixels are upright, so nothing written asks a viewer to turn them."""
    written = write_image(marked(), tmp_path / f"image{suffix}")
    with Image.open(written) as image:
        assert 0x0112 not in image.getexif()


def test_written_files_get_the_mode_open_would_give_them(tmp_path: Path) -> None:
    """The temporary file is made through the umask, not with tempfile's owner-only 0600."""
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    written = write_image(noise((2, 2)), tmp_path / "image.png")
    saved = save_array(np.zeros(3), tmp_path / "array.npy")
    assert written.stat().st_mode == reference.stat().st_mode
    assert saved.stat().st_mode == reference.stat().st_mode


# Errors a user can cause while writing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4), np.float64), r"got float64; for values in 0\.\.1, write np\.clip"),
        (np.zeros((4, 4), bool), r"got bool; for a mask, write mask\.astype\(np\.uint8\) \* 255"),
        (np.zeros((4, 4), np.uint16), r"got uint16; scale the values to 0\.\.255"),
        (np.zeros(16, np.uint8), r"H×W×3 \(RGB\) or H×W×4 \(RGBA\) array, got shape \(16,\)"),
        (np.zeros((4, 4, 2), np.uint8), r"got shape \(4, 4, 2\)"),
        (np.zeros((4, 4, 5), np.uint8), r"got shape \(4, 4, 5\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"got shape \(2, 4, 4, 3\)"),
        (np.zeros((0, 4, 3), np.uint8), r"the array has no pixels \(shape \(0, 4, 3\)\)"),
    ],
)
def test_arrays_of_the_wrong_dtype_or_shape_are_refused(
    tmp_path: Path, array: np.ndarray, message: str
) -> None:
    """The message names the file, what was wrong and how to convert; nothing is written."""
    target = tmp_path / "out.png"
    with pytest.raises(ValueError, match=f"cannot write {re.escape(str(target))}: .*{message}"):
        write_image(array, target)
    assert list(tmp_path.iterdir()) == []


def test_something_other_than_an_array_is_a_type_error(tmp_path: Path) -> None:
    """A list of pixels is refused by type, so nothing guesses a dtype for it."""
    with pytest.raises(TypeError, match=r"write_image takes a numpy array, got \[\[0, 0\]\]"):
        write_image([[0, 0]], tmp_path / "out.png")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("out", None, r"cannot tell which format to write .*out in: name it \.png"),
        ("out.gif", None, r"cannot tell which format .*or pass format="),
        ("out.png", "gif", r"as 'gif': write_image writes png, jpeg, webp, tiff or bmp"),
        ("out.png", "jpeg", r"out\.png as JPEG: its suffix \.png says PNG; rename it"),
    ],
)
def test_a_format_that_cannot_be_told_or_disagrees_is_refused(
    tmp_path: Path, name: str, given: str | None, message: str
) -> None:
    """Without a usable suffix or format, or when the two disagree, nothing is written."""
    with pytest.raises(ValueError, match=message):
        write_image(noise((4, 4, 3)), tmp_path / name, format=given)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "quality", "message"),
    [
        ("out.jpg", 0, r"JPEG quality is a whole number from 1 to 95, got 0"),
        ("out.jpg", 96, r"from 1 to 95, got 96"),
        ("out.jpg", 50.5, r"from 1 to 95, got 50\.5"),
        ("out.jpg", True, r"from 1 to 95, got True"),
        ("out.webp", 101, r"WEBP quality is a whole number from 1 to 100, got 101"),
        ("out.png", 80, r"with a quality: PNG is lossless; quality applies to JPEG and WebP"),
    ],
)
def test_a_quality_out_of_bounds_or_for_a_lossless_format_is_refused(
    tmp_path: Path, name: str, quality: Any, message: str
) -> None:
    """JPEG quality is 1–95, WebP 1–100; lossless formats take none."""
    with pytest.raises(ValueError, match=message):
        write_image(noise((4, 4, 3)), tmp_path / name, quality=quality)


def test_a_numpy_integer_is_a_quality(tmp_path: Path) -> None:
    """Quality computed with numpy (np.int64) is a whole number like any other."""
    written = write_image(noise((4, 4, 3)), tmp_path / "out.jpg", quality=np.int64(70))  # type: ignore[arg-type]
    assert written.read_bytes().startswith(b"\xff\xd8")


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_is_not_dropped_silently(tmp_path: Path, suffix: str) -> None:
    """JPEG and BMP keep no alpha: writing RGBA to them says how to proceed."""
    with pytest.raises(
        ValueError, match=r"keeps no alpha channel; drop it with array\[\.\.\., :3\]"
    ):
        write_image(noise((4, 4, 4)), tmp_path / f"out{suffix}")


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    """Writing into a folder that does not exist names the folder, not a temporary file."""
    target = tmp_path / "absent" / "out.png"
    with pytest.raises(FileNotFoundError, match=f"the folder {re.escape(str(target.parent))} does"):
        write_image(noise((4, 4)), target)


# Converting -----------------------------------------------------------------------------------


def test_converting_keeps_grey_as_grey_and_alpha_where_the_format_holds_it(tmp_path: Path) -> None:
    """Grey stays one channel; transparency survives into WebP; nothing is widened needlessly."""
    grey = write_image(noise((6, 6)), tmp_path / "grey.png")
    with Image.open(convert_image(grey, tmp_path / "grey.tif")) as image:
        assert image.mode == "L"
    clear = noise((6, 6, 4))
    clear[0, 0, 3] = 0
    source = write_image(clear, tmp_path / "clear.png")
    assert np.array_equal(
        read_image(convert_image(source, tmp_path / "clear.webp"), mode="RGBA"), clear
    )


def test_converting_transparency_to_a_format_without_alpha_is_refused(tmp_path: Path) -> None:
    """Transparent pixels would turn into whatever colour lay under them; that is refused."""
    clear = noise((6, 6, 4))
    clear[0, 0, 3] = 0
    source = write_image(clear, tmp_path / "clear.png")
    with pytest.raises(ValueError, match="it has transparent pixels and JPEG keeps no alpha"):
        convert_image(source, tmp_path / "clear.jpg")


def test_converting_opaque_alpha_to_jpeg_drops_it(tmp_path: Path) -> None:
    """An alpha channel that is opaque everywhere carries nothing, so it may go."""
    opaque = gradient(16, 16, 4)
    opaque[:, :, 3] = 255
    source = write_image(opaque, tmp_path / "opaque.png")
    converted = convert_image(source, tmp_path / "opaque.jpg", quality=95)
    assert np.abs(read_image(converted).astype(int) - opaque[:, :, :3]).mean() < 2


# Atomic writes ---------------------------------------------------------------------------------


def write_an_image(target: Path) -> None:
    write_image(noise((8, 8, 3)), target)


def save_an_array(target: Path) -> None:
    save_array(np.arange(10), target)


@pytest.mark.parametrize(
    ("writer", "patched", "name"),
    [(write_an_image, (Image.Image, "save"), "out.png"), (save_an_array, (np, "save"), "out.npy")],
)
@pytest.mark.parametrize("failure", [OSError("disk went away"), KeyboardInterrupt()])
def test_a_writer_failing_midway_leaves_the_old_file_and_no_temporary(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    writer: Callable[[Path], None],
    patched: tuple[Any, str],
    name: str,
    failure: BaseException,
) -> None:
    """Half-written bytes go to a temporary file that is removed; the old file is untouched."""
    target = tmp_path / name
    target.write_bytes(b"the previous version")

    def fail_halfway(*args: Any, **kwargs: Any) -> None:
        file = next(a for a in (*args, *kwargs.values()) if hasattr(a, "write"))
        file.write(b"half of it")
        raise failure

    monkeypatch.setattr(*patched, fail_halfway)
    with pytest.raises(type(failure)):
        writer(target)

    assert target.read_bytes() == b"the previous version"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_failed_first_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When there was no file before, there is none after a failure."""

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk went away"):
        write_an_image(tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_killed_writer_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """kill -9 while an image is half written: the old image stays whole under its name, and
    only a hidden temporary file is left beside it."""
    target = tmp_path / "out.png"
    write_image(marked(), target)
    before = target.read_bytes()
    code = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        from PIL import Image
        from rainbow.helpers.images import write_image

        def stall(self, file, *args, **kwargs):
            file.write(b"half an image")
            file.flush()
            print("writing", flush=True)
            time.sleep(60)

        Image.Image.save = stall
        write_image(np.zeros((8, 8, 3), np.uint8), sys.argv[1])
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "writing\n"
        finally:
            writer.kill()

    assert target.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1
    assert re.fullmatch(r"\.out\.png\.[0-9a-f]{8}\.tmp", leftovers[0])


# Arrays ----------------------------------------------------------------------------------------


NUMERIC = (
    hnp.boolean_dtypes()
    | hnp.integer_dtypes(endianness="?")
    | hnp.unsigned_integer_dtypes(endianness="?")
    | hnp.floating_dtypes(endianness="?")
    | hnp.complex_number_dtypes(endianness="?")
)


@settings(max_examples=200, deadline=None)
@given(
    array=hnp.arrays(NUMERIC, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
    layout=st.sampled_from(["C", "F", "strided"]),
)
def test_numeric_arrays_round_trip_bit_for_bit(
    scratch: Path, array: np.ndarray, layout: str
) -> None:
    """Any bool, integer, float or complex array, in either byte order and any layout, comes
    back with the same dtype, shape and bits (NaN payloads and -0.0 included)."""
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = array[::2]
    path = save_array(array, scratch / "array.npy")

    loaded = load_array(path)

    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    assert loaded.tobytes() == array.tobytes()


def test_a_structured_array_with_unicode_field_names_round_trips(tmp_path: Path) -> None:
    """Such names make numpy write format 3.0, which load_array reads too."""
    array = np.array([(1, 2.5)], dtype=[("größe", "<i4"), ("wert", "<f8")])
    loaded = load_array(save_array(array, tmp_path / "fields.npy"))
    assert loaded.dtype == array.dtype
    assert loaded.tolist() == array.tolist()


@pytest.mark.parametrize(
    "array",
    [
        np.array([{"a": 1}, None], dtype=object),
        np.array([(1, "x")], dtype=[("n", "i4"), ("o", "O")]),
    ],
)
def test_arrays_of_python_objects_are_never_saved(tmp_path: Path, array: np.ndarray) -> None:
    """Objects need pickle, which Rainbow never accepts; the message says what to save."""
    with pytest.raises(ValueError, match=r"holds Python objects .*Rainbow never accepts pickle"):
        save_array(array, tmp_path / "objects.npy")
    assert list(tmp_path.iterdir()) == []


def test_save_array_names_npy_files_only(tmp_path: Path) -> None:
    """Another suffix would let np.load guess the format; save_array writes .npy."""
    with pytest.raises(ValueError, match=r"save_array writes \.npy files; name it \*\.npy"):
        save_array(np.zeros(3), tmp_path / "array.npz")


def test_a_masked_array_is_refused_rather_than_saved_without_its_mask(tmp_path: Path) -> None:
    """.npy has no place for the mask, so saving one would lose it silently."""
    with pytest.raises(ValueError, match=r"keeps no mask; save array\.data and array\.mask apart"):
        save_array(np.ma.masked_array([1, 2], mask=[False, True]), tmp_path / "masked.npy")


def test_save_array_takes_arrays_only(tmp_path: Path) -> None:
    """A list could become an object array; it is refused by type."""
    with pytest.raises(TypeError, match="save_array takes a numpy array"):
        save_array([1, 2], tmp_path / "list.npy")  # type: ignore[arg-type]


def make_object_npy(path: Path) -> None:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


def make_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [1, 2]}))


def make_npz(path: Path) -> None:
    with path.open("wb") as file:
        np.savez(file, a=np.zeros(2))


def make_truncated(path: Path) -> None:
    np.save(path, np.arange(100))
    path.write_bytes(path.read_bytes()[:-8])


def make_trailing(path: Path) -> None:
    np.save(path, np.arange(100))
    path.write_bytes(path.read_bytes() + b"junk")


def make_claiming_a_terabyte(path: Path) -> None:
    """A header promising 10**12 float64s, with no data behind it."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    with path.open("wb") as file:
        np.lib.format.write_array_header_1_0(file, header)


def make_text(path: Path) -> None:
    path.write_text("1,2,3\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (make_object_npy, r"holds Python objects \(dtype object\), stored as a pickle"),
        (make_pickle, "holds a Python pickle, which Rainbow never loads"),
        (make_npz, r"is a \.npz archive; load_array reads one \.npy array"),
        (make_truncated, "is truncated: its header promises 800 bytes of data, it holds 792"),
        (make_trailing, "is damaged: 4 bytes follow the 800 its header names"),
        (make_claiming_a_terabyte, "is truncated: its header promises 8,000,000,000,000 bytes"),
        (make_text, r"is not a \.npy file: it does not start as one"),
    ],
)
def test_load_array_refuses_what_is_not_a_whole_numeric_npy_file(
    tmp_path: Path, make: Callable[[Path], None], message: str
) -> None:
    """Pickles, archives and damaged files are refused by name, before anything is allocated."""
    path = tmp_path / "input.npy"
    make(path)
    with pytest.raises(UnreadableFile, match=f"^{re.escape(str(path))} {message}"):
        load_array(path)


def test_load_array_names_a_missing_file(tmp_path: Path) -> None:
    """A missing .npy is refused like a missing image."""
    with pytest.raises(UnreadableFile, match=r"absent\.npy does not exist"):
        load_array(tmp_path / "absent.npy")


# Inside a module --------------------------------------------------------------------------------


class Thumbnail(TypedDict):
    thumbnail: rb.Asset


@rb.module(name="thumbnail", retries=3, timeout=10)
def thumbnail(ctx: rb.Context, photo: rb.Asset) -> Thumbnail:
    pixels = read_image(photo)
    out = ctx.new_asset("thumbnail.png")
    write_image(pixels[::2, ::2], out)
    return {"thumbnail": out}


def thumbnail_task(photo: Path) -> Task:
    return Task(
        run_id="run1",
        step="thumbnail",
        attempt=1,
        module="thumbnail",
        version="latest",
        inputs={"photo": {"$asset": str(photo)}},
        timeout=10,
        deadline=time.time() + 3600,
    )


def test_a_module_reads_and_writes_with_the_helpers(tmp_path: Path) -> None:
    """A module's input asset reads upright and its output asset is published whole."""
    photo = write_image(marked(), tmp_path / "photo.png")
    env = WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "work")

    result = invoke(thumbnail, thumbnail_task(photo), env)

    assert result["status"] == "succeeded", result["error"]
    published = Path(result["outputs"]["thumbnail"]["$asset"])  # type: ignore[index]
    assert read_image(published).shape == (16, 24, 3)


def test_a_damaged_input_fails_the_step_at_once_without_retrying(tmp_path: Path) -> None:
    """UnreadableFile reaches the engine as a permanent failure naming the file."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    env = WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "work")

    result = invoke(thumbnail, thumbnail_task(photo), env)

    assert result["status"] == "failed"
    assert result["error"] is not None
    assert result["error"]["retryable"] is False
    assert result["error"]["type"] == "UnreadableFile"
    assert result["error"]["message"].startswith(str(photo))


# The package -----------------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ holds every public name the module defines, and nothing it merely imports."""
    tree = ast.parse(inspect.getsource(images))
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    public = {name for name in vars(images) if not name.startswith("_")} - imported
    assert sorted(images.__all__) == sorted(public)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("missing", ["numpy", "PIL"])
def test_without_the_vision_extra_the_import_error_names_it(missing: str) -> None:
    """Importing the helpers without numpy or Pillow says which extra installs them."""
    ran = run_python(f"import sys; sys.modules[{missing!r}] = None; import rainbow.helpers.images")
    assert ran.returncode == 1
    assert "ImportError: rainbow.helpers.images needs numpy and Pillow" in ran.stderr
    assert "pip install 'rainbow[vision]'" in ran.stderr


def test_rainbow_and_its_helpers_package_import_neither_numpy_nor_pillow() -> None:
    """Rainbow's core does not need the vision extra; only rainbow.helpers.images does."""
    ran = run_python(
        "import sys, rainbow, rainbow.helpers; "
        "print(sorted({'numpy', 'PIL'} & {m.split('.')[0] for m in sys.modules}))"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_a_missing_exiftool_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The orientation tests may skip on a laptop, never in CI."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI=true a missing tool is a failure"):
        require_exiftool()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="exiftool is not installed"):
        require_exiftool()
