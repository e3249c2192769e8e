"""Experiment runner: arms × auxiliaries × seeds on one target dataset, one tidy table.

Arms (every arm of one seed starts from the same target initialisation, so differences are paired):
    baseline  no pathway
    m2pt      pathways to each auxiliary, W' trainable (the paper's arm; its λ lr is the config's:
              ×100 in our default recipe, ×1 in the paper's, see train/config.py RECIPE_PRESETS)
    frozen    pathways to each auxiliary, W' frozen
    random    pathways to random weights with the auxiliary's per-layer Frobenius norm: the control
              the paper lacks (is it the auxiliary *data* that helps, or extra parameters of that scale?)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import pandas as pd
import torch

from . import zoo
from .analysis.intervals import seed_interval
from .analysis.paired_seeds import baseline_by_seed
from .model import create_model
from .safe_io import atomic_write_text
from .pathways import AuxWeights, attach_pathways, load_aux
from .pathways.random_aux import random_aux_like  # noqa: F401  (re-exported: notebooks import it from here)
from .run_identity import OMIT, Role, check_declared, environment, run_field, spec_of
from .train import TrainConfig, evaluate, fit
from .train.config import recipe_of
from .train.rng import seeded

ARMS = ("baseline", "m2pt", "random", "frozen", "positive")
RESULT_COLUMNS = ["arm", "aux", "seed", "test_acc", "val_acc", "test_loss", "test_n", "train_time_s",
                  "lam_mean", "lam_abs_mean", "lam_min", "lam_max", "epochs", "run_dir",
                  "run_id", "aux_sha256", "model_size", "data", "recipe", "train_fraction", "train_n"]
RUN_FORMAT = "m2pt-run/3"   # 3: spec derived from the fields' declarations (run_identity.py)
RUN_FILE = "run.json"
TEST_ITEMS_FILE = "test_items.json"


def _lambda_stats(lams: dict[str, float]) -> dict[str, Optional[float]]:
    if not lams:
        return {"lam_mean": None, "lam_abs_mean": None, "lam_min": None, "lam_max": None}
    v = torch.tensor(list(lams.values()))
    return {"lam_mean": float(v.mean()), "lam_abs_mean": float(v.abs().mean()),
            "lam_min": float(v.min()), "lam_max": float(v.max())}


def run_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def _claim_run_dir(run_dir: Path, spec: dict[str, Any]) -> None:
    """Write the run's spec; a folder holding another spec is never reused as this run."""
    f = run_dir / RUN_FILE
    if f.is_file():
        if json.loads(f.read_text()) != spec:
            raise RuntimeError(f"{run_dir} holds a run with another recipe; refusing to reuse it.")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f, json.dumps(spec, indent=1, sort_keys=True))


def _plan(arms: Sequence[str], auxiliaries: Sequence[str],
          positive_aux: Optional[str] = None) -> list[tuple[str, Optional[str]]]:
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise ValueError(f"Unknown arm(s) {bad}; expected some of {list(ARMS)}.")
    if any(a not in ("baseline", "positive") for a in arms) and not auxiliaries:
        raise ValueError("The m2pt / random / frozen arms need at least one auxiliary.")
    if "positive" in arms and not positive_aux:
        raise ValueError("The positive arm needs positive_aux (CLI --positive-aux): an auxiliary of the target's "
                         "own modality trained on other items, e.g. image-mnist5k for an mnist5k target.")
    plan: list[tuple[str, Optional[str]]] = [("baseline", None)] if "baseline" in arms else []
    if "positive" in arms:
        plan.append(("positive", positive_aux))
    for aux in auxiliaries:
        plan += [(arm, aux) for arm in arms if arm not in ("baseline", "positive")]
    return plan


def _recipe(req: "RunRequest") -> dict[str, Any]:
    """The config's result fields with the run's seed, and the environment its numbers depend on."""
    from .device import pick_device
    recipe = {**recipe_of(replace(req.config, seed=req.seed)), **environment(pick_device(req.config.device).type)}
    if req.arm == "baseline":
        recipe["lambda_lr_scale"] = None   # no λ to train: the baseline is the same run at any λ lr
    return recipe


def _pathway_option(value: Callable[["RunRequest"], Any]) -> Callable[["RunRequest"], Any]:
    """Pathway options mean nothing without pathways: a baseline is the same run whatever they are."""
    return lambda req: None if req.arm == "baseline" else value(req)


