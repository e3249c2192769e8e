"""TrainConfig: one recipe for baseline and M2PT runs alike (it travels in the run's state file)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from ..pathways.aux_weights import COMPONENTS
from ..run_identity import Role, check_declared, names_with, run_field, spec_of

AMP_MODES = ("none", "bf16", "fp16")


@check_declared
@dataclass
class TrainConfig:
    """Every field declares whether it affects the result and what a resume does with it
    (run_identity.py): the run id, the resume policy and the recipe in result tables follow."""
    epochs: int = run_field(10, Role.REFUSED, "the schedule's length")
    batch_size: int = run_field(128, Role.REFUSED, "which items form each step")
    lr: float = run_field(1e-3, Role.APPLIED, "peak learning rate (after warmup) of every non-λ parameter")
    warmup_epochs: float = run_field(1.0, Role.APPLIED, "linear warmup, then cosine to min_lr_ratio·lr, per step")
    min_lr_ratio: float = run_field(0.01, Role.APPLIED)
    weight_decay: float = run_field(0.05, Role.APPLIED, "AdamW; never on λ, biases, norms, cls/pos tokens (ndim <= 1)")
    # λ learning rate = lambda_lr_scale · lr. λ starts at 0 and Adam moves it by about lr per step,
    # so in a few hundred steps it barely leaves 0 without a boost: measured on mnist5k (demo, 168
    # steps, audio aux) mean |λ| ends at 0.003 (×1), 0.02 (×10), 0.13 (×100) with test accuracy
    # equal within noise. 100 is the one at which the pathway carries a visible share of the layer
    # (see docs/results.md, "λ learning rate").
    lambda_lr_scale: float = run_field(100.0, Role.APPLIED)
    grad_clip: Optional[float] = run_field(1.0, Role.APPLIED, "max global grad norm; None or 0 disables")
    label_smoothing: float = run_field(0.0, Role.APPLIED)
    seed: int = run_field(0, Role.REFUSED, "init, data order and everything random")
    device: Optional[str] = run_field(None, Role.NONE, "None: CUDA if present, else CPU (M2PT_DEVICE forces); "
                                      "its type enters the spec through run_identity.environment")
    amp: str = run_field("none", Role.APPLIED, "bf16 / fp16 autocast, on CUDA only (ignored on CPU)")
    out_dir: Optional[str] = run_field(None, Role.NONE, "checkpoints, train_state.json, log.jsonl, model.safetensors")
    resume: bool = run_field(False, Role.NONE, "continue from out_dir's last finished epoch")
    num_workers: int = run_field(0, Role.NONE, "DataLoader workers: items are the same, in the same order")
    eval_batch_size: int = run_field(256, Role.NONE)
    progress: bool = run_field(True, Role.NONE, "tqdm bars in the terminal")
    tensorboard: Optional[str] = run_field(None, Role.NONE, "also write TensorBoard events here (loss, accuracy, "
                                           "every λ per step); where it logs, not what it computes")

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.lambda_lr_scale < 0:
            problems.append("warmup_epochs, weight_decay and lambda_lr_scale must be >= 0")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.resume and not self.out_dir:
            problems.append("resume=True needs out_dir (where the run's checkpoints are)")
        if problems:
            raise ValueError("Invalid TrainConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# What a resume (resume=True over a run with a different recipe) does with each changed field,
# from the declarations above. Applied from the resumed step on, and logged as a change at that
# step: the optimizer's param groups are rebuilt from the new config (lr, weight decay, λ lr scale),
# the schedule and the loss read the new values. Refused: fields that fix which items form which
# step and how many steps there are (the data order, the schedule's length), so a resume could
# never mean what it says.
RESUME_APPLIED_FIELDS = names_with(TrainConfig, Role.APPLIED)
RESUME_REFUSED_FIELDS = names_with(TrainConfig, Role.REFUSED)


def recipe_of(config: TrainConfig) -> dict[str, Any]:
    """The fields of ``config`` that affect the result (the recipe of run specs and ablation metadata)."""
    return spec_of(config)


@dataclass(frozen=True)
class RecipePreset:
    """The pathway settings that tell one M2PT recipe from another (the rest is TrainConfig)."""
    name: str
    lambda_lr_scale: float            # λ lr = lambda_lr_scale · lr
    lambda_init: float
    aux_trainable: bool               # W' trainable
    components: tuple[str, ...]       # linear layers of each block given a pathway
    description: str


RECIPE_PRESETS: dict[str, RecipePreset] = {
    "paper": RecipePreset("paper", 1.0, 0.0, True, tuple(COMPONENTS),
                          "as in the M2PT paper: λ lr equal to the lr, λ init 0, W' trainable, pathways on "
                          "qkv, proj, fc1 and fc2"),
    "ours": RecipePreset("ours", TrainConfig.lambda_lr_scale, 0.0, True, tuple(COMPONENTS),
                         f"this project's default: the paper's, but λ lr ×{TrainConfig.lambda_lr_scale:g} "
                         "(λ barely leaves 0 in short runs otherwise; docs/results.md, \"λ learning rate\")"),
}
DEFAULT_RECIPE = "ours"


def recipe_preset(name: str = DEFAULT_RECIPE, **explicit: Any) -> RecipePreset:
    """The preset ``name`` with every explicitly given (not None) field replacing the preset's."""
    if name not in RECIPE_PRESETS:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {', '.join(RECIPE_PRESETS)}.")
    return replace(RECIPE_PRESETS[name], **{k: v for k, v in explicit.items() if v is not None})
