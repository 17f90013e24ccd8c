"""Small JSON previews of values, computed in the job process, where the value already is.

A preview is a JSON object (no NaN, nothing but strings, numbers, booleans, lists, objects) of
one of these kinds — the side panel and the notebook view draw them:

* ``{"kind": "value", "text": repr}``: scalars, strings, bytes and small containers shown whole;
* ``{"kind": "array", "shape": [...], "dtype": "...", "text": "..."}``: numpy arrays (numpy's
  own summary: the first and last rows and columns);
* ``{"kind": "table", "columns": [...], "rows": [[...]], "shape": [rows, columns]}`` (and
  ``"index"`` when it is not the default 0, 1, 2, ...): the head of a pandas DataFrame or Series,
  at most :data:`TABLE_ROWS` rows and :data:`TABLE_COLUMNS` columns;
* ``{"kind": "image", "mime": "image/png", "data": base64, "width": w, "height": h}``: PNG or
  JPEG bytes, 2-D or 3-D ``uint8`` arrays, matplotlib figures, PIL images; a thumbnail at most
  :data:`THUMBNAIL` pixels wide and high (``width``/``height`` are the original's) where it can
  be made, at most :data:`IMAGE_LIMIT` characters of base64;
* ``{"kind": "text", "text": "..."}``: anything else (its type and the start of its repr), big
  containers, and the start of text files;

each with ``"truncated": true`` when it shows only part of the value.

Previews are bounded: they look at a value's first items only (never walking or copying it
whole), cut text at :data:`TEXT_LIMIT` characters, and (in a process's main thread) give up
after :data:`SECONDS`. They import nothing heavy: numpy, pandas, matplotlib and PIL are used only
when the value's own module has loaded them already (they are looked up in ``sys.modules``).
This module needs the standard library only, so it is shipped in exported zips too.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import pickle
import signal
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

from . import serialize

TEXT_LIMIT = 2048
TABLE_ROWS = 10
TABLE_COLUMNS = 20
CELL_LIMIT = 200
THUMBNAIL = 256
IMAGE_LIMIT = 64 << 10  # characters of base64
SECONDS = 2.0
#: The previews of one job's outputs together stay under this (characters of JSON).
JOB_LIMIT = 256 << 10
#: Items of a container looked at, and how deep.
ITEMS = 100
DEPTH = 6
#: Stored values (input artifacts) up to this size are loaded to be previewed.
PEEK_BYTES = 4 << 20
#: Images with more pixels than this are not decoded for a thumbnail.
MAX_PIXELS = 50_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


class PreviewTimeout(Exception):
    """A preview took longer than its time bound."""


class Budget:
    """What is left of one job's :data:`JOB_LIMIT`."""

    def __init__(self, limit: int = JOB_LIMIT) -> None:
        self.left = limit


# -- entry points -------------------------------------------------------------------------------------
def safe_preview(value: Any, what: str = "value", budget: Budget | None = None,
                 seconds: float = SECONDS) -> dict[str, Any] | None:
    """The preview of ``value``, or None: a preview never fails a job. Why there is none goes to stderr
    (the job's log) in one line."""
    return _guarded(lambda: preview(value), what, budget, seconds)


def safe_file_preview(head: bytes, size: int, what: str = "file", budget: Budget | None = None) -> dict[str, Any] | None:
    """The preview of a raw file of ``size`` bytes that starts with ``head``, or None."""
    return _guarded(lambda: file_preview(head, size), what, budget, SECONDS)


def safe_stored_preview(head: bytes, size: int, type_name: str = "", what: str = "value",
                        budget: Budget | None = None) -> dict[str, Any] | None:
    """The preview of a value stored by ``serialize.dump`` (``size`` bytes that start with ``head``), or None."""
    return _guarded(lambda: stored_preview(head, size, type_name), what, budget, SECONDS)


