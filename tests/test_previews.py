"""Previews of outputs and figures drawn by operations: the preview bounds on their own, then real job
processes on real storage (the engine, the local compute backend), the digits example and the
embedded API. matplotlib and pandas parts are skipped where those are not installed."""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import struct
import sys
import time
import tracemalloc
import types
import zlib

import numpy as np
import pytest

from jupyter_pipelines import Artifact, Input, Pipeline, operation
from jupyter_pipelines.client import EmbeddedApi
from jupyter_pipelines.runner import previews, serialize

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAS_PANDAS = importlib.util.find_spec("pandas") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
needs_pandas = pytest.mark.skipif(not HAS_PANDAS, reason="pandas is not installed")


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, pixels) of a PNG whose rows all use filter 0 (what the previews write),
    checking every chunk's CRC: an independent reading of what the browser will be sent."""
    assert data[:8] == previews.PNG_SIGNATURE
    at, idat, header = 8, b"", None
    while at < len(data):
        length, tag = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(tag + body) & 0xFFFFFFFF
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, color, *_ = header
    assert depth == 8
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows = [raw[row * (stride + 1):(row + 1) * (stride + 1)] for row in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, channels, b"".join(row[1:] for row in rows)


# -- the previews on their own ---------------------------------------------------------------------------


def test_a_metrics_dict_is_a_value_with_its_accuracy() -> None:
    metrics = {"accuracy": 0.9733, "confusion": [[45, 0], [1, 44]], "test_size": 450}
    preview = previews.preview(metrics)
    assert preview == {"kind": "value", "text": repr(metrics)}
    assert previews.preview(np.float64(0.5)) == {"kind": "value", "text": "0.5"}
    assert previews.preview({"n": np.int64(3)}) == {"kind": "value", "text": "{'n': 3}"}
    assert previews.preview(None) == {"kind": "value", "text": "None"}
    assert previews.preview(b"\x00\x01") == {"kind": "value", "text": repr(b"\x00\x01")}


def test_an_array_shows_its_shape_dtype_and_first_rows() -> None:
    small = np.arange(12.0).reshape(3, 4)
    assert previews.preview(small) == {"kind": "array", "shape": [3, 4], "dtype": "float64",
                                       "text": np.array2string(small)}
    big = np.arange(1_000_000, dtype=np.int32).reshape(1000, 1000)
    preview = previews.preview(big)
    assert preview["kind"] == "array" and preview["shape"] == [1000, 1000] and preview["dtype"] == "int32"
    assert preview["truncated"] is True and "..." in preview["text"] and len(preview["text"]) <= previews.TEXT_LIMIT
    assert preview["text"].startswith("[[     0      1      2 ...")
    deep = previews.preview(np.zeros((2,) * 8))
    assert deep["shape"] == [2] * 8 and deep["truncated"] and len(deep["text"]) <= previews.TEXT_LIMIT


@needs_pandas
def test_a_dataframe_is_a_table_of_its_head() -> None:
    import pandas as pd

    frame = pd.DataFrame({f"c{i}": [float(r * i) for r in range(50)] for i in range(30)})
    frame.iloc[0, 1] = float("nan")
    preview = previews.preview(frame)
    assert preview["kind"] == "table" and preview["shape"] == [50, 30] and preview["truncated"] is True
    assert preview["columns"] == [f"c{i}" for i in range(20)]
    assert len(preview["rows"]) == 10 and all(len(row) == 20 for row in preview["rows"])
    assert preview["rows"][3][2] == 6.0 and preview["rows"][0][1] == "nan"
    assert "index" not in preview
    json.dumps(preview, allow_nan=False)  # what the browser can parse
    small = previews.preview(pd.DataFrame({"name": ["a", "b"], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])},
                                          index=["x", "y"]))
    assert small == {"kind": "table", "columns": ["name", "when"], "shape": [2, 2], "index": ["x", "y"],
                     "rows": [["a", "2024-01-01 00:00:00"], ["b", "2024-01-02 00:00:00"]]}
    series = previews.preview(pd.Series(range(100), name="n"))
    assert series["kind"] == "table" and series["columns"] == ["n"] and series["shape"] == [100, 1]


def test_png_bytes_are_shown_as_they_are() -> None:
    preview = previews.preview(ONE_PIXEL_PNG)
    assert preview == {"kind": "image", "mime": "image/png", "data": base64.b64encode(ONE_PIXEL_PNG).decode(),
                       "width": 1, "height": 1}


