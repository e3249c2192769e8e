"""The bundled model zoo (assets/zoo): what the dashboard opens on.

One demo-size model per modality on its built-in dataset (each is a baseline target and an
auxiliary for the others), and M2PT image targets (mnist5k) with each of the other modalities as
auxiliary, stored unmerged (W, W', λ) so λ can be swept. manifest.py looks models up;
build.py trains them deterministically. ``zoo.model_path(...)``, ``zoo.build(...)`` etc. work as before.
"""
from .build import RECIPE_BY_NAME, RECIPES, Recipe, build, create_zoo_model, evaluate_models, train_recipe
from .manifest import (FORMAT, MANIFEST, _entries, list_models, load, manifest, model_names, model_path,  # noqa: F401
                       resolve, sha256, verify, write_manifest, zoo_dir)

__all__ = ["RECIPE_BY_NAME", "RECIPES", "Recipe", "build", "create_zoo_model", "evaluate_models", "train_recipe",
           "FORMAT", "MANIFEST", "list_models", "load", "manifest", "model_names", "model_path", "resolve",
           "sha256", "verify", "write_manifest", "zoo_dir"]
