"""The launched dashboard driven through gradio_client: λ edits re-score, samples predict,
bad uploads return a clear error, and two clients' λ never mix."""
from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from m2pt_core.explorer import Catalog  # noqa: E402
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo  # noqa: E402

TARGET, AUX = "m2pt-digits-audio", "audio-sounds"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _acc(markdown: str) -> float:
    m = re.search(r"accuracy now: ([\d.]+)%", markdown)
    assert m, markdown
    return float(m.group(1))


@pytest.fixture(scope="module")
def url():
    from app.main import build_app, launch
    demo = build_app(Catalog(cached_tiny_zoo()))
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A digit image, a sound, and two bad files."""
    from PIL import Image
    import soundfile as sf
    from m2pt_core.data.images import digits_arrays
    d = tmp_path_factory.mktemp("uploads")
    images, labels = digits_arrays()
    Image.fromarray((images[0] * 255).astype(np.uint8)).resize((28, 28)).save(d / "digit.png")
    t = np.linspace(0, 1, 16000, endpoint=False)
    sf.write(d / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    (d / "notes.bin").write_bytes(os.urandom(256))
    return d


def _open(client: Client) -> str:
    out = client.predict(TARGET, AUX, api_name="/select_models")
    return out[0]


def test_lambda_change_changes_accuracy(url):
    client = Client(url, verbose=False)
    status = _open(client)
    assert TARGET in status
    learned = _acc(client.predict("layer 0 · all", 0.0, api_name="/reset_lambdas")[0])
    changed = _acc(client.predict("layer 0 · all", 1.0, api_name="/set_lambda")[0])
    assert changed != learned
    back = _acc(client.predict("layer 0 · all", api_name="/reset_lambdas")[0])
    assert back == learned


def test_sample_upload_returns_predictions(url, files):
    client = Client(url, verbose=False)
    _open(client)
    status, shown, bars, table = client.predict(handle_file(str(files / "digit.png")), 3, api_name="/predict_sample")
    assert "image" in status
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 6          # top-3 of the baseline and of the M2PT model


@pytest.mark.parametrize("name, message", [("tone.wav", "audio file"), ("broken.png", "broken.png"),
                                           ("notes.bin", "Invalid file type")])
def test_bad_uploads_return_the_error(url, files, name, message):
    client = Client(url, verbose=False)
    _open(client)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(files / name)), 3, api_name="/predict_sample")
    assert message in str(err.value)
    # ...and the app keeps serving.
    assert "image" in client.predict(handle_file(str(files / "digit.png")), 3, api_name="/predict_sample")[0]


def test_clients_do_not_share_lambda(url):
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    _open(a), _open(b)
    base_a = _acc(a.predict("layer 0 · all", api_name="/reset_lambdas")[0])
    moved = _acc(a.predict("layer 0 · all", 1.0, api_name="/set_lambda")[0])
    assert moved != base_a
    # b still sees the learned λ: its score and its table are untouched by a's edit.
    md_b, _, table_b = b.predict("blocks.1.mlp.fc2", 0.0, api_name="/set_lambda")[:3]
    rows = table_b["data"] if isinstance(table_b, dict) else table_b
    assert all(abs(float(r[1]) - 1.0) > 1e-9 for r in rows if int(float(r[0])) == 0)
    again_a = _acc(a.predict("blocks.1.mlp.fc2", 0.0, api_name="/set_lambda")[0])
    assert again_a != _acc(md_b) or moved != base_a


def test_lambda_bound_is_the_same_in_page_and_api(url):
    """One bound (the library's): beyond the old slider range is accepted, beyond the bound and
    non-finite values are refused with a message, through both λ endpoints."""
    from m2pt_core.pathways import LAMBDA_BOUND
    client = Client(url, verbose=False)
    _open(client)
    assert "accuracy now" in client.predict("layer 0 · all", 2.0, api_name="/set_lambda")[0]
    for bad in (LAMBDA_BOUND * 1.5, float("nan")):
        with pytest.raises(Exception) as err:
            client.predict("layer 0 · all", bad, api_name="/set_lambda")
        assert re.search(r"range|maximum|finite|number", str(err.value)), str(err.value)
    table = client.predict("layer 0 · all", 0.0, api_name="/set_lambda")[2]
    headers, rows = table["headers"], [list(r) for r in table["data"]]
    rows[0][1] = LAMBDA_BOUND * 2
    with pytest.raises(Exception) as err:
        client.predict({"headers": headers, "data": rows}, api_name="/set_lambda_table")
    assert f"[-{LAMBDA_BOUND:g}, {LAMBDA_BOUND:g}]" in str(err.value)


def test_api_outputs_are_named(url):
    api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    endpoints = api["named_endpoints"]
    assert {"/select_models", "/set_lambda", "/reset_lambdas", "/export", "/predict_sample", "/train"} <= set(endpoints)
    for name in endpoints:
        labels = [r["label"] for r in endpoints[name]["returns"]]
        assert labels and not any(str(lb).startswith("value_") for lb in labels), (name, labels)


def test_path_box_reads_only_exposed_folders(url):
    """Outside the zoo (and --models-dir/--data-dir) every path gets the same refusal, whether the
    file exists or not; a zoo file is accepted."""
    client = Client(url, verbose=False)
    messages = []
    for typed in ("/etc/passwd", "/no/such/file.pt", "../../../../etc/hostname"):
        with pytest.raises(Exception) as err:
            client.predict(None, typed, api_name="/add_checkpoint")
        messages.append(str(err.value))
    assert len(set(messages)) == 1 and "passwd" not in messages[0] and "folders" in messages[0]
    zoo_file = next(Path(cached_tiny_zoo()).glob("*.safetensors"))
    assert "Added" in client.predict(None, str(zoo_file), api_name="/add_checkpoint")[0]


def test_export_carries_provenance(url):
    import json
    client = Client(url, verbose=False)
    _open(client)
    client.predict("layer 0 · all", 0.5, api_name="/set_lambda")
    report, files = client.predict(api_name="/export")
    assert "Verified" in report and "edited in this session" in report
    paths = [f if isinstance(f, str) else f["path"] for f in files]
    assert any(p.endswith("-edited-lambda-merged.safetensors") for p in paths)
    prov = json.loads(Path(next(p for p in paths if p.endswith(".provenance.json"))).read_text())
    assert prov["target"] == TARGET and prov["auxiliary"] == AUX and len(prov["auxiliary_sha256"]) == 64
    assert prov["lambdas_edited"] is True and prov["app_version"]
    assert all(abs(v - 0.5) < 1e-6 for k, v in prov["lambdas"].items() if k.startswith("blocks.0."))
    assert prov["data_provenance"]["name"] == "digits"
    client.predict("layer 0 · all", api_name="/reset_lambdas")
    paths = [f if isinstance(f, str) else f["path"] for f in client.predict(api_name="/export")[1]]
    assert any(p.endswith("-learned-lambda-merged.safetensors") for p in paths)


def test_open_an_uploaded_mae_checkpoint_as_pretrained_target(url, tmp_path):
    from m2pt_core.pretrained.examples import write_example_checkpoint
    path = write_example_checkpoint("mae", tmp_path / "mae_pretrain.pth")
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="number of attention heads"):
        client.predict(handle_file(str(path)), "", "digits", 0, api_name="/open_pretrained")
    status, target, aux, report = client.predict(handle_file(str(path)), "", "digits", 2, api_name="/open_pretrained")
    assert "mae checkpoint" in status and "left at init" in status
    rows = report["data"] if isinstance(report, dict) else report
    assert any(r[1] == "skipped" and r[0] == "mask_token" for r in rows)


def test_uploads_are_size_limited(tmp_path):
    """A server started with a 1 KB upload limit refuses a 20 KB checkpoint before the app sees it."""
    from app.main import build_app, launch
    demo = build_app(Catalog(cached_tiny_zoo()))
    port = _free_port()
    launch(demo, "127.0.0.1", port, max_upload_mb=0.001, prevent_thread_lock=True, quiet=True)
    try:
        big = tmp_path / "big.safetensors"
        big.write_bytes(os.urandom(20_000))
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with pytest.raises(Exception) as err:
            client.predict(handle_file(str(big)), "", api_name="/add_checkpoint")
        assert re.search(r"size|large|exceed", str(err.value), re.I), str(err.value)
    finally:
        demo.close()


def test_split_all_with_training_items_is_refused_or_labelled_as_in_the_cli(url):
    """Your data, split "all" of the data the open model was trained on: refused like `m2pt eval
    --split all`; with the overlap box ticked it is scored and says how many items were trained on."""
    client = Client(url, verbose=False)
    client.predict("image-digits", "(none)", api_name="/select_models")
    with pytest.raises(Exception, match="items the model was trained on"):
        client.predict("digits", "all", False, api_name="/score_dataset")
    status = client.predict("digits", "all", True, api_name="/score_dataset")[0]
    assert re.search(r"n = 1797\b", status) and "420 of the 1797 items are items this model was trained on" in status
    status = client.predict("digits", "default", False, api_name="/score_dataset")[0]
    assert "none of them is a training item" in status


def test_huge_image_is_refused_from_its_header_and_photos_are_drawn_small(url, tmp_path):
    """A 8000×8000 PNG (a few hundred KB) is refused before it is decoded, and the server keeps
    its memory; a 640×480 photo is drawn at a bounded size (not sent pixel by pixel)."""
    import psutil
    from PIL import Image
    huge, photo = tmp_path / "huge.png", tmp_path / "photo.jpg"
    Image.new("L", (8000, 8000), 128).save(huge)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8)).save(photo, quality=90)
    client = Client(url, verbose=False)
    _open(client)
    rss = psutil.Process().memory_info().rss
    with pytest.raises(Exception, match="8000×8000 = 64.0 million pixels"):
        client.predict(handle_file(str(huge)), 3, api_name="/predict_sample")
    assert psutil.Process().memory_info().rss - rss < 64 * 2**20
    status, shown, _, _ = client.predict(handle_file(str(photo)), 3, api_name="/predict_sample")
    assert "Detected image" in status and len(str(shown)) < 400_000, len(str(shown))


def test_archive_with_a_path_traversal_member_is_refused_on_arrival(url, tmp_path):
    import zipfile
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("digits/0/a.png", b"\x89PNG")
        z.writestr("../../escape.png", b"\x89PNG")
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="points outside the archive's folder"):
        client.predict(handle_file(str(bad)), api_name="/add_dataset")


def test_train_result_has_n_intervals_and_says_one_seed(url):
    client = Client(url, verbose=False)
    out = client.predict("digits", "audio-sounds", 1, 200, 30.0, False, "random", api_name="/train")
    result = out[2]
    n = re.search(r"test accuracy \(95% CI\), (\d+) test items", result)
    assert n and int(n.group(1)) > 0, result
    assert re.search(r"\| baseline \| [\d.]+% \([\d.]+–[\d.]+%\) \|", result), result
    assert re.search(r"M2PT − baseline: [+-][\d.]+ points \(95% CI .* items\)", result) and "One seed" in result, result


def test_status_words_for_a_plain_target(url):
    status = Client(url, verbose=False).predict("audio-sounds", "(none)", api_name="/select_models")[0]
    assert "Opened **audio-sounds** with no auxiliary (no pathways)." in status, status
    assert "n/a" not in status and "(none)" not in status and "accuracy " in status