def test_a_uint8_array_becomes_a_png_thumbnail() -> None:
    rows, columns = np.meshgrid(np.arange(600), np.arange(400), indexing="ij")
    picture = np.stack([rows % 256, columns % 256, (rows + columns) % 256], axis=-1).astype(np.uint8)
    preview = previews.preview(picture)
    assert preview["kind"] == "image" and preview["mime"] == "image/png"
    assert (preview["width"], preview["height"]) == (400, 600) and preview["shape"] == [600, 400, 3]
    assert len(preview["data"]) <= previews.IMAGE_LIMIT
    width, height, channels, pixels = decode_png(base64.b64decode(preview["data"]))
    assert max(width, height) <= previews.THUMBNAIL and channels == 3
    step = 600 // height
    assert np.array_equal(np.frombuffer(pixels, np.uint8).reshape(height, width, 3), picture[::step, ::step])
    grey = previews.preview(np.full((64, 32), 7, np.uint8))
    assert decode_png(base64.b64decode(grey["data"])) == (32, 64, 1, bytes([7]) * 64 * 32)


def test_an_image_of_noise_still_fits_the_size_bound() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 4), dtype=np.uint8)
    preview = previews.preview(noise)
    assert preview["kind"] == "image" and len(preview["data"]) <= previews.IMAGE_LIMIT
    width, height, channels, _ = decode_png(base64.b64decode(preview["data"]))
    assert channels == 4 and max(width, height) <= previews.THUMBNAIL


def test_big_text_and_big_containers_are_cut() -> None:
    text = "é" * (10 * MiB)
    many = list(range(10_000_000))
    started = time.perf_counter()
    preview = previews.preview(text)
    assert preview["kind"] == "value" and preview["truncated"] is True
    assert len(preview["text"]) == previews.TEXT_LIMIT and preview["text"].startswith("'éé")
    preview = previews.preview(many)
    assert preview["kind"] == "text" and preview["truncated"] is True
    assert preview["text"].startswith("list of 10,000,000 items: [0, 1, 2") and len(preview["text"]) <= 2048
    nested = {"level": {"level": {"level": {"level": {"level": {"level": {"level": 1}}}}}}}
    assert previews.preview(nested)["truncated"] is True
    loop: list = [1]
    loop.append(loop)
    assert previews.preview(loop)["text"].endswith("[1, [...]]")
    assert time.perf_counter() - started < 0.5  # nothing was walked or copied whole
    assert previews.preview(10 ** 5000)["truncated"] is True


def test_raw_bytes_files_are_text_images_or_a_size() -> None:
    assert previews.file_preview(b"a,b\n1,2\n", 8) == {"kind": "text", "text": "a,b\n1,2\n", "size": 8}
    head = ("naïve " * 20_000).encode()[:64 << 10]
    preview = previews.file_preview(head, 10 * MiB)
    assert preview["truncated"] and preview["size"] == 10 * MiB and len(preview["text"]) == previews.TEXT_LIMIT
    assert previews.file_preview(b"\x00\x9f\x92" * 100, 300) == {"kind": "text", "text": "binary data, 300 bytes",
                                                                  "size": 300}
    assert previews.file_preview(ONE_PIXEL_PNG, len(ONE_PIXEL_PNG))["kind"] == "image"
    assert previews.file_preview(ONE_PIXEL_PNG, 5 * MiB) == {"kind": "text", "text": "PNG image, 5.0 MB",
                                                            "size": 5 * MiB}


