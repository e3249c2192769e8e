"""m2pt_core: the Multimodal Pathway (M2PT) toolkit.

Models for four modalities (MultimodalViT), cross-modal pathways (attach / merge / λ access),
auxiliary-weight loading, and safe checkpoints. Data, training, analysis and the zoo live in
submodules (m2pt_core.data, .train, .analysis, .zoo).
"""
from .checkpoint import load_checkpoint, read_metadata, read_state_dict, save_checkpoint
from .config import ModelConfig, make_config
from .device import pick_device
from .errors import CheckpointError, InputFileError, M2PTError, PathwayMismatchError
from .modalities import MODALITIES, default_spec
from .model import MultimodalViT, create_model
from .pathways import *  # noqa: F401,F403  (the pathway API is the heart of the package)
from .pathways import __all__ as _pathway_all
from .sizes import ModelSize, get_size, list_sizes, register_size

__version__ = "0.1.0"
__all__ = [
    "load_checkpoint", "read_metadata", "read_state_dict", "save_checkpoint", "ModelConfig", "make_config",
    "pick_device", "CheckpointError", "InputFileError", "M2PTError", "PathwayMismatchError", "MODALITIES",
    "default_spec", "MultimodalViT", "create_model", "ModelSize", "get_size", "list_sizes", "register_size",
    *_pathway_all,
]
