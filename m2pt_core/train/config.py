"""TrainConfig: one recipe for baseline and M2PT runs alike (it travels in the run's state file)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from ..pathways.aux_weights import COMPONENTS

AMP_MODES = ("none", "bf16", "fp16")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3                 # peak learning rate (after warmup) of every non-λ parameter
    warmup_epochs: float = 1.0       # linear warmup, then cosine to min_lr_ratio·lr, per step
    min_lr_ratio: float = 0.01
    weight_decay: float = 0.05       # AdamW; never on λ, biases, norms, cls/pos tokens (ndim <= 1)
    # λ learning rate = lambda_lr_scale · lr. λ starts at 0 and Adam moves it by about lr per step,
    # so in a few hundred steps it barely leaves 0 without a boost: measured on mnist5k (demo, 168
    # steps, audio aux) mean |λ| ends at 0.003 (×1), 0.02 (×10), 0.13 (×100) with test accuracy
    # equal within noise. 100 is the one at which the pathway carries a visible share of the layer
    # (see docs/results.md, "λ learning rate").
    lambda_lr_scale: float = 100.0
    grad_clip: Optional[float] = 1.0  # max global grad norm; None or 0 disables
    label_smoothing: float = 0.0
    seed: int = 0
    device: Optional[str] = None      # None: CUDA if present, else CPU (M2PT_DEVICE forces)
    amp: str = "none"                 # "bf16" / "fp16" autocast, on CUDA only (ignored on CPU)
    out_dir: Optional[str] = None     # checkpoints, train_state.json, log.jsonl, model.safetensors
    resume: bool = False              # continue from out_dir's last finished epoch
    num_workers: int = 0
    eval_batch_size: int = 256
    progress: bool = True             # tqdm bars in the terminal
    tensorboard: Optional[str] = None # also write TensorBoard events here (loss, accuracy, every λ per step); not a recipe field

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


# What a resume (resume=True over a run with a different recipe) does with each changed field.
# Applied from the resumed step on, and logged as a change at that step: the optimizer's param
# groups are rebuilt from the new config (lr, weight decay, λ lr scale), the schedule and the loss
# read the new values. Refused: fields that fix which items form which step and how many steps
# there are (the data order, the schedule's length), so a resume could never mean what it says.
RESUME_APPLIED_FIELDS = ("lr", "warmup_epochs", "min_lr_ratio", "weight_decay", "lambda_lr_scale",
                         "grad_clip", "label_smoothing", "amp")
RESUME_REFUSED_FIELDS = ("epochs", "batch_size", "seed")


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