def test_stored_values_load_only_with_modules_already_imported(monkeypatch) -> None:
    import io

    buffer = io.BytesIO()
    serialize.dump({"accuracy": 0.5, "weights": np.arange(3)}, buffer)
    data = buffer.getvalue()
    preview = previews.stored_preview(data, len(data), "dict")
    assert preview["text"].startswith("{'accuracy': 0.5, 'weights': array([0, 1, 2]")
    module = types.ModuleType("not_imported_anywhere")
    exec("class Thing:\n    pass\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "not_imported_anywhere", module)
    buffer = io.BytesIO()
    serialize.dump(module.Thing(), buffer)
    monkeypatch.delitem(sys.modules, "not_imported_anywhere")
    data = buffer.getvalue()
    assert previews.stored_preview(data, len(data), "not_imported_anywhere.Thing") == {
        "kind": "text", "text": f"not_imported_anywhere.Thing, {len(data)} bytes", "size": len(data)}
    assert "not_imported_anywhere" not in sys.modules
    assert previews.stored_preview(data[:100], 10 * MiB, "numpy.ndarray")["text"] == "numpy.ndarray, 10.0 MB"


def test_a_200_mb_array_is_previewed_without_copying_it() -> None:
    array = np.ones(200 * MiB // 8)
    views = [array, array.reshape(-1, 1024).T, array[::3]]
    tracemalloc.start()
    try:
        for view in views:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            preview = previews.safe_preview(view)
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] - before
            assert preview["kind"] == "array" and preview["shape"] == list(view.shape), preview
            assert peak < 1 * MiB, f"a preview of {view.shape} took {peak / MiB:.1f} MiB"
            assert seconds < 0.5
    finally:
        tracemalloc.stop()


class Explodes:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class Slow:
    def __repr__(self) -> str:
        time.sleep(30)
        return "slow"


def test_a_preview_that_fails_or_hangs_is_left_out(capsys) -> None:
    assert previews.safe_preview(Explodes(), "output 'x'") is None
    assert "[pipelines] no preview of output 'x': RuntimeError: no repr for you" in capsys.readouterr().err
    started = time.perf_counter()
    assert previews.safe_preview(Slow(), "output 'slow'", seconds=0.5) is None
    assert time.perf_counter() - started < 5
    assert "PreviewTimeout" in capsys.readouterr().err
    budget = previews.Budget(1000)
    assert previews.safe_preview("x" * 600, budget=budget) is not None
    assert previews.safe_preview("y" * 600, budget=budget) is None  # past the job's total


def test_without_pil_big_images_are_described(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "PIL.Image", raising=False)
    big = previews.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", 4000, 3000) + b"\x08\x02" + \
        b"\x00" * (200 << 10)
    assert previews.preview(big) == {"kind": "text", "text": f"PNG image, {previews._size(len(big))}",
                                     "size": len(big)}
    assert previews.preview(ONE_PIXEL_PNG)["kind"] == "image"


def test_with_pil_big_images_become_thumbnails() -> None:
    Image = pytest.importorskip("PIL.Image")
    import io

    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        buffer = io.BytesIO()
        Image.new("RGB", (1200, 900), (200, 30, 40)).save(buffer, format=fmt)
        preview = previews.preview(buffer.getvalue())
        assert preview["kind"] == "image" and preview["mime"] == mime, preview
        assert (preview["width"], preview["height"]) == (1200, 900)
        with Image.open(io.BytesIO(base64.b64decode(preview["data"]))) as thumbnail:
            assert max(thumbnail.size) <= previews.THUMBNAIL


# -- previews from real jobs -----------------------------------------------------------------------------


class Unpicklable:
    pass


@operation(outputs=("metrics", "array", "png", "picture", "text", "bad", "listing"))
def many_kinds():
    import base64

    import numpy as np

    class Explodes:
        """Stored as a string; its repr (for the preview) fails."""

        def __reduce__(self):
            return (str, ("stored",))

        def __repr__(self):
            raise RuntimeError("no repr for you")

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5"
                           "ErkJggg==")
    return ({"accuracy": 0.97, "test_size": 450}, np.arange(20.0).reshape(4, 5), png,
            np.full((300, 500, 3), 120, np.uint8), "word " * 10_000, Explodes(), list(range(100_000)))


@operation(outputs=("frame",))
def frame_of(rows: int = 25):
    import pandas as pd

    return pd.DataFrame({"x": range(rows), "y": [r / 2 for r in range(rows)]})


@operation(outputs=("big", "probe"))
def big_array(megabytes: int = 200):
    """A big array, and a probe whose repr — made for the preview after the array's — writes to the log how
    much memory the job took (tracemalloc) beyond the array while writing and previewing it."""
    import tracemalloc

    import numpy as np

    tracemalloc.start()
    array = np.ones(megabytes * 2 ** 20 // 8)
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]

    class Probe:
        def __reduce__(self):
            return (str, ("probe",))

        def __repr__(self):
            print(f"EXTRA-BYTES {tracemalloc.get_traced_memory()[1] - baseline}", flush=True)
            return "probe"

    return array, Probe()


