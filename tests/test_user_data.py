"""The dashboard's own-data logic: what may be read, scoring a model on a folder or an uploaded
archive (Wilson interval, per class, confusion), training a pair on a folder."""
from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from m2pt_core import create_model  # noqa: E402
from m2pt_core.data.make_folder import write_archive, write_folder, write_manifest  # noqa: E402
from m2pt_core.errors import M2PTError  # noqa: E402
from m2pt_core.explorer.user_data import UserData, default_split, score_dataset, wilson_interval  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("M2PT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    write_folder("digits", d / "digits_png", 50, bad=2)
    write_manifest(d / "digits_png")
    write_archive(d / "digits_png", d / "digits.zip")
    (tmp_path / "secret").mkdir()
    write_folder("digits", tmp_path / "secret" / "x", 12)
    os.symlink(tmp_path / "secret", d / "escape")
    write_folder("digits", d / "mixed" / "train", 10)      # split folders beside class folders
    write_folder("digits", d / "mixed", 10, start=10)
    return d


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)   # textbook value for 8/10
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and 0.69 < lo < 0.73


def test_only_the_data_dir_and_uploads_are_readable(data_dir, tmp_path):
    ud = UserData(data_dir)
    ch = ud.choices()
    assert {"data: digits_png", "data: digits_png/labels.csv", "data: digits.zip"} <= set(ch)
    assert "data: escape" not in ch                                   # a link out of the folder is not offered
    assert ud.resolve("data: digits_png") == str((data_dir / "digits_png").resolve())
    assert ud.resolve("mnist5k") == "mnist5k"
    for bad in ("data: ../secret", "data: escape/x", str(tmp_path / "secret"), "/etc", "data: "):
        with pytest.raises(M2PTError, match="not a dataset this app may read"):
            ud.resolve(bad)
    with pytest.raises(M2PTError, match="not a dataset this app may read"):
        UserData(None).resolve("data: digits_png")
    up = UserData(None, max_upload_bytes=10**9)
    choice = up.add_upload(data_dir / "digits.zip")
    assert up.resolve(choice).endswith("digits.zip")
    assert choice not in up.choices() and choice != up.add_upload(data_dir / "digits.zip")   # private, unguessable
    with pytest.raises(M2PTError, match="limited to"):
        UserData(None, max_upload_bytes=100).add_upload(data_dir / "digits.zip")
    with pytest.raises(M2PTError, match="archive"):
        up.add_upload(data_dir / "digits_png" / "labels.csv")


def test_score_a_model_on_a_folder_and_an_archive(data_dir):
    torch.manual_seed(0)
    names = [str(i) for i in range(10)]
    model = create_model("test", "image", 10, class_names=names)
    ud = UserData(data_dir)
    s = score_dataset(model, ud.resolve("data: digits_png"))
    assert s.split == "all" and s.n == 50 and len(s.skipped) == 2          # every good file, bad ones listed
    assert s.confusion.sum() == s.n and s.confusion.shape == (len(s.classes), 10)
    lo, hi = s.interval
    assert lo <= s.acc <= hi
    pc = s.per_class()
    assert pc.n.sum() == s.n and pc.correct.sum() == s.correct
    assert "95% CI" in s.describe() and "n = 50" in s.describe()
    z = score_dataset(model, ud.resolve("data: digits.zip"))
    assert (z.n, z.correct) == (s.n, s.correct) and np.array_equal(z.confusion, s.confusion)
    # a model trained on this folder is scored on its test split by default
    own = create_model("test", "image", 10, class_names=names, dataset=ud.resolve("data: digits_png"))
    assert default_split(own, ud.resolve("data: digits_png")) == "test"
    assert score_dataset(own, ud.resolve("data: digits_png")).split == "test"
    with pytest.raises(M2PTError, match="not among the model's classes"):
        score_dataset(create_model("test", "image", 3, class_names=["a", "b", "c"]), ud.resolve("data: digits_png"))


def test_the_score_says_how_the_files_were_split_or_why_not(data_dir):
    import shutil
    model = create_model("test", "image", 10, class_names=[str(i) for i in range(10)])
    with pytest.raises(M2PTError, match=r"split folders \(train/\) beside class folders"):
        score_dataset(model, str(data_dir / "mixed"))
    dup = data_dir / "dup"
    shutil.copytree(data_dir / "digits_png", dup)
    for k, f in enumerate(sorted(dup.glob("*/0*.png"))[:4]):
        shutil.copy(f, f.parent / f"again{k}.png")
    s = score_dataset(model, str(dup), "test")
    assert "byte-identical copies kept in the split of their original" in s.describe()


