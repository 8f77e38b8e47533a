"""Images and arrays as modules read and write them: upright, written whole, never pickled.

``read_image`` returns the pixels a viewer shows: it applies the EXIF Orientation tag (all eight
values), so a photo taken with the phone on its side arrives upright. ``write_image`` writes
those pixels with no orientation tag, so nothing turns them a second time. It reads PNG, JPEG
(MPO included), WebP, TIFF, BMP and GIF (the first frame), and writes the first five. Other
formats Pillow knows are refused, since a pipeline's inputs come from outside: EPS would run
Ghostscript on them.

Every write is atomic: the file is written under a hidden temporary name in the same folder and
renamed into place, so a process killed midway leaves the previous file (or none), never half of
one; at worst a ``.NAME.*.tmp`` file stays beside it. The guarantee is against a killed process,
not a power cut (there is no fsync): a machine that dies loses its attempt, which is retried.

Decompression bombs: Pillow's own guard stays on (``PIL.Image.MAX_IMAGE_PIXELS`` is never
changed), and ``read_image`` also refuses any image of more than :data:`MAX_IMAGE_PIXELS`
pixels before decoding it, even where Pillow would only warn or its guard was turned off.

Arrays are ``.npy`` files, written and read with ``allow_pickle=False`` always: pickle is never
accepted in Rainbow, so an array of Python objects is refused on both sides.

What is wrong with a *file* (missing, not an image, damaged, too large, pickled) raises
:class:`UnreadableFile`, an ``rb.PermanentError``: the same bytes fail the same way every time,
so inside a module the step fails at once with the message instead of spending its retries.
Transient I/O errors (EIO, a network filesystem gone away) are raised as they are, and retried.
What is wrong with an *argument* (a mode, a format, a quality, an array's dtype or shape) raises
ValueError or TypeError, as Python does for a caller's mistake.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeAlias, get_args

from rainbow.errors import PermanentError
from rainbow.spec.asset import Asset

# At the top rather than in each function: a worker imports its module code before taking
# tasks, so a missing extra stops it at start-up with this message, not on its first attempt.
try:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image, ImageOps
except ImportError as exc:
    raise ImportError(
        f"rainbow.helpers.images needs numpy and Pillow ({exc}): "
        "install them with pip install 'rainbow[vision]'"
    ) from exc

__all__ = [
    "JPEG_QUALITY",
    "MAX_IMAGE_PIXELS",
    "Mode",
    "PathOrAsset",
    "UnreadableFile",
    "convert_image",
    "load_array",
    "read_image",
    "save_array",
    "write_image",
]

MAX_IMAGE_PIXELS = 1024 * 1024 * 1024 // 4 // 3
"""The most pixels ``read_image`` decodes: Pillow's default, a quarter GiB of RGB pixels."""

JPEG_QUALITY = 95
"""The quality of a JPEG written without one: OpenCV's default, which most module code was
written against, and Pillow's advised maximum; images passed between steps should lose little."""

Mode: TypeAlias = Literal["L", "RGB", "RGBA"]
PathOrAsset: TypeAlias = str | os.PathLike[str] | Asset

_READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
_SUFFIXES = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_FORMAT_NAMES = {
    "png": "PNG",
    "jpeg": "JPEG",
    "jpg": "JPEG",
    "webp": "WEBP",
    "tiff": "TIFF",
    "tif": "TIFF",
    "bmp": "BMP",
}
# Pillow reads BMP's fourth channel back as padding, so alpha written there would be lost.
_WITHOUT_ALPHA = ("JPEG", "BMP")
# Above 95 Pillow turns parts of JPEG compression off: much bigger files, no visible gain.
_QUALITY_LIMITS = {"JPEG": 95, "WEBP": 100}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


