"""m2pt_core: the Multimodal Pathway (M2PT) toolkit.

The front door: the names most work needs, each documented with Args / Returns.

    create         create_model, load_pretrained_target
    load / save    load_checkpoint, save_checkpoint
    attach         load_aux, attach_pathways, set_lambdas
    merge          merge_pathways
    data           open_dataset
    train          TrainConfig, fit
    evaluate       evaluate, compare_models
    analyse        knockout_map
    export         export_target

Everything else stays importable from its module (m2pt_core.pathways, .data, .train, .analysis,
.experiment, .ablation, .figures, .zoo, .explorer). The names of the training, analysis and
export layers load on first use, so ``import m2pt_core.pathways`` stays light.
"""
from __future__ import annotations

from typing import Any

from .checkpoint import load_checkpoint, save_checkpoint
from .model import MultimodalViT, create_model
from .pathways import attach_pathways, load_aux, merge_pathways, set_lambdas
from .pretrained import load_pretrained_target
from .version import __version__

# Kept importable from here for existing code (not part of the front door; import them from their
# modules): notebooks, the app, tests and benchmarks use them.
from .checkpoint import read_metadata, read_state_dict  # noqa: E402,F401
from .config import ModelConfig, make_config  # noqa: E402,F401
from .device import pick_device  # noqa: E402,F401
from .errors import CheckpointError, InputFileError, M2PTError, PathwayMismatchError  # noqa: E402,F401
from .modalities import MODALITIES, default_spec  # noqa: E402,F401
from .pathways import (COMPONENTS, PathwayLinear, count_parameters, get_lambdas, lambda_table,  # noqa: E402,F401
                       merge_all, override_lambdas, pathway_modules, print_trainable_parameters, verify_merge)
from .sizes import ModelSize, get_size, list_sizes, register_size  # noqa: E402,F401

# Front-door names of the layers above (training, analysis, export): imported on first use.
_LAZY = {"TrainConfig": "train", "fit": "train", "evaluate": "train", "open_dataset": "data",
         "compare_models": "analysis", "knockout_map": "analysis", "export_target": "explorer.timm_export"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _LAZY[name] == "train":
        from . import train as module
    elif _LAZY[name] == "data":
        from . import data as module
    elif _LAZY[name] == "analysis":
        from . import analysis as module
    else:
        from .explorer import timm_export as module
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "create_model", "load_pretrained_target", "load_checkpoint", "save_checkpoint", "load_aux", "attach_pathways",
    "set_lambdas", "merge_pathways", "open_dataset", "TrainConfig", "fit", "evaluate", "compare_models",
    "knockout_map", "export_target", "MultimodalViT", "__version__",
]