def _guarded(make: Any, what: str, budget: Budget | None, seconds: float) -> dict[str, Any] | None:
    try:
        with deadline(seconds):
            result = make()
        if result is None:
            return None
        size = len(json.dumps(result, allow_nan=False))
    except BaseException as error:  # a preview must never fail the job
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        _note(f"no preview of {what}: {type(error).__name__}: {_first_line(error)}")
        return None
    if budget is not None:
        if size > budget.left:
            _note(f"no preview of {what}: the job's previews would exceed {JOB_LIMIT >> 10} KB")
            return None
        budget.left -= size
    return dict(result)


def _note(text: str) -> None:
    try:
        sys.stderr.write(f"[pipelines] {text}\n")
    except Exception:  # noqa: BLE001, S110 - a closed stderr is no reason to fail the job
        pass


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else ""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`PreviewTimeout` in the block after ``seconds`` (main thread only; a timer the
    caller had set is put back)."""
    if (seconds <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise PreviewTimeout(f"it took longer than {seconds:g} s")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except (ValueError, OSError):  # not the main thread of the main interpreter after all
        yield
        return
    started = time.monotonic()
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay:
            left = max(old_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)


def preview(value: Any) -> dict[str, Any] | None:
    """The preview of ``value`` (may raise; see :func:`safe_preview`)."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        text, cut = _leaf(value, TEXT_LIMIT)
        return _with_cut({"kind": "value", "text": text}, cut)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = value if not isinstance(value, memoryview) else value.cast("B")
        return _bytes_preview(data, len(data))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return _array_preview(numpy, value)
        if isinstance(value, numpy.generic):
            text, cut = _leaf(value, TEXT_LIMIT)
            return _with_cut({"kind": "value", "text": text}, cut)
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        if isinstance(value, pandas.DataFrame):
            return _table_preview(pandas, value)
        if isinstance(value, pandas.Series):
            return _table_preview(pandas, value.iloc[:TABLE_ROWS].to_frame(), shape=[len(value), 1])
    figure = sys.modules.get("matplotlib.figure")
    if figure is not None and isinstance(value, figure.Figure):
        return figure_thumbnail(value)
    image = sys.modules.get("PIL.Image")
    if image is not None and isinstance(value, image.Image):
        return _pil_preview(value, value.size)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        text, cut = bounded_repr(value, TEXT_LIMIT)
        if not cut:
            return {"kind": "value", "text": text}
        head = f"{serialize.type_name(value)} of {len(value):,} items: "
        return {"kind": "text", "text": head + bounded_repr(value, TEXT_LIMIT - len(head))[0], "truncated": True}
    head = f"{serialize.type_name(value)}: "
    text, cut = _leaf(value, TEXT_LIMIT - len(head))
    return _with_cut({"kind": "text", "text": head + text}, cut)


def file_preview(head: bytes, size: int) -> dict[str, Any]:
    """A raw file of ``size`` bytes that starts with ``head``: an image when it is one (and whole
    in ``head``), its first characters when it is UTF-8 text, else its size."""
    return _bytes_preview(head, size, is_file=True)


def stored_preview(head: bytes, size: int, type_name: str = "") -> dict[str, Any] | None:
    """A value stored by ``serialize.dump`` (``size`` bytes that start with ``head``): loaded when
    it is whole in ``head`` (at most :data:`PEEK_BYTES`) and needs only modules already imported
    here — a preview imports nothing — else a line of text with its type and size."""
    described = {"kind": "text", "text": f"{type_name or 'a stored value'}, {_size(size)}", "size": size}
    if len(head) < size or size > PEEK_BYTES:
        return described
    try:
        value = _load_known(head)
    except _NotLoaded:
        return described
    return preview(value)


# -- text --------------------------------------------------------------------------------------------
def _with_cut(result: dict[str, Any], cut: bool) -> dict[str, Any]:
    if cut:
        result["truncated"] = True
    return result


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:max(limit, 0)], True)


