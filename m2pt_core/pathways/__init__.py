"""Cross-modal pathways: attach, read/override λ, merge, and load auxiliary weights."""
from .attach import AttachReport, attach_pathways, find_blocks, spread_layers
from .aux_weights import COMPONENTS, AuxWeights, aux_from_state_dict
from .lambdas import (LAMBDA_BOUND, check_lambda, get_lambdas, lambda_table, override_lambdas, pathway_modules,
                      select_pathways, set_lambdas, split_name)
from .layer import PathwayLinear
from .loading import MINILM_NAME, load_aux, minilm_l6_path
from .merge import merge_all, merge_pathways, unload_pathways, unmerge_all, verify_merge
from .params import count_parameters, print_trainable_parameters, trainable_parameter_report
from .random_aux import random_aux_like  # noqa: F401  (not in __all__: m2pt_core's exports stay as they were)

__all__ = [
    "AttachReport", "attach_pathways", "find_blocks", "spread_layers", "COMPONENTS", "AuxWeights", "aux_from_state_dict",
    "LAMBDA_BOUND", "check_lambda", "get_lambdas", "lambda_table", "override_lambdas", "pathway_modules",
    "select_pathways", "set_lambdas",
    "split_name", "PathwayLinear", "MINILM_NAME", "load_aux", "minilm_l6_path", "merge_all",
    "merge_pathways", "unload_pathways", "unmerge_all", "verify_merge", "count_parameters",
    "print_trainable_parameters", "trainable_parameter_report",
]