def _init_identity(req: "RunRequest") -> Any:
    from .train.init import init_fingerprint
    return OMIT if req.init is None else init_fingerprint(req.init)


@check_declared
@dataclass
class RunRequest:
    """One training run: arm (baseline/m2pt/random/frozen), the auxiliary's name and the weights to
    attach (None for the baseline), the seed (target init and data order), the recipe, and where.
    Each field declares its part in the run's identity (run_identity.py; ``request_spec``)."""
    target_dataset: str = run_field(role=Role.DERIVED, note="through the data provenance (kind, size, seed, "
                                    "split rule, file fingerprint), not its path: moved data is the same data")
    arm: str = run_field(role=Role.RESULT)
    aux: Optional[str] = run_field(role=Role.NONE, note="display name; the weights enter as aux_sha256")
    source: Optional[AuxWeights] = run_field(role=Role.RESULT, key="aux_sha256",
                                             spec=lambda r: r.source.sha256() if r.source is not None else None)
    seed: int = run_field(role=Role.DERIVED, note="enters as recipe.seed (the run's config seed)")
    size: str = run_field(role=Role.RESULT, key="model_size")
    config: TrainConfig = run_field(role=Role.RESULT, key="recipe", spec=_recipe)
    lambda_init: float = run_field(role=Role.RESULT, spec=_pathway_option(lambda r: r.lambda_init))
    out_dir: Path = run_field(role=Role.NONE)
    name: str = run_field(role=Role.NONE, note="run folder prefix, e.g. m2pt-audio-sounds")
    pathways: Optional[dict[str, Any]] = run_field(      # subset for attach_pathways (layers/components/aux_layers)
        None, Role.RESULT, spec=lambda r: OMIT if r.pathways is None or r.arm == "baseline" else r.pathways)
    init: Optional[str] = run_field(None, Role.RESULT, "pretrained target weights (train/init.py), by content",
                                    spec=_init_identity)
    data_seed: int = run_field(0, Role.DERIVED, "through the data provenance (its seed)")
    data_size: Optional[int] = run_field(None, Role.DERIVED, "through the data provenance (size, subset)")
    num_heads: Optional[int] = run_field(None, Role.RESULT, "attention heads of an init checkpoint",
                                         spec=lambda r: OMIT if r.init is None else r.num_heads)


def data_identity(data: dict[str, Any]) -> dict[str, Any]:
    """A run's data provenance without where the files lie (their fingerprint identifies them)."""
    return {k: v for k, v in data.items() if not (k == "name" and data.get("fingerprint"))}


def request_spec(req: RunRequest, data: dict) -> dict[str, Any]:
    """Everything that affects the run's result (from the declarations of RunRequest and TrainConfig,
    plus the data provenance): a finished run is reused only when all of it matches."""
    return {"format": RUN_FORMAT, "data": data_identity(data), **spec_of(req)}


def run_dir_of(req: RunRequest, spec: dict[str, Any]) -> Path:
    """The run's folder: its name prefix, seed and the hash of its spec (``request_spec``)."""
    return Path(req.out_dir) / f"{req.name}-seed{req.seed}-{run_id(spec)}".replace("/", "_")


def tensorboard_dir(root: Optional[str], run_dir: Path) -> Optional[str]:
    """One TensorBoard subfolder per run (named as its run folder: arm, seed, run id), so the runs
    of an experiment or ablation are separate curves in one ``--tensorboard DIR``."""
    return str(Path(root) / run_dir.name) if root else None


def build_model(req: RunRequest, train: Any, splits: Optional[dict[str, Any]] = None) -> torch.nn.Module:
    """The target model of ``req.seed`` (the same initial weights for every arm of that seed; with
    ``req.init``, those pretrained weights and a seeded head: then ``splits`` are needed), with the
    requested pathways attached."""
    with seeded(req.seed):   # same target init for every arm of this seed; global RNG untouched
        if req.init is not None:
            from .train.init import pretrained_target_for
            model = pretrained_target_for(req.init, req.target_dataset, splits or {"train": train}, req.data_seed,
                                          req.data_size, req.num_heads, False)[0]
        else:
            model = create_model(req.size, train.modality, len(train.classes), input=train.spec,
                                 class_names=list(train.classes), dataset=req.target_dataset)
    if req.source is not None:
        attach_pathways(model, req.source, lambda_init=req.lambda_init, aux_trainable=req.arm != "frozen",
                        **(req.pathways or {}))
    return model