def test_train_a_pair_on_a_folder(data_dir):
    from m2pt_core.explorer import TrainRequest, train_pair
    from m2pt_core.explorer.data import eval_data
    from m2pt_core.pathways import load_aux
    torch.manual_seed(0)
    aux = load_aux(create_model("test", "audio", 5))
    src = UserData(data_dir).resolve("data: digits_png")
    res = train_pair(TrainRequest(dataset=src, aux="audio", epochs=1, data_size=100, size="test"), aux)
    assert res["data_size"] is None                                         # 50 files < 100: all of them
    assert res["m2pt"].config.dataset == src and 0.0 <= res["test"]["m2pt"]["acc"] <= 1.0
    ev = eval_data(res["m2pt"], res["data_size"])                           # the Models tab's validation data
    assert ev is not None and len(ev.y) > 0


def test_app_has_the_data_tab(data_dir):
    from app.main import build_app, parse_args
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    demo = build_app(Catalog(cached_tiny_zoo()), data_dir=data_dir)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"score_dataset", "add_dataset", "use_dataset_for_training", "train"} <= names
    assert parse_args(["--data-dir", str(data_dir)]).data_dir == str(data_dir)


@contextlib.contextmanager
def _served(data_dir):
    """The dashboard on the tiny zoo with ``data_dir`` as --data-dir, launched here; yields its URL."""
    import socket
    from app.main import build_app, launch
    from m2pt_core.explorer import Catalog
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    demo = build_app(Catalog(cached_tiny_zoo()), data_dir=data_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_dashboard_scores_a_folder_and_an_upload(data_dir):
    """Through the launched app: a --data-dir folder and an uploaded zip, scored on the open model."""
    from gradio_client import Client, handle_file
    with _served(data_dir) as url:
        client = Client(url, verbose=False)
        client.predict("m2pt-digits-audio", "audio-sounds", api_name="/select_models")
        status, table, _, skipped = client.predict("data: digits_png", "all", api_name="/score_dataset")
        assert "n = 50" in status and "95% CI" in status
        rows = table["data"] if isinstance(table, dict) else table
        assert sum(int(r[1]) for r in rows) == 50
        assert len(skipped["data"] if isinstance(skipped, dict) else skipped) == 2
        choice, _ = client.predict(handle_file(str(data_dir / "digits.zip")), api_name="/add_dataset")[-2:]
        value = choice["value"] if isinstance(choice, dict) else choice
        assert value.startswith("upload: digits.zip")
        assert "n = 50" in client.predict(value, "all", api_name="/score_dataset")[0]
        with pytest.raises(Exception, match="split folders"):                # the library's one-line message
            client.predict("data: mixed", "all", api_name="/score_dataset")
        with pytest.raises(Exception, match="not in the list of choices"):   # Gradio refuses it before we do
            client.predict("data: escape/x", "all", api_name="/score_dataset")
        other = Client(url, verbose=False)                                  # another session: not its upload
        other.predict("m2pt-digits-audio", "audio-sounds", api_name="/select_models")
        with pytest.raises(Exception, match="not in the list of choices"):
            other.predict(value, "all", api_name="/score_dataset")


def test_no_server_path_on_the_page(data_dir):
    """Train on a --data-dir folder, open the pair, score the folder: the model's name, the Models
    status and card, the score and the skipped-file list name the folder as the user chose it."""
    from gradio_client import Client
    with _served(data_dir) as url:
        client = Client(url, verbose=False)
        out = client.predict("data: digits_png", "audio-sounds", 1, 200, 30.0, False, "random", api_name="/train")
        name = out[3]["value"] if isinstance(out[3], dict) else out[3]
        assert name == "trained #1 digits_png+audio-sounds · M2PT"
        shown = [str(x) for x in client.predict(name, "audio-sounds", api_name="/select_models")]
        shown += [str(x) for x in client.predict("data: digits_png", "all", True, api_name="/score_dataset")]
        assert "bad" in shown[-1]                                            # the skipped files are listed...
        root = str(data_dir.resolve())
        assert not [s for s in shown if root in s or "/tmp" in s], [s for s in shown if root in s][:1]   # ...by name


def test_a_folder_of_another_modality_gets_one_sentence(tmp_path):
    from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo
    from m2pt_core.explorer import Catalog
    write_folder("sounds", tmp_path / "spoken", 12)
    model = Catalog(cached_tiny_zoo()).load_model("image-digits")
    with pytest.raises(M2PTError) as err:
        score_dataset(model, str(tmp_path / "spoken"), "all")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("This model takes image files and spoken holds audio files"), msg
    assert "Open an audio model" in msg and "Train tab" in msg