def test_previews_of_each_kind_from_a_real_job(engine) -> None:
    with Pipeline("kinds") as p:
        many_kinds()
    ex = p.run(name="kinds", wait=True)
    assert ex.status == "success", ex
    outputs = {out["name"]: out for out in engine.get("default", "kinds").job("many_kinds").outputs}
    assert outputs["metrics"]["preview"] == {"kind": "value", "text": "{'accuracy': 0.97, 'test_size': 450}"}
    array = outputs["array"]["preview"]
    assert array["kind"] == "array" and array["shape"] == [4, 5] and array["dtype"] == "float64"
    assert array["text"].startswith("[[ 0.  1.  2.  3.  4.]")
    assert outputs["png"]["preview"]["data"] == base64.b64encode(ONE_PIXEL_PNG).decode()
    picture = outputs["picture"]["preview"]
    assert picture["kind"] == "image" and decode_png(base64.b64decode(picture["data"]))[:3] == (250, 150, 3)
    text = outputs["text"]["preview"]
    assert text["kind"] == "value" and text["truncated"] and len(text["text"]) == previews.TEXT_LIMIT
    assert "preview" not in outputs["bad"] and outputs["bad"]["size"] > 0
    assert outputs["listing"]["preview"]["truncated"] and outputs["listing"]["preview"]["kind"] == "text"
    assert "no preview of output 'bad': RuntimeError: no repr for you" in ex.logs("many_kinds")
    # what the API and the side panel get: valid JSON (no NaN), previews inside each output
    described = EmbeddedApi(engine).execution("default", "kinds")
    json.loads(json.dumps(described, allow_nan=False))
    assert described["jobs"][0]["outputs"][0]["preview"]["kind"] == "value"
    assert described["jobs"][0]["figures"] == []


@needs_pandas
def test_a_dataframe_output_is_previewed_as_a_table(engine) -> None:
    with Pipeline("frames") as p:
        frame_of(rows=25)
    ex = p.run(name="frames", wait=True)
    assert ex.status == "success", ex
    preview = ex.jobs["frame_of"]["outputs"][0]["preview"]
    assert preview["kind"] == "table" and preview["columns"] == ["x", "y"] and preview["shape"] == [25, 2]
    assert preview["rows"][:2] == [[0, 0.0], [1, 0.5]] and len(preview["rows"]) == 10 and preview["truncated"]


def test_a_200_mb_output_is_written_and_previewed_without_a_copy(engine) -> None:
    with Pipeline("big") as p:
        big_array(megabytes=200)
    ex = p.run(name="big", wait=True)
    assert ex.status == "success", ex
    big = ex.jobs["big_array"]["outputs"][0]
    assert big["size"] > 200 * MiB
    assert big["preview"]["shape"] == [200 * MiB // 8] and big["preview"]["text"].startswith("[1. 1. 1. ...")
    extra = int(re.search(r"EXTRA-BYTES (\d+)", ex.logs("big_array")).group(1))
    assert extra < 16 * MiB, f"writing and previewing 200 MiB took {extra / MiB:.0f} MiB more"


def test_input_artifacts_are_previewed(engine, tmp_path) -> None:
    csv = tmp_path / "table.csv"
    csv.write_text("name,score\n" + "".join(f"n{i},{i}\n" for i in range(5000)))
    Artifact.upload(str(csv), "table")
    Artifact.upload({"threshold": 0.5}, "settings")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10)
    Artifact.upload(str(blob), "blob")
    with Pipeline("inputs") as p:
        Input("table")
        Input("settings")
        Input("blob")
    ex = p.run(name="inputs", wait=True)
    assert ex.status == "success", ex
    record = engine.get("default", "inputs")
    previews_by_node = {job.node: job.outputs[0]["preview"] for job in record.jobs}
    table, settings, blob_preview = (previews_by_node[node] for node in ("table", "settings", "blob"))
    assert table["kind"] == "text" and table["text"].startswith("name,score\nn0,0\nn1,1\n") and table["truncated"]
    assert table["size"] == csv.stat().st_size
    assert settings == {"kind": "value", "text": "{'threshold': 0.5}"}
    assert blob_preview == {"kind": "text", "text": "binary data, 2.5 KB", "size": 2560}