def _test_items(model: torch.nn.Module, test: Any, batch_size: int) -> dict[str, list]:
    """Per-item correctness and loss on the test split (for paired intervals between runs)."""
    from .analysis.evaluate import predict_logits
    logits = predict_logits(model, test, batch_size)                      # (N, C)
    y = torch.as_tensor(test.tensors()[1]).long()                          # (N,)
    loss = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    return {"correct": (logits.argmax(-1) == y).int().tolist(), "loss": [round(float(v), 6) for v in loss]}


def train_run(req: RunRequest, splits: dict[str, Any], progress: bool = True,
              progress_callback: Optional[Any] = None) -> dict[str, Any]:
    """Train (or reuse / resume) one run and return its result row (RESULT_COLUMNS plus ``lambdas``,
    ``cancelled`` and ``test_items``: a file of per-item test results). The one per-run body of
    experiments and ablations."""
    train = splits["train"]
    data = train.provenance.to_dict()
    spec = request_spec(req, data)
    rid = run_id(spec)
    run_dir = run_dir_of(req, spec)
    _claim_run_dir(run_dir, spec)
    model = build_model(req, train, splits)
    cfg = replace(req.config, seed=req.seed, out_dir=str(run_dir), resume=True, progress=progress,
                  tensorboard=tensorboard_dir(req.config.tensorboard, run_dir))
    if progress:
        print(f"[run] {req.target_dataset} {req.name} seed={req.seed} run={rid}", flush=True)
    result = fit(model, train, splits["val"], cfg, progress_callback=progress_callback)
    test = evaluate(model, splits["test"], cfg.eval_batch_size)
    items_file = run_dir / TEST_ITEMS_FILE
    if not result.cancelled and not items_file.is_file():
        atomic_write_text(items_file, json.dumps(_test_items(model, splits["test"], cfg.eval_batch_size)))
    return {"arm": req.arm, "aux": req.aux or "none", "seed": req.seed, "test_acc": test["acc"],
            "val_acc": result.final.get("val_acc"), "test_loss": test["loss"],
            "test_n": len(splits["test"]), "train_time_s": result.train_time_s,
            **_lambda_stats(result.lambdas), "epochs": len(result.history), "run_dir": str(run_dir),
            "run_id": rid, "aux_sha256": spec["aux_sha256"], "model_size": req.size,
            "data": json.dumps(data, sort_keys=True), "recipe": json.dumps(spec["recipe"], sort_keys=True),
            "lambdas": json.dumps(result.lambdas, sort_keys=True), "cancelled": result.cancelled,
            "test_items": str(items_file) if items_file.is_file() else None,
            "train_fraction": float(data.get("extra", {}).get("train_fraction", 1.0)), "train_n": len(train)}


