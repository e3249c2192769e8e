"""open_dataset on the user's own files: folders, manifests and archives of every modality, bad
files mixed in; split stability; the tensor cache; archive safety; provenance round trip."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from m2pt_core.data import load_dataset, open_dataset
from m2pt_core.data.archives import extract_archive
from m2pt_core.data.make_folder import write_archive, write_folder, write_manifest
from m2pt_core.data.provenance import check_disjoint, load_from_provenance
from m2pt_core.errors import InputFileError, M2PTError

BUILTIN = {"image": "mnist5k", "audio": "sounds", "pointcloud": "shapes3d", "video": "motion"}
N, BAD = 36, 3


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("M2PT_CACHE_DIR", str(tmp_path / "cache"))


def _splits(source, **kw):
    return {s: open_dataset(source, s, **kw) for s in ("train", "val", "test")}


@pytest.mark.parametrize("modality", ["image", "audio", "pointcloud", "video"])
def test_folder_manifest_and_archive_of_each_modality(tmp_path, modality, caplog):
    root = tmp_path / modality
    good = write_folder(BUILTIN[modality], root, N, bad=BAD, sample_rate=8000 if modality == "audio" else None)
    folder = _splits(root)
    assert {d.modality for d in folder.values()} == {modality}
    # every good file is in exactly one split, every bad one is skipped and named with its reason
    keys = [k for d in folder.values() for k in d.keys]
    assert len(keys) == len(set(keys)) == len(good)
    bad_listed = {Path(p).name for d in folder.values() for p, _ in d.skipped}
    assert bad_listed == {f"bad{b:03d}{good[0].suffix}" for b in range(BAD)}
    assert "skipped" in caplog.text and "bad000" in caplog.text
    check_disjoint(folder["train"].keys, folder["test"].keys)
    x, y = folder["train"][0]
    assert x.shape == folder["train"].spec.input_shape and x.dtype == torch.float32
    # labels come from the class folders, without decoding
    for d in folder.values():
        assert all(d.classes[int(lab)] == Path(p).parent.name for p, lab in zip(d.paths, d.y))
    # a manifest and an archive of the same tree give the same items in the same splits
    manifest = _splits(write_manifest(root))
    archive = _splits(write_archive(root, tmp_path / ("data.zip" if modality in ("image", "video") else "data.tar.gz")))
    for s in folder:
        assert manifest[s].keys == folder[s].keys == archive[s].keys
    assert archive["train"].provenance.kind == "archive" and manifest["train"].provenance.kind == "manifest"
    assert archive["train"].provenance.fingerprint == folder["train"].provenance.fingerprint


def test_builtin_names_go_to_the_registry():
    a = open_dataset("digits", "val", size=300)
    b = load_dataset("digits", "val", size=300)
    assert torch.equal(a.X, b.X) and a.keys == b.keys
    with pytest.raises(M2PTError, match="not a registered name"):
        open_dataset("no_such_dataset_or_folder")
    with pytest.raises(M2PTError, match="audio"):
        open_dataset("digits", "val", modality="audio")


def test_splits_stay_put_when_files_are_added(tmp_path):
    root = tmp_path / "pts"
    write_folder("shapes3d", root, 60)
    before = {s: set(d.rels) for s, d in _splits(root).items()}
    fp_before = open_dataset(root, "test").provenance.fingerprint
    write_folder("shapes3d", root, 40, start=60)   # new files elsewhere in the tree
    after = {s: set(d.rels) for s, d in _splits(root).items()}
    for s in before:
        assert before[s] <= after[s]                  # nothing moved
    assert sum(len(v) for v in after.values()) == 100
    assert open_dataset(root, "test").provenance.fingerprint != fp_before
    # another seed draws another split
    assert set(open_dataset(root, "test", seed=1).rels) != after["test"]


def test_a_tree_with_its_own_splits_keeps_them(tmp_path):
    for split, start in (("train", 0), ("val", 40), ("test", 60)):
        write_folder("shapes3d", tmp_path / "d" / split, 20 if split != "train" else 40, start=start)
    d = _splits(tmp_path / "d")
    assert {s: len(x) for s, x in d.items()} == {"train": 40, "val": 20, "test": 20}
    assert all(r.startswith("test/") for r in d["test"].rels)
    assert d["test"].provenance.split_rule == "preset/2"


def test_a_copied_file_is_the_same_item(tmp_path):
    root = tmp_path / "img"
    good = write_folder("digits", root, 40)
    ds = open_dataset(root, "all")
    shutil.copy(good[0], root / ds.classes[0] / "copy_of_first.png")
    ds2 = open_dataset(root, "all")
    assert ds2.keys.count(ds.keys[ds.rels.index(good[0].relative_to(root).as_posix())]) == 2


def test_second_pass_reads_the_cache_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    root = tmp_path / "img"
    good = write_folder("digits", root, 30)
    ds = open_dataset(root, "all")
    first = {r: ds[i][0] for i, r in enumerate(ds.rels)}
    import m2pt_core.data.lazy as lazy

    def no_decode(*a, **k):
        raise AssertionError("decoded although cached")
    monkeypatch.setattr(lazy, "load_file", no_decode)
    again = open_dataset(root, "all")          # nothing decoded: every tensor comes from the cache
    assert all(torch.equal(again[i][0], first[r]) for i, r in enumerate(again.rels))
    monkeypatch.undo()
    # rewrite one file with other content: its key changes, the old tensor is not served
    target = good[0]
    other = good[1].read_bytes()
    target.write_bytes(other)
    changed = open_dataset(root, "all")
    rel = target.relative_to(root).as_posix()
    i = changed.rels.index(rel)
    assert torch.equal(changed[i][0], first[good[1].relative_to(root).as_posix()])
    assert not torch.equal(changed[i][0], first[rel])


def test_an_unreadable_item_is_dropped_from_its_batch_not_the_run(tmp_path):
    from m2pt_core.train.batches import iterate
    root = tmp_path / "img"
    good = write_folder("digits", root, 30)
    ds = open_dataset(root, "all", prepare=False)
    good[3].write_bytes(b"")                   # broken after listing, before reading
    xs = [x for x, _ in iterate(ds, torch.arange(len(ds)), 8)]
    assert sum(len(x) for x in xs) == len(ds) - 1


def test_no_usable_file_is_a_clear_error(tmp_path):
    root = tmp_path / "bad"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(4):
        (root / "a" / f"{i}.png").write_text("not an image")
        (root / "b" / f"{i}.png").write_bytes(b"")
    with pytest.raises(InputFileError, match="no file .* could be read as image"):
        open_dataset(root, "all")
    (root / "a" / "x.wav").write_text("x")
    with pytest.raises(InputFileError, match="no pointcloud file"):
        open_dataset(root, "all", modality="pointcloud")


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return path


def test_archive_path_traversal_links_and_size_are_refused(tmp_path):
    cache = tmp_path / "c"
    for bad in ("../evil.png", "/abs/evil.png", "a/../../evil.png"):
        with pytest.raises(InputFileError, match="outside the archive"):
            extract_archive(_zip(tmp_path / "t.zip", {"ok/a.png": b"x", bad: b"x"}), cache)
    assert not (tmp_path / "evil.png").exists() and not list((cache / "archives").glob("*/"))
    with pytest.raises(InputFileError, match="link"):
        extract_archive(_zip(tmp_path / "l.zip", {"ok/a.png": b"x"}, symlink="ok/link.png"), cache)
    tar = tmp_path / "l.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        info = tarfile.TarInfo("ok/link.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(InputFileError, match="link"):
        extract_archive(tar, cache)
    with pytest.raises(InputFileError, match="more than"):
        extract_archive(_zip(tmp_path / "big.zip", {"ok/a.bin": bytes(5000)}), cache, max_bytes=1000)
    with pytest.raises(InputFileError, match="not a readable"):
        (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 nothing")
        extract_archive(tmp_path / "junk.zip", cache)


def test_provenance_rebuilds_the_same_split(tmp_path):
    root = tmp_path / "snd"
    write_folder("sounds", root, 48, sample_rate=8000)
    train = open_dataset(root, "train", seed=3)
    prov = train.provenance
    assert prov.kind == "folder" and prov.split_rule == "hash/2" and prov.seed == 3 and prov.modality == "audio"
    again = load_from_provenance(type(prov).from_dict(json.loads(prov.to_json())), "test", spec=train.spec)
    assert again.keys == open_dataset(root, "test", seed=3).keys
    check_disjoint(train.keys, again.keys)
    write_folder("sounds", root, 12, start=48)
    with pytest.warns(UserWarning, match="changed since the model was trained"):
        load_from_provenance(prov, "test", spec=train.spec)


def test_train_on_a_folder_then_eval_with_no_flags(tmp_path, capsys):
    """`m2pt train --dataset FOLDER` then `m2pt eval CKPT`: the checkpoint's data and test split."""
    from m2pt_core.cli import main
    root = tmp_path / "img"
    write_folder("digits", root, 60, bad=2)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(root), "--size", "test", "--epochs", "1", "--batch-size", "16",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    listed = (out / "skipped_files.tsv").read_text().splitlines()
    assert len(listed) == 3 and all("bad00" in line for line in listed[1:])   # header + the 2 bad files
    assert main(["eval", str(out / "model.safetensors")]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["split"] == "test" and res["n"] == len(open_dataset(root, "test"))
    assert 0.0 <= res["acc"] <= 1.0 and res["train_overlap"] == 0
    # its training items are refused, also when they come back as copies under another folder
    assert main(["eval", str(out / "model.safetensors"), "--split", "train"]) == 2
    copy = tmp_path / "copy_of_img"
    shutil.copytree(root, copy)
    assert main(["eval", str(out / "model.safetensors"), "--dataset", str(copy), "--split", "all"]) == 2
    assert "trained on" in capsys.readouterr().err


def test_loading_files_leaves_the_global_rng_alone(tmp_path):
    root = tmp_path / "pts"
    write_folder("shapes3d", root, 40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    open_dataset(root, "all", num_workers=0)
    assert torch.equal(torch.rand(3), expected)


def _split_of(source, **kw) -> dict[str, str]:
    """relative path -> split of every file ``open_dataset`` keeps."""
    return {r: s for s, d in _splits(source, prepare=False, **kw).items() for r in d.rels}


def test_rows_without_a_split_are_hashed_like_a_manifest_without_the_column(tmp_path, caplog):
    import csv
    root = tmp_path / "img"
    write_folder("digits", root, 40)
    plain = write_manifest(root)
    hashed = _split_of(plain)
    rows = list(csv.reader(plain.open()))[1:]
    given = {rows[i][0]: s for i, s in enumerate(["train"] * 8 + ["val", "test"])}   # 10 of 40 filled
    partial = root / "partial.csv"
    with open(partial, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"])
        w.writerows([p, lab, given.get(p, "")] for p, lab in rows)
    got = _split_of(partial)
    assert len(got) == 40
    assert all(got[p] == s for p, s in given.items())                      # filled cells are kept
    assert all(got[p] == hashed[p] for p in got if p not in given)         # the others: as without the column
    ds = open_dataset(partial, "val", prepare=False)
    assert "30 of 40 file(s) have no split given" in ds.split_note and ds.split_note in caplog.text
    assert ds.provenance.split_rule == "preset+hash/1"


def test_split_folders_beside_class_folders_are_refused_with_the_layout(tmp_path):
    root = tmp_path / "mixed"
    write_folder("digits", root / "train", 20)
    write_folder("digits", root / "test", 10, start=20)
    write_folder("digits", root, 20, start=30)          # class folders at the top as well
    with pytest.raises(InputFileError, match=r"split folders \(test/, train/\) beside class folders.*move .* into train/"):
        open_dataset(root, "train")


def test_a_tree_without_val_draws_val_from_train_and_says_so(tmp_path):
    root = tmp_path / "tt"
    write_folder("digits", root / "train", 40)
    write_folder("digits", root / "test", 10, start=40)
    d = _splits(root, prepare=False)
    assert len(d["val"]) > 0 and len(d["train"]) + len(d["val"]) == 40
    assert all(r.startswith("train/") for r in d["val"].rels) and all(r.startswith("test/") for r in d["test"].rels)
    assert "no val files given" in d["val"].split_note
    # a tree of split folders only (no train/) is still read as splits, not as classes named "test"
    only_test = tmp_path / "only_test"
    write_folder("digits", only_test / "test", 10)
    t = open_dataset(only_test, "test", prepare=False)
    assert len(t) == 10 and "test" not in t.classes


def test_identical_files_under_other_names_share_one_split(tmp_path):
    root = tmp_path / "img"
    good = write_folder("digits", root, 30)
    for k, f in enumerate(good[:10]):        # scraped data: the same bytes under another name
        shutil.copy(f, f.parent / f"zz_copy{k}.png")
    d = _splits(root, prepare=False)
    check_disjoint(d["train"].keys, d["test"].keys)          # raised TrainOverlapError before
    check_disjoint(d["train"].keys, d["val"].keys)
    assert sum(len(x) for x in d.values()) == 40             # copies kept, each beside its original
    assert "10 byte-identical copies kept" in d["test"].split_note
    # copies the user placed in train/ and test/ stay in train only; the dropped ones are named
    tree = tmp_path / "tree"
    files = write_folder("digits", tree / "train", 20)
    write_folder("digits", tree / "val", 5, start=20)
    write_folder("digits", tree / "test", 5, start=25)
    for f in files[:3]:
        (tree / "test" / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, tree / "test" / f.parent.name / f"leak_{f.name}")
    t = _splits(tree, prepare=False)
    check_disjoint(t["train"].keys, t["test"].keys)
    assert len(t["test"]) == 5 and "3 file(s) dropped" in t["test"].split_note
    assert sum("identical to a file in the train split" in r for _, r in t["test"].skipped) == 3


def test_the_tensor_cache_stays_under_its_cap_least_recently_used_out(tmp_path, monkeypatch):
    import os
    import time
    from m2pt_core.data.cache import TensorCache
    cache = TensorCache(tmp_path / "c", max_bytes=20_000)
    x = torch.zeros(500)                                   # ~2.1 kB as .npy
    old = time.time() - 100
    for i in range(9):                                     # 19 kB: under the cap
        cache.put(f"k{i:03d}", x)
        os.utime(cache._path(f"k{i:03d}", ".npy"), (old + i, old + i))
    assert cache.get("k000") is not None                   # read: now the most recently used
    cache.put("k009", x)                                   # over the cap: the least recently used go
    assert cache.has("k000") and cache.has("k009") and not cache.has("k001")
    for i in range(10, 60):
        cache.put(f"k{i:03d}", x)
        assert cache.size_bytes() <= 20_000 + 2_200        # was: growing without bound (126 kB here)
    monkeypatch.setenv("M2PT_CACHE_MAX_MB", "0.5")
    assert TensorCache(tmp_path / "d").max_bytes == 2**19