def test_the_digits_example_previews_its_accuracy(engine) -> None:
    pytest.importorskip("sklearn")
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "digits.py")
    spec = importlib.util.spec_from_file_location("digits_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ex = module.digits.run(name="digits", wait=True)
    assert ex.status == "success", ex
    metrics = next(out for out in ex.jobs["evaluate"]["outputs"] if out["name"] == "metrics")
    accuracy = ex.result("evaluate", "metrics")["accuracy"]
    assert metrics["preview"]["kind"] == "value"
    assert f"'accuracy': {accuracy!r}" in metrics["preview"]["text"] and accuracy > 0.9
    images = next(out for out in ex.jobs["load_digits"]["outputs"] if out["name"] == "images")
    assert images["preview"]["kind"] == "array" and images["preview"]["shape"] == [1797, 64]


# -- figures ---------------------------------------------------------------------------------------------


@operation
def draws(points: int = 3):
    import matplotlib.pyplot as plt

    plt.plot(range(points))
    plt.show()
    plt.figure()
    plt.plot(range(points, 0, -1))
    plt.show()
    figure, axes = plt.subplots()  # returned and left open: kept once
    axes.bar([1, 2], [3, 4])
    return figure


@operation(outputs=("imported", "backend"))
def no_matplotlib():
    import os
    import sys

    return "matplotlib" in sys.modules, os.environ.get("MPLBACKEND")


@operation
def left_open():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.subplots()
    plt.subplots()
    unattached = Figure()
    unattached.add_subplot().plot([1, 2])
    return unattached


@needs_matplotlib
@pytest.mark.parametrize("storage", ["local", "memory"])
def test_figures_are_kept_stored_and_served(engine, storage) -> None:
    with Pipeline("figures") as p:
        draws(points=4)
    ex = p.run(name="figures", storage=storage, wait=True)
    assert ex.status == "success", ex
    api = EmbeddedApi(engine)
    job = next(job for job in api.execution("default", ex.name)["jobs"] if job["op"] == "draws")
    assert job["figures"] == [{"index": n, "mime": "image/png",
                               "url": f"pipelines/api/executions/{ex.name}/jobs/draws/figures/{n}?project=default"}
                              for n in range(3)]
    record = engine.get("default", ex.name).job("draws")
    backend = engine._storage(storage, {})
    for figure in record.figures:
        assert figure["location"] == f"{backend.figures_location('default', ex.name, 'draws')}/{figure['index']}.png"
        image = api.figure("default", ex.name, "draws", figure["index"])
        assert image.startswith(previews.PNG_SIGNATURE) and image == backend.filesystem().cat_file(figure["location"])
        width, height = struct.unpack(">II", image[16:24])
        assert (width, height) == (640, 480)
    assert len({api.figure("default", ex.name, "draws", n) for n in range(3)}) == 3  # three different drawings
    preview = job["outputs"][0]["preview"]
    assert job["outputs"][0]["type"] == "matplotlib.figure.Figure" and preview["kind"] == "image"
    assert max(struct.unpack(">II", base64.b64decode(preview["data"])[16:24])) <= previews.THUMBNAIL
    assert "non-interactive" not in ex.logs("draws")  # show() went to the job's backend, not Agg's warning
    from jupyter_pipelines.errors import NotFound

    for op, index in (("draws", 3), ("draws", "x"), ("nothing", 0)):
        with pytest.raises(NotFound):
            api.figure("default", ex.name, op, index)


@needs_matplotlib
def test_figures_left_open_and_unattached_ones_returned(engine) -> None:
    with Pipeline("open") as p:
        left_open()
    ex = p.run(name="open", wait=True)
    assert ex.status == "success", ex
    assert [figure["index"] for figure in ex.jobs["left_open"]["figures"]] == [0, 1, 2]


def test_an_operation_without_matplotlib_never_imports_it(engine) -> None:
    with Pipeline("plain") as p:
        no_matplotlib()
    ex = p.run(name="plain", wait=True)
    assert ex.status == "success", ex
    assert ex.result("no_matplotlib", "imported") is False
    assert ex.result("no_matplotlib", "backend") == "Agg"
    assert ex.jobs["no_matplotlib"]["figures"] == []


@needs_matplotlib
def test_a_rerun_replaces_the_figures(engine) -> None:
    with Pipeline("again") as p:
        draws(points=3)
    ex = p.run(name="again", debug=True, wait=True)
    assert len(ex.jobs["draws"]["figures"]) == 3
    edited = ("def draws(points: int = 3):\n    import matplotlib.pyplot as plt\n\n"
              "    plt.plot(range(points))\n    return points\n")
    ex.rerun(draws=edited)
    ex.wait(timeout=120)
    assert ex.status == "success", ex
    assert [figure["index"] for figure in ex.jobs["draws"]["figures"]] == [0]


def test_a_store_from_before_figures_gets_the_column(engine, pipelines_home) -> None:
    """An older store (jobs without ``figures``) opens, is migrated, and its jobs show no figures."""
    import sqlite3

    from jupyter_pipelines.engine import ExecutionManager

    with Pipeline("old") as p:
        no_matplotlib()
    ex = p.run(name="old", wait=True)
    assert ex.status == "success", ex
    path = engine.store.path
    engine.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE jobs DROP COLUMN figures")
    reopened = ExecutionManager(pipelines_home)
    try:
        assert reopened.get("default", "old").job("no_matplotlib").figures == []
        assert reopened.describe("default", "old")["jobs"][0]["figures"] == []
    finally:
        reopened.close()