def run_experiment(target_dataset: str, auxiliaries: Iterable[str] = (),
                   arms: Sequence[str] = ("baseline", "m2pt", "random"), seeds: Sequence[int] = (0, 1, 2),
                   config: Optional[TrainConfig] = None, size: str = "demo",
                   out_dir: Union[str, Path] = "runs/experiment", data_size: Optional[int] = None,
                   lambda_init: float = 0.0, data_seed: int = 0, progress: bool = True,
                   modality: Optional[str] = None, init: Optional[str] = None,
                   num_heads: Optional[int] = None, positive_aux: Optional[str] = None,
                   train_fractions: Sequence[float] = (1.0,)) -> pd.DataFrame:
    """Train every (arm, auxiliary) × train fraction × seed on ``target_dataset``; one row per run.

    auxiliaries: zoo names, checkpoint paths or "minilm-l6". data_size: items across all splits
    (a smaller subset keeps the CPU cost bounded). A run's folder is named by a hash of everything
    that affects its result (``request_spec``: recipe, data provenance, auxiliary weights by sha256,
    model size, λ init, ...), so a finished run is reused, and an interrupted one resumed, only when all of
    that matches; any change runs anew. Writes ``out_dir/results.csv`` with each run's full recipe.
    init: pretrained starting weights of every arm's target (see train/init.py; size follows them).
    positive_aux: the positive control (arm "positive"): an auxiliary of the target's modality that
    never saw its val / test items (checked by content, controls.py). train_fractions: stratified
    parts of the train split (data/fraction.py); val and test are the same items for every fraction."""
    from .data import open_dataset  # the data package registers its datasets on import
    from .data.fraction import train_fraction

    config = config or TrainConfig()
    out_dir = Path(out_dir)
    auxiliaries = list(auxiliaries)
    plan = _plan(arms, auxiliaries, positive_aux)
    splits = {s: open_dataset(target_dataset, s, seed=data_seed, size=data_size, modality=modality)
              for s in ("train", "val", "test")}
    if init is not None:   # pretrained target: its input spec may re-read the splits (train/init.py)
        from .train.init import pretrained_target_for
        with seeded(data_seed):   # its throwaway head leaves the global RNG alone
            first, splits, _ = pretrained_target_for(init, target_dataset, splits, data_seed, data_size, num_heads,
                                                     progress)
        size = first.config.size
    aux_cache = {a: load_aux(a, resolve=zoo.resolve) for a in auxiliaries}
    if "positive" in arms:
        from .controls import positive_control
        control = positive_control(positive_aux, splits)
        aux_cache[positive_aux] = control.weights
        if progress:
            print(f"[positive control] {control.note}", flush=True)
    rows: list[dict[str, Any]] = []
    for fraction in train_fractions:
        part = {**splits, "train": train_fraction(splits["train"], fraction, data_seed)}
        for seed in seeds:
            for arm, aux in plan:
                source = None
                if arm != "baseline":
                    source = random_aux_like(aux_cache[aux], seed) if arm == "random" else aux_cache[aux]
                label = Path(aux).stem if aux and Path(aux).suffix in (".safetensors", ".pt", ".pth", ".bin") else aux
                row = train_run(RunRequest(target_dataset, arm, aux, source, seed, size, config, lambda_init,
                                           out_dir, f"{arm}-{label or 'none'}", init=init, data_seed=data_seed,
                                           data_size=data_size, num_heads=num_heads), part, progress=progress)
                rows.append(row)
                out_dir.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(out_dir / "results.csv", index=False)  # every run
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def summarize(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean ± std over seeds per (arm, aux) and train fraction, plus the paired test-accuracy change
    against the baseline of the same seed and fraction (when the table has a baseline arm), with its
    t-interval over seeds (delta_vs_baseline_lo / _hi at ``level``), whether that interval excludes 0,
    and the minimum detectable effect of the design (delta_vs_baseline_mde: α 0.05, power 0.8)."""
    if "train_fraction" in table.columns and table.train_fraction.nunique() > 1:
        parts = [_summarize_one(t, level).assign(train_fraction=f) for f, t in table.groupby("train_fraction")]
        return pd.concat(parts, ignore_index=True)
    return _summarize_one(table, level)


def _summarize_one(table: pd.DataFrame, level: float) -> pd.DataFrame:
    from .analysis.power import seed_mde
    metrics = ["test_acc", "val_acc", "test_loss", "lam_abs_mean", "train_time_s"]
    t = table.copy()
    base = baseline_by_seed(t)["test_acc"]
    if len(base):
        t["delta_vs_baseline"] = t.test_acc - t.seed.map(base)
        metrics.append("delta_vs_baseline")
    g = t.groupby(["arm", "aux"], sort=False)
    out = g[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out.insert(0, "n_seeds", g.size())
    out["test_acc"] = [f"{m:.4f} ± {0.0 if pd.isna(s) else s:.4f}"
                       for m, s in zip(out.test_acc_mean, out.test_acc_std)]
    if len(base):
        # Paired Δ over seeds: mean ± t-interval (n − 1 dof; unbounded with one seed).
        iv = [seed_interval(d.dropna().tolist(), level=level).interval if d.notna().any() else None
              for _, d in g["delta_vs_baseline"]]
        out["delta_vs_baseline_lo"] = [i.lo if i else float("nan") for i in iv]
        out["delta_vs_baseline_hi"] = [i.hi if i else float("nan") for i in iv]
        out["delta_distinguishable"] = [bool(i and i.distinguishable) for i in iv]
        out["delta_vs_baseline_mde"] = [seed_mde(sd, n) for sd, n in zip(out.delta_vs_baseline_std, out.n_seeds)]
    return out.reset_index()
