"""Item-level splits: an item's split never depends on the run's size (no train/test leakage)."""
import hashlib

import numpy as np
import pytest
import torch

from m2pt_core.data import list_datasets, load_dataset
from m2pt_core.data.registry import full_size, split_ids
from m2pt_core.data.splits import BlockSplitter, hash_split

SIZES = (600, 1000, None)


@pytest.mark.parametrize("name", ["mnist5k", "digits", "sounds", "shapes3d", "motion"])
def test_train_and_test_never_share_an_item_across_sizes(name):
    assert name in list_datasets()
    train = {s: set(split_ids(name, "train", size=s)) for s in SIZES}
    test = {s: set(split_ids(name, "test", size=s)) for s in SIZES}
    for a in SIZES:
        for b in SIZES:
            assert not train[a] & test[b], (name, a, b)
    # smaller runs use a subset of a larger run's items, split for split
    assert test[600] <= test[1000] <= test[None] and train[600] <= train[1000] <= train[None]
    assert len(split_ids(name, "all", size=600)) == 600 and len(split_ids(name, "all")) == full_size(name)


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha1(x.numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("name", ["sounds", "shapes3d"])
def test_no_overlap_by_content(name):
    """Compared by content, as a user would: no test tensor of the default run is a training
    tensor of a 600-item run (on main before the fix: 61 of 444)."""
    train = {_digest(x) for x in load_dataset(name, "train", size=600).X}
    test = load_dataset(name, "test")
    assert len(test) == 444 and not train & {_digest(x) for x in test.X}
    # the same item is the same tensor whatever the run size
    small = load_dataset(name, "test", size=600)
    pos = {int(i): k for k, i in enumerate(test.indices)}
    for k, i in enumerate(small.indices[:5]):
        assert torch.equal(small.X[k], test.X[pos[int(i)]])
    assert small.keys[0] in test.keys


def test_default_size_split_is_the_one_the_zoo_was_trained_with():
    """Block 0 is split exactly as stratified_split split the whole default-size set."""
    from m2pt_core.data import stratified_split
    labels = np.arange(3000) % 12
    old = stratified_split(labels, (0.70, 0.15, 0.15), 0)
    for k, s in enumerate(("train", "val", "test")):
        assert np.array_equal(old[k], split_ids("sounds", s))


def test_block_splitter_is_nested_balanced_and_grows_past_one_block():
    sp = BlockSplitter(lambda ids: ids % 4, block=80, seed=3)
    prev = set()
    for size in (12, 40, 79, 80, 81, 200):
        ids, parts = sp.select(size)
        assert len(ids) == size and prev <= set(ids)
        prev = set(ids)
        counts = np.bincount(ids % 4, minlength=4)
        assert counts.max() - counts.min() <= 1
    ids, parts = sp.select(200)
    again = dict(zip(*BlockSplitter(lambda ids: ids % 4, block=80, seed=3).select(120)))
    assert all(again[i] == p for i, p in zip(ids, parts) if i in again)


def test_hash_split_does_not_move_when_files_are_added():
    keys = [f"class_{i % 3}/file_{i}.wav" for i in range(300)]
    before = dict(zip(keys, hash_split(keys, seed=1)))
    more = keys + [f"class_{i % 3}/new_{i}.wav" for i in range(200)]
    after = dict(zip(more, hash_split(more, seed=1)))
    assert all(after[k] == before[k] for k in keys)
    share = np.bincount(list(after.values()), minlength=3) / len(more)
    assert abs(share[0] - 0.70) < 0.07 and abs(share[2] - 0.15) < 0.05