def _leaf(value: Any, limit: int) -> tuple[str, bool]:
    """The repr of a value that is not walked into, at most ``limit`` characters, without ever making
    a longer one of a long string, bytes or a huge integer."""
    if isinstance(value, (str, bytes, bytearray)):
        text, cut = _cut(repr(value[:limit + 1]), limit)
        return text, cut or len(value) > limit
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return _cut(f"<int of {value.bit_length():,} bits>", limit)[0], True
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.generic) and value.dtype.kind in "biufcUSMm":
            return _leaf(value.item(), limit)
        if isinstance(value, numpy.ndarray):
            if value.size <= 20 and value.dtype.kind in "biufcb":
                return _cut(f"array({value.tolist()!r}, dtype={value.dtype})", limit)
            return _cut(f"<ndarray shape={tuple(value.shape)} dtype={value.dtype}>", limit)[0], True
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series)):
        return _cut(f"<{type(value).__name__} shape={tuple(value.shape)}>", limit)[0], True
    return _cut(repr(value), limit)


class _Full(Exception):
    pass


class _Writer:
    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.left = limit
        self.cut = False

    def write(self, text: str) -> None:
        if len(text) > self.left:
            self.parts.append(text[:self.left])
            self.left = 0
            self.cut = True
            raise _Full
        self.parts.append(text)
        self.left -= len(text)


def bounded_repr(value: Any, limit: int = TEXT_LIMIT) -> tuple[str, bool]:
    """The repr of ``value`` cut at ``limit`` characters, and whether it was cut (or items were left
    out): containers are walked to :data:`ITEMS` items and :data:`DEPTH` levels, never further."""
    out = _Writer(limit)
    try:
        _walk(value, out, 0, set())
    except _Full:
        pass
    return "".join(out.parts), out.cut


def _walk(value: Any, out: _Writer, depth: int, stack: set[int]) -> None:
    kind = type(value)
    if isinstance(value, dict):
        opening, closing = "{", "}"
    elif isinstance(value, list):
        opening, closing = "[", "]"
    elif isinstance(value, tuple) and not hasattr(value, "_fields"):
        opening, closing = "(", ",)" if len(value) == 1 else ")"
    elif isinstance(value, (set, frozenset)):
        if not value:
            out.write(f"{kind.__name__}()")
            return
        opening, closing = ("{", "}") if kind is set else (f"{kind.__name__}({{", "})")
    else:
        text, cut = _leaf(value, out.left)
        out.write(text)
        out.cut = out.cut or cut
        return
    if id(value) in stack or depth >= DEPTH:
        out.cut = True
        out.write(opening + "..." + closing)
        return
    stack.add(id(value))
    out.write(opening)
    items = iter(value.items()) if isinstance(value, dict) else iter(value)
    for index, item in enumerate(items):
        if index:
            out.write(", ")
        if index >= ITEMS:
            out.cut = True
            out.write("...")
            break
        if isinstance(value, dict):
            _walk(item[0], out, depth + 1, stack)
            out.write(": ")
            _walk(item[1], out, depth + 1, stack)
        else:
            _walk(item, out, depth + 1, stack)
    out.write(closing)
    stack.discard(id(value))


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _bytes_preview(data: Any, size: int, is_file: bool = False) -> dict[str, Any]:
    """Bytes (all of them, or the first ones of ``size``): an image, their repr when few (but for a
    file), UTF-8 text, or their size."""
    head = bytes(data[:max(TEXT_LIMIT * 4, 32)])
    if head.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)):
        image = _image_bytes(data, size)
        if image is not None:
            return image
    if size <= 64 and len(data) == size and not is_file:
        return {"kind": "value", "text": repr(bytes(data))}
    text = _utf8_head(head[:TEXT_LIMIT * 4], whole=len(head) == size)
    if text is not None:
        shown, cut = _cut(text, TEXT_LIMIT)
        return _with_cut({"kind": "text", "text": shown, "size": size}, cut or len(shown.encode()) < size)
    kind = "PNG image" if head.startswith(PNG_SIGNATURE) else "JPEG image" if head.startswith(JPEG_SIGNATURE) \
        else "binary data"
    return {"kind": "text", "text": f"{kind}, {_size(size)}", "size": size}


