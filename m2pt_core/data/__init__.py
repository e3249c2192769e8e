"""Data for M2PT Explorer: file loading and preprocessing per modality, and built-in datasets.

    load_file(path)                      any supported file -> canonical model input tensor
    load_dataset("sounds", "train")      a built-in or registered dataset split (M2PTDataset)
    open_dataset(name_or_path, "train")  a built-in name, a folder, a CSV manifest or a .zip/.tar.gz
                                         (lazy: decoded in DataLoader workers, cached on disk)
    FolderDataset(root) / ManifestDataset(csv)   your own files, in memory, bad ones skipped and reported
"""
from .dataset import M2PTDataset, stratified_split
from .folders import FolderDataset, ManifestDataset
from .formats import detect_modality, sniff_format
from .limits import DEFAULT_MAX_BYTES
from .load import load_file
from .preprocess import preprocess_audio, preprocess_image, preprocess_points, preprocess_video
from .provenance import DataProvenance, EvalChoice, TrainOverlapError, eval_dataset, model_provenance
from .registry import DatasetInfo, dataset_info, list_datasets, load_dataset, raw_items, register_dataset
from .lazy import FileDataset
from .sources import open_dataset  # registers the provenance loaders of folder-like data

# Built-in datasets register themselves on import.
from . import images, motion, shapes, sounds  # noqa: E402,F401  isort:skip



def __getattr__(name: str):
    # Lazy, so that `python -m m2pt_core.data.samples` does not import the module twice.
    if name == "write_samples":
        from .samples import write_samples

        return write_samples
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_BYTES", "DataProvenance", "DatasetInfo", "EvalChoice", "FileDataset", "TrainOverlapError", "eval_dataset",
    "model_provenance", "FolderDataset", "M2PTDataset", "ManifestDataset", "dataset_info", "detect_modality",
    "list_datasets", "load_dataset", "load_file", "open_dataset", "preprocess_audio", "preprocess_image",
    "preprocess_points", "preprocess_video", "raw_items", "register_dataset", "sniff_format",
    "stratified_split", "write_samples",
]
