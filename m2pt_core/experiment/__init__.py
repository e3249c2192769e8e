"""Experiment runner: arms × auxiliaries × seeds on one target dataset, one tidy table.

Arms (every arm of one seed starts from the same target initialisation, so differences are paired):
    baseline  no pathway
    m2pt      pathways to each auxiliary, W' trainable (the paper's arm; its λ lr is the config's:
              ×100 in our default recipe, ×1 in the paper's, see train/config.py RECIPE_PRESETS)
    frozen    pathways to each auxiliary, W' frozen
    random    pathways to random weights with the auxiliary's per-layer Frobenius norm: the control
              the paper lacks (is it the auxiliary *data* that helps, or extra parameters of that scale?)

One job per module: identity.py (what a run is, and its hash), folders.py (its folder), setup.py
(splits, train fraction, auxiliaries and each arm's weights and label: shared with ablations),
one_run.py (build, train, score one run), orchestrate.py (run_experiment) and seeds.py (summarize).
"""
from ..pathways.random_aux import random_aux_like  # noqa: F401  (re-exported: notebooks import it from here)
from .folders import RUN_FILE, TEST_ITEMS_FILE, run_dir_of
from .identity import RUN_FORMAT, RunRequest, data_identity, request_spec, run_id
from .one_run import RESULT_COLUMNS, _test_items, build_model, train_run  # noqa: F401  (_test_items: tests)
from .orchestrate import ARMS, run_experiment
from .seeds import summarize
from .setup import arm_source, aux_label, open_splits, run_name, with_train_fraction

__all__ = ["ARMS", "RESULT_COLUMNS", "RUN_FILE", "RUN_FORMAT", "TEST_ITEMS_FILE", "RunRequest", "arm_source",
           "aux_label", "build_model", "data_identity", "open_splits", "random_aux_like", "request_spec",
           "run_dir_of", "run_experiment", "run_id", "run_name", "summarize", "train_run", "with_train_fraction"]