def _utf8_head(data: bytes, whole: bool) -> str | None:
    """``data`` as text if it is UTF-8 (a character cut at its end is dropped unless ``whole``)."""
    if b"\x00" in data:
        return None
    for back in range(0 if whole else 4):
        try:
            return data[:len(data) - back].decode("utf-8")
        except UnicodeDecodeError:
            continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- images ------------------------------------------------------------------------------------------
def _b64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _image(mime: str, data: bytes, width: int | None, height: int | None) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": "image", "mime": mime, "data": base64.b64encode(data).decode("ascii")}
    if width and height:
        result.update(width=int(width), height=int(height))
    return result


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of PNG or JPEG bytes, from their header."""
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(JPEG_SIGNATURE):
        at = 2
        while at + 9 < len(data):
            if data[at] != 0xFF:
                return None
            marker = data[at + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                at += 2
                continue
            length = struct.unpack(">H", data[at + 2:at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[at + 5:at + 9])
                return width, height
            at += 2 + length
    return None


def _image_bytes(data: Any, size: int) -> dict[str, Any] | None:
    """PNG or JPEG bytes as an image preview: as they are when small enough (a thumbnail through PIL
    when it is loaded and they are larger than :data:`THUMBNAIL`), else None."""
    whole = len(data) == size
    head = bytes(data[:64 << 10])
    mime = "image/png" if head.startswith(PNG_SIGNATURE) else "image/jpeg"
    dims = image_size(head)
    fits = whole and _b64_length(size) <= IMAGE_LIMIT
    small = dims is not None and max(dims) <= THUMBNAIL
    pil = sys.modules.get("PIL.Image")
    if fits and (small or pil is None):
        return _image(mime, bytes(data), *(dims or (None, None)))
    if pil is not None and whole and dims is not None and dims[0] * dims[1] <= MAX_PIXELS:
        with pil.open(io.BytesIO(data)) as picture:
            return _pil_preview(picture, dims)
    return None


def _pil_preview(picture: Any, dims: tuple[int, int]) -> dict[str, Any]:
    """A PIL image as a PNG (or JPEG, when that is what it is) thumbnail."""
    if dims[0] * dims[1] > MAX_PIXELS:
        return {"kind": "text", "text": f"PIL image {dims[0]}×{dims[1]} ({picture.mode})"}
    fmt = "JPEG" if getattr(picture, "format", None) == "JPEG" else "PNG"
    if fmt == "JPEG":
        picture.draft("RGB", (THUMBNAIL, THUMBNAIL))  # a file not decoded yet is decoded at a smaller scale
    small = picture.copy()
    side = THUMBNAIL
    while side >= 16:
        small.thumbnail((side, side))
        if fmt == "JPEG" and small.mode not in ("RGB", "L"):
            small = small.convert("RGB")
        buffer = io.BytesIO()
        small.save(buffer, format=fmt)
        if _b64_length(buffer.tell()) <= IMAGE_LIMIT:
            return _image(f"image/{fmt.lower()}", buffer.getvalue(), *dims)
        side = int(side * 0.7)
    return {"kind": "text", "text": f"image {dims[0]}×{dims[1]}"}


def png(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    """A PNG of 8-bit pixels, row after row (1 channel: grey, 2: grey and alpha, 3: RGB, 4: RGBA)."""
    color = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    stride = width * channels
    view = memoryview(pixels)
    raw = b"".join(b"\x00" + view[row * stride:(row + 1) * stride] for row in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def is_image_array(numpy: Any, array: Any) -> bool:
    """A ``uint8`` array shaped like a picture: (height, width) or (height, width, 1|3|4), both sides
    at least 8."""
    if array.dtype != numpy.uint8 or array.ndim not in (2, 3):
        return False
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        return False
    return bool(array.shape[0] >= 8 and array.shape[1] >= 8)


def _array_image(numpy: Any, array: Any) -> dict[str, Any] | None:
    """A thumbnail of an image array, taken by striding (a view: the array is never copied whole)."""
    height, width = int(array.shape[0]), int(array.shape[1])
    channels = 1 if array.ndim == 2 else int(array.shape[2])
    side = THUMBNAIL
    while side >= 16:
        step = max(1, math.ceil(max(height, width) / side))
        small = numpy.ascontiguousarray(array[::step, ::step])
        data = png(small.tobytes(), int(small.shape[1]), int(small.shape[0]), channels)
        if _b64_length(len(data)) <= IMAGE_LIMIT:
            return _image("image/png", data, width, height)
        side = int(side * 0.7)
    return None


def figure_thumbnail(figure: Any) -> dict[str, Any]:
    """A matplotlib figure drawn at most :data:`THUMBNAIL` pixels wide and high."""
    width, height = figure.get_size_inches()
    dpi = figure.get_dpi()
    side = THUMBNAIL
    while True:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=side / max(width, height, 0.01))
        if _b64_length(buffer.tell()) <= IMAGE_LIMIT or side < 32:
            return _image("image/png", buffer.getvalue(), round(width * dpi), round(height * dpi))
        side = int(side * 0.7)


# -- arrays and tables -------------------------------------------------------------------------------
def _array_preview(numpy: Any, array: Any) -> dict[str, Any]:
    if is_image_array(numpy, array):
        image = _array_image(numpy, array)
        if image is not None:
            image.update(shape=[int(n) for n in array.shape], dtype=str(array.dtype))
            return image
    view, prefix = array, ""
    if array.ndim > 4:  # numpy's summary keeps 6 items per axis: 6**ndim of them in all
        lead = (0,) * (array.ndim - 4)
        view, prefix = array[lead], f"[{', '.join('0' for _ in lead)}, ...] =\n"
    threshold = TABLE_ROWS * TABLE_COLUMNS
    text = numpy.array2string(view, threshold=threshold, edgeitems=3, max_line_width=120)
    shown, cut = _cut(prefix + text, TEXT_LIMIT)
    result = {"kind": "array", "shape": [int(n) for n in array.shape], "dtype": str(array.dtype), "text": shown}
    return _with_cut(result, cut or array.size > threshold or bool(prefix))


def _cell(value: Any) -> Any:
    """A table cell as JSON: numbers stay numbers (non-finite ones become text), the rest short text."""
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else value[:CELL_LIMIT]
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return _leaf(value, CELL_LIMIT)[0] if not hasattr(value, "isoformat") else str(value)[:CELL_LIMIT]


def _table_preview(pandas: Any, frame: Any, shape: list[int] | None = None) -> dict[str, Any]:
    rows, columns = (int(n) for n in (shape or frame.shape))
    head = frame.iloc[:TABLE_ROWS, :TABLE_COLUMNS]
    result: dict[str, Any] = {
        "kind": "table",
        "columns": [str(_cell(name)) for name in head.columns],
        "rows": [[_cell(value) for value in row] for row in head.itertuples(index=False, name=None)],
        "shape": [rows, columns],
    }
    index = head.index
    if not (isinstance(index, pandas.RangeIndex) and index.start == 0 and index.step == 1):
        result["index"] = [_cell(name) for name in index]
    return _with_cut(result, rows > TABLE_ROWS or columns > TABLE_COLUMNS)


# -- stored values -----------------------------------------------------------------------------------
class _NotLoaded(Exception):
    pass


class _KnownOnly(pickle.Unpickler):
    """Loads only what the modules already imported in this process can build."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] not in sys.modules:
            raise _NotLoaded(module.split(".")[0])
        return super().find_class(module, name)


def _load_known(data: bytes) -> Any:
    view = memoryview(data)
    start = len(serialize.MAGIC)
    if bytes(view[:start]) != serialize.MAGIC:
        raise ValueError("not a stored value")
    count, stream_size = struct.unpack("<2Q", view[start:start + 16])
    start += 16
    sizes = struct.unpack(f"<{count}Q", view[start:start + 8 * count]) if count else ()
    start += 8 * count
    stream = view[start:start + stream_size]
    start += stream_size
    buffers = []
    for size in sizes:
        buffers.append(bytearray(view[start:start + size]))
        start += size
    return _KnownOnly(io.BytesIO(stream), buffers=buffers).load()