class UnreadableFile(PermanentError):
    """A file these helpers cannot read; ``path`` names it and the message says what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.path = path


def read_image(source: PathOrAsset, *, mode: Mode = "RGB") -> NDArray[np.uint8]:
    """The image at ``source`` turned upright, as uint8 pixels: H×W×3 for ``"RGB"``, H×W×4 for
    ``"RGBA"``, H×W for ``"L"`` (grey). 16-bit images keep their high byte, as OpenCV's do."""
    path = _path_of(source)
    if mode not in get_args(Mode):
        raise ValueError(
            f"cannot read {path} as mode {mode!r}: read_image returns 'L' (grey, H×W), "
            "'RGB' (H×W×3) or 'RGBA' (H×W×4)"
        )
    return np.array(_convert(_upright(path), mode, path))


def write_image(
    array: NDArray[Any],
    path: PathOrAsset,
    *,
    format: str | None = None,  # noqa: A002 - the name Pillow's Image.save gives it
    quality: int | None = None,
) -> Path:
    """Write uint8 pixels (H×W grey, H×W×1, H×W×3 RGB or H×W×4 RGBA) atomically to ``path``.

    The format comes from ``format`` (png, jpeg, webp, tiff, bmp) or else from the suffix.
    ``quality`` (JPEG 1–95, default :data:`JPEG_QUALITY`; WebP 1–100) makes a lossy file; a WebP
    written without one is lossless, and PNG, TIFF and BMP always are. Returns the path written.
    """
    target = _path_of(path)
    kind = _format_of(target, format)
    image = _image_of(array, target)
    options = _save_options(kind, image.mode, quality, target)
    _write_atomically(target, lambda file: image.save(file, format=kind, **options))
    return target


def convert_image(
    src: PathOrAsset,
    dst: PathOrAsset,
    *,
    format: str | None = None,  # noqa: A002 - as in write_image
    quality: int | None = None,
) -> Path:
    """Read ``src`` upright and write it to ``dst`` (see :func:`write_image`), keeping grey as
    grey and transparency where ``dst``'s format holds it. Returns the path written."""
    source, target = _path_of(src), _path_of(dst)
    kind = _format_of(target, format)
    image = _upright(source)
    mode: Mode = "L" if image.mode in ("1", "L", "LA", "La") else "RGB"
    if image.has_transparency_data:
        if kind not in _WITHOUT_ALPHA:
            mode = "RGBA"
        elif _convert(image, "RGBA", source).getchannel("A").getextrema() != (255, 255):
            raise ValueError(
                f"cannot convert {source} to {kind}: it has transparent pixels and {kind} keeps "
                "no alpha channel; write PNG, WebP or TIFF, or flatten it onto a background first"
            )
    pixels = np.array(_convert(image, mode, source))
    return write_image(pixels, target, format=format, quality=quality)


def save_array(array: NDArray[Any], path: PathOrAsset) -> Path:
    """Write ``array`` atomically as a ``.npy`` file, never pickled. Returns the path written."""
    target = _path_of(path)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"cannot save {target}: save_array takes a numpy array, got {array!r:.80}")
    if target.suffix != ".npy":
        raise ValueError(f"cannot save {target}: save_array writes .npy files; name it *.npy")
    if array.dtype.hasobject:
        raise ValueError(
            f"cannot save {target}: the array holds Python objects (dtype {array.dtype}), which "
            "only pickle can store, and Rainbow never accepts pickle; save numbers instead "
            "(e.g. array.astype(np.float64)), or write JSON"
        )
    if isinstance(array, np.ma.MaskedArray):
        raise ValueError(
            f"cannot save {target}: .npy keeps no mask; save array.data and array.mask apart"
        )
    _write_atomically(target, lambda file: np.save(file, array, allow_pickle=False))
    return target


def load_array(path: PathOrAsset) -> NDArray[Any]:
    """The array in the ``.npy`` file at ``path``; pickled data and ``.npz`` archives are refused,
    and so is a file whose size disagrees with its header, before anything is allocated."""
    source = _path_of(path)
    with _open(source) as file:
        _check_npy(file, source)
        file.seek(0)
        try:
            array: NDArray[Any] = np.lib.format.read_array(file, allow_pickle=False)
        except ValueError as exc:
            raise UnreadableFile(source, f"is not a readable .npy file: {exc}") from exc
    return array


def _path_of(where: PathOrAsset) -> Path:
    return where.path if isinstance(where, Asset) else Path(where)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise UnreadableFile(
            path, "does not exist: check the path, or that the step making it wrote it there"
        ) from exc
    except IsADirectoryError as exc:
        raise UnreadableFile(path, "is a folder, not a file: name a file inside it") from exc
    except PermissionError as exc:
        raise UnreadableFile(
            path, "cannot be read by this process (permission denied): give its user read access"
        ) from exc


def _upright(path: Path) -> Image.Image:
    """The decoded image turned upright, in a mode Pillow converts to L, RGB and RGBA."""
    with _open(path) as file:
        try:
            opened = Image.open(file, formats=_READ_FORMATS)
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(
                    f"{width}×{height} = {width * height:,} pixels is more than "
                    f"MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS:,})"
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
        except Image.UnidentifiedImageError as exc:
            raise UnreadableFile(
                path, "is not an image read_image can open (PNG, JPEG, WebP, TIFF, BMP or GIF)"
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnreadableFile(
                path,
                f"is too large to decode safely ({exc}): shrink it before it enters a pipeline",
            ) from exc
        except OSError as exc:
            if exc.errno is not None:
                raise  # the disk or the network failed, not the file: a retry may succeed
            raise UnreadableFile(path, f"is truncated or damaged ({exc}): write it again") from exc
        except MemoryError:
            raise
        except Exception as exc:
            # Pillow's plugins raise SyntaxError, ValueError, struct.error, IndexError… for
            # damaged files; the bytes will not change, so neither will the outcome.
            raise UnreadableFile(path, f"is truncated or damaged ({exc}): write it again") from exc
    if image.mode in _SIXTEEN_BIT:
        # Pillow would clip 16-bit samples to 255; their high byte keeps the picture.
        return Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
    if image.mode in ("I", "F"):
        raise UnreadableFile(
            path,
            f"holds 32-bit samples (Pillow mode {image.mode}) whose range read_image cannot "
            "know: read it with Pillow or tifffile and scale it to 0..255 yourself",
        )
    if image.mode in ("P", "PA"):
        # A palette's transparency becomes alpha here; converting straight to RGB would warn.
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image


def _convert(image: Image.Image, mode: Mode, path: Path) -> Image.Image:
    try:
        return image.convert(mode)
    except ValueError as exc:  # e.g. a LAB TIFF, which needs a colour profile to become RGB
        raise UnreadableFile(
            path, f"is in Pillow mode {image.mode}, which read_image cannot turn into {mode}"
        ) from exc


def _format_of(path: Path, format: str | None) -> str:  # noqa: A002 - as in write_image
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if format is None:
        if by_suffix is None:
            raise ValueError(
                f"cannot tell which format to write {path} in: name it .png, .jpg, .webp, .tif "
                "or .bmp, or pass format="
            )
        return by_suffix
    given = _FORMAT_NAMES.get(format.lower())
    if given is None:
        raise ValueError(
            f"cannot write {path} as {format!r}: write_image writes png, jpeg, webp, tiff or bmp"
        )
    if by_suffix not in (None, given):
        raise ValueError(
            f"cannot write {path} as {given}: its suffix {path.suffix} says {by_suffix}; "
            "rename it or leave format out"
        )
    return given


def _image_of(array: NDArray[Any], path: Path) -> Image.Image:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"cannot write {path}: write_image takes a numpy array, got {array!r:.80}")
    if array.dtype != np.uint8:
        raise ValueError(
            f"cannot write {path}: write_image takes uint8 pixels (0..255), got {array.dtype}; "
            + _conversion_hint(array.dtype)
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(
            f"cannot write {path}: write_image takes an H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA) "
            f"array, got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"cannot write {path}: the array has no pixels (shape {array.shape})")
    return Image.fromarray(np.ascontiguousarray(array))


def _conversion_hint(dtype: np.dtype[Any]) -> str:
    if dtype == np.bool_:
        return "for a mask, write mask.astype(np.uint8) * 255"
    if np.issubdtype(dtype, np.floating):
        return "for values in 0..1, write np.clip(array * 255, 0, 255).round().astype(np.uint8)"
    return "scale the values to 0..255 and convert them with .astype(np.uint8)"


def _save_options(kind: str, mode: str, quality: int | None, path: Path) -> dict[str, Any]:
    if mode == "RGBA" and kind in _WITHOUT_ALPHA:
        raise ValueError(
            f"cannot write {path}: {kind} keeps no alpha channel; drop it with array[..., :3], "
            "or write PNG, WebP or TIFF"
        )
    if quality is not None:
        highest = _QUALITY_LIMITS.get(kind)
        if highest is None:
            raise ValueError(
                f"cannot write {path} with a quality: {kind} is lossless; quality applies to "
                "JPEG and WebP"
            )
        if (
            isinstance(quality, bool)
            or not isinstance(quality, numbers.Integral)
            or not 1 <= quality <= highest
        ):
            raise ValueError(
                f"cannot write {path}: {kind} quality is a whole number from 1 to {highest}, "
                f"got {quality!r}"
            )
    if kind == "JPEG":
        return {"quality": int(quality) if quality is not None else JPEG_QUALITY}
    if kind == "WEBP":
        if quality is None:
            # exact: libwebp would otherwise change the colour under fully transparent pixels.
            return {"lossless": True, "exact": True}
        return {"quality": int(quality)}
    return {}


def _check_npy(file: BinaryIO, path: Path) -> None:
    """Refuse what is not a plain .npy array, and a size its header does not promise."""
    start = file.read(len(np.lib.format.MAGIC_PREFIX))
    if start != np.lib.format.MAGIC_PREFIX:
        if start.startswith(b"PK"):
            problem = "is a .npz archive; load_array reads one .npy array, as save_array writes"
        elif start.startswith(b"\x80"):
            problem = "holds a Python pickle, which Rainbow never loads: write it with save_array"
        else:
            problem = "is not a .npy file: it does not start as one; write it with save_array"
        raise UnreadableFile(path, problem)
    file.seek(0)
    try:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        elif version in ((2, 0), (3, 0)):
            # 3.0 differs from 2.0 only in writing the header as UTF-8, which changes the field
            # names this reads, never the sizes it checks; read_array reads it properly.
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not one numpy writes")
    except ValueError as exc:
        raise UnreadableFile(path, f"has a damaged .npy header: {exc}") from exc
    if dtype.hasobject:
        raise UnreadableFile(
            path,
            f"holds Python objects (dtype {dtype}), stored as a pickle, which Rainbow never "
            "loads: save numbers instead",
        )
    promised = math.prod(shape) * dtype.itemsize
    held = os.fstat(file.fileno()).st_size - file.tell()
    if held < promised:
        raise UnreadableFile(
            path, f"is truncated: its header promises {promised:,} bytes of data, it holds {held:,}"
        )
    if held > promised:
        raise UnreadableFile(
            path, f"is damaged: {held - promised:,} bytes follow the {promised:,} its header names"
        )


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it over ``path``."""
    # The name's first 50 characters (at most 200 bytes) tell where a leftover came from and
    # keep the temporary name within the 255 bytes a file name may have.
    temporary = path.with_name(f".{path.name[:50]}.{secrets.token_hex(4)}.tmp")
    try:
        # Mode 0o666 leaves the mode to the umask, as open() would; tempfile's 0o600 would
        # make every image written readable by its owner only.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"cannot write {path}: the folder {path.parent} does not exist"
        ) from exc
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
