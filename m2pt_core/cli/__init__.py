"""The `m2pt` command line. Thin: each subcommand parses options and calls the library.

Subcommands register through SUBCOMMANDS ({name: registrar(subparsers)}); a registrar adds its
parser and sets ``func`` (args -> exit code). Under torchrun, `python -m m2pt_core.cli train ...`
trains with DDP."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional, Sequence

Registrar = Callable[[argparse._SubParsersAction], None]
DATASET_HELP = ("a built-in name (mnist5k, digits, sounds, shapes3d, motion, ...), a class-per-folder directory "
                "(with its own train/ val/ test/ sub-folders, or split by a seeded hash of each file's path), a CSV "
                "manifest (path,label; paths relative to it) or a .zip / .tar.gz of either")
MODALITY_CHOICES = ("image", "audio", "pointcloud", "video")
MODALITY_HELP = "modality of a folder's files (default: detected from their extensions)"
SUBCOMMANDS: dict[str, Registrar] = {}


def subcommand(name: str) -> Callable[[Registrar], Registrar]:
    def deco(fn: Registrar) -> Registrar:
        SUBCOMMANDS[name] = fn
        return fn
    return deco


def _add_recipe_options(p: argparse.ArgumentParser) -> None:
    from ..train import TrainConfig
    from ..train.config import DEFAULT_RECIPE, RECIPE_PRESETS
    d = TrainConfig()
    p.add_argument("--recipe", choices=tuple(RECIPE_PRESETS), default=DEFAULT_RECIPE,
                   help="pathway recipe preset; explicit flags below override it. "
                        + "; ".join(f"{r.name}: {r.description}" for r in RECIPE_PRESETS.values())
                        + f" (default {DEFAULT_RECIPE})")
    p.add_argument("--size", default="demo", help="model size: test, demo, small6, vit_small, vit_base (default demo)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size per process (default {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate, AdamW (default {d.lr})")
    p.add_argument("--lambda-lr-scale", type=float, default=None,
                   help="λ learning rate as a multiple of --lr (default: the recipe's, paper 1, ours "
                        f"{RECIPE_PRESETS['ours'].lambda_lr_scale:g}; measured: docs/results.md)")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help=f"linear warmup before cosine decay (default {d.warmup_epochs})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay, never on λ/biases/norms/tokens (default {d.weight_decay})")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help=f"max gradient norm, 0 disables (default {d.grad_clip})")
    p.add_argument("--data-size", type=int, default=None, help="items across all splits (default: the dataset's own size)")
    p.add_argument("--lambda-init", type=float, default=None, help="initial λ of every pathway (default: the recipe's, 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if present, else CPU)")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast on CUDA (ignored on CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


def _recipe(args: argparse.Namespace):
    """The --recipe preset with the explicitly given flags applied over it."""
    from ..train.config import recipe_preset
    components = getattr(args, "components", None)
    return recipe_preset(args.recipe, lambda_lr_scale=args.lambda_lr_scale, lambda_init=args.lambda_init,
                         aux_trainable=False if getattr(args, "aux_frozen", False) else None,
                         components=tuple(components) if components else None)


def _config(args: argparse.Namespace, **kw):
    from ..train import TrainConfig
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       lambda_lr_scale=_recipe(args).lambda_lr_scale, warmup_epochs=args.warmup_epochs,
                       weight_decay=args.weight_decay, grad_clip=args.grad_clip or None, device=args.device,
                       amp=args.amp, progress=not args.no_progress, **kw)


def _threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        import torch
        torch.set_num_threads(args.threads)


def _layers_arg(text: str) -> list[int]:
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated block indices like 1,3,5; got {text!r}") from None


def _aux_layers_arg(text: str):
    return text if text == "spread" else _layers_arg(text)


@subcommand("train")
def _register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a baseline or M2PT model on a dataset",
                       description="Train a fresh model on a registered dataset, optionally with cross-modal "
                                   "pathways to an auxiliary model. Under torchrun it trains with DDP.")
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--modality", default=None, choices=MODALITY_CHOICES, help=MODALITY_HELP)
    p.add_argument("--aux", default="none",
                   help="auxiliary weights: none (baseline), a zoo name (m2pt zoo list), a checkpoint path, "
                        "minilm-l6 (needs --size small6), random (norm of the target's init) or random:SOURCE "
                        "(random weights with SOURCE's per-layer Frobenius norm)")
    p.add_argument("--aux-frozen", action="store_true", help="keep W' frozen (default: trainable, as in both recipes)")
    p.add_argument("--components", nargs="+", default=None, choices=("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"),
                   help="linear layers given a pathway (default: the recipe's, all four)")
    p.add_argument("--init", default=None, metavar="PATH_OR_NAME",
                   help="start the target from pretrained weights: a timm / DeiT / MAE / AudioMAE / Point-MAE / "
                        "VideoMAE / M2PT checkpoint file, one of ours, or a Hugging Face name in the local cache "
                        "(timm/vit_small_patch16_224.augreg_in21k); the size then follows the checkpoint (--size is ignored)")
    p.add_argument("--num-heads", type=int, default=None, help="attention heads of an --init checkpoint of non-standard width")
    p.add_argument("--aux-layers", default=None, metavar="spread|I,J,...", type=_aux_layers_arg,
                   help="auxiliary block paired with each target block: 'spread' (a deeper auxiliary spread evenly, "
                        "e.g. 24 blocks onto 12: every second block) or a comma list (default: same index)")
    p.add_argument("--layers", default=None, metavar="I,J,...", type=_layers_arg,
                   help="target blocks given a pathway (default all); with --aux-layers, the auxiliary block of each")
    p.add_argument("--existing-pathways", choices=("merge", "replace"), default=None,
                   help="an --init checkpoint that already has pathways (an M2PT model) gets a new --aux only after "
                        "its pathways are merged into W (merge: their effect kept) or dropped (replace)")
    p.add_argument("--seed", type=int, default=0, help="seed of init, shuffling and everything random (default 0)")
    p.add_argument("--out", default=None, help="run folder: checkpoints, log.jsonl, model.safetensors")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    _add_tensorboard_option(p)
    _add_recipe_options(p)
    p.set_defaults(func=_cmd_train)


def _add_tensorboard_option(p: argparse.ArgumentParser, per_run: bool = False) -> None:
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write TensorBoard events to DIR" + (", one subfolder per run," if per_run else "") +
                        ": loss, accuracy and every λ per step (log.jsonl is written either way; the run's identity "
                        "does not change)")


def _cmd_train(args: argparse.Namespace) -> int:
    from ..train import ddp
    from ..run import train_on_dataset
    _threads(args)
    cfg = _config(args, seed=args.seed, out_dir=args.out, resume=args.resume, tensorboard=args.tensorboard)
    recipe = _recipe(args)
    run = train_on_dataset(args.dataset, args.size, args.aux, cfg, aux_trainable=recipe.aux_trainable,
                           lambda_init=recipe.lambda_init, data_size=args.data_size, components=recipe.components,
                           modality=args.modality, init=args.init, aux_layers=args.aux_layers,
                           num_heads=args.num_heads, layers=args.layers, existing_pathways=args.existing_pathways)
    if ddp.is_main():
        print(json.dumps({"recipe": args.recipe, "test_acc": run.test["acc"], "test_loss": run.test["loss"],
                          "val_acc": run.fit.final.get("val_acc"), "train_time_s": round(run.fit.train_time_s, 1),
                          "model": str(run.fit.model_path) if run.fit.model_path else None,
                          "cancelled": run.fit.cancelled}))
    ddp.cleanup()
    return 0


def _checkpoint_path(text: str):
    """A checkpoint file, or the file of a zoo model of that name."""
    from pathlib import Path
    from .. import zoo
    path = Path(text)
    return path if path.exists() else zoo.model_path(text)


@subcommand("eval")
def _register_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy and loss of a checkpoint on a dataset split",
                       description="Score a checkpoint. By default: the test split of the data it was trained on "
                                   "(recorded in the checkpoint). Scoring on items it was trained on is refused "
                                   "unless --allow-train-overlap, and the output then says how many there were.")
    p.add_argument("checkpoint", help="our .safetensors checkpoint, or a zoo model name")
    p.add_argument("--dataset", default=None, help="dataset (default: the one recorded in the checkpoint): " + DATASET_HELP
                   + "; its files are read as the model's modality")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"), help="split (default test)")
    p.add_argument("--data-size", type=int, default=None, help="items across all splits (default: the recorded one)")
    p.add_argument("--data-seed", type=int, default=None, help="data seed (default: the recorded one)")
    p.add_argument("--allow-train-overlap", action="store_true",
                   help="score even if the items include the model's training items (the output says how many)")
    p.add_argument("--batch-size", type=int, default=256, help="evaluation batch size (default 256)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA if present)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..data import eval_dataset
    from ..device import pick_device
    from ..train import evaluate
    path = _checkpoint_path(args.checkpoint)
    model = load_checkpoint(path, device=pick_device(args.device))
    choice = eval_dataset(model, args.split, dataset=args.dataset, seed=args.data_seed, size=args.data_size,
                          allow_train_overlap=args.allow_train_overlap)
    print(json.dumps({"checkpoint": str(path), "dataset": getattr(choice.data, "name", None), "split": args.split,
                      "n": len(choice.data), "data": choice.describe(), "train_overlap": choice.train_overlap,
                      **evaluate(model, choice.data, args.batch_size)}))
    return 0


@subcommand("export")
def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="merge a checkpoint's pathways and write it for other tools (timm)",
                       description="Fold W + λW' into plain linear layers and write the model: image targets as a "
                                   "timm VisionTransformer folder (config.json + model.safetensors, loads with "
                                   "timm.create_model('local-dir:OUT', pretrained=True)); average-pooled audio targets "
                                   "in AudioMAE's layout; the rest in this project's. Prints which, why, and how to load it.")
    p.add_argument("checkpoint", help="our .safetensors checkpoint, or a zoo model name")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", choices=("auto", "timm", "audiomae", "m2pt"), default="auto",
                   help="timm (image targets), audiomae (audio, avg-pooled), m2pt (ours), auto: the target's own "
                        "project's layout where one computes the same function, else ours (default auto)")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path
    from ..checkpoint import load_checkpoint
    from ..explorer.timm_export import export_target
    path = _checkpoint_path(args.checkpoint)
    result = export_target(load_checkpoint(path), Path(args.out), args.format, stem=path.stem)
    print(json.dumps({"checkpoint": str(path), **result}, indent=1))
    return 0


@subcommand("experiment")
def _register_experiment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="arms × auxiliaries × seeds on one target dataset, one table",
                       description="Train baseline, M2PT (each auxiliary), random-weights control and optionally "
                                   "frozen-W' arms over several seeds; writes results.csv and prints mean ± std.")
    p.add_argument("--target", "--dataset", dest="target", required=True, help="target dataset: " + DATASET_HELP)
    p.add_argument("--modality", default=None, choices=MODALITY_CHOICES, help=MODALITY_HELP)
    p.add_argument("--aux", nargs="+", default=[], help="auxiliaries: zoo names, checkpoint paths or minilm-l6")
    p.add_argument("--arms", nargs="+", default=["baseline", "m2pt", "random"],
                   help="some of baseline m2pt random frozen positive (default: baseline m2pt random)")
    p.add_argument("--positive-aux", default=None, metavar="NAME_OR_PATH",
                   help="the positive control of the 'positive' arm: an auxiliary of the target's own modality "
                        "trained on other items (its training data must share no item, by content, with the "
                        "target's val / test split), e.g. image-mnist5k for --target mnist5k")
    p.add_argument("--train-fractions", nargs="+", type=float, default=[1.0], metavar="F",
                   help="train on these stratified parts of the train split, e.g. 0.05 0.2 1 (val and test stay "
                        "the same items; default 1)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--out", default="runs/experiment", help="folder of the runs and results.csv (finished runs are reused)")
    _add_run_options(p, "pretrained starting weights of every target (as in m2pt train --init; --size is then ignored)")
    p.set_defaults(func=_cmd_experiment)


def _add_run_options(p: argparse.ArgumentParser, init_help: str) -> None:
    """What experiment and ablate share: --init / --num-heads, a TensorBoard folder per run, the recipe."""
    p.add_argument("--init", default=None, metavar="PATH_OR_NAME", help=init_help)
    p.add_argument("--num-heads", type=int, default=None, help="attention heads of an --init checkpoint of non-standard width")
    _add_tensorboard_option(p, per_run=True)
    _add_recipe_options(p)


def _cmd_experiment(args: argparse.Namespace) -> int:
    import pandas as pd
    from ..experiment import run_experiment, summarize
    _threads(args)
    table = run_experiment(args.target, args.aux, arms=args.arms, seeds=args.seeds,
                           config=_config(args, tensorboard=args.tensorboard),
                           size=args.size, out_dir=args.out, data_size=args.data_size,
                           lambda_init=_recipe(args).lambda_init, progress=not args.no_progress,
                           modality=args.modality, init=args.init, num_heads=args.num_heads,
                           positive_aux=args.positive_aux, train_fractions=args.train_fractions)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summarize(table).to_string(index=False))
    return 0


@subcommand("ablate")
def _register_ablate(sub: argparse._SubParsersAction) -> None:
    from .ablate import register
    register(sub)


@subcommand("zoo")
def _register_zoo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="build, verify or list the bundled model zoo (assets/zoo)")
    zs = p.add_subparsers(dest="zoo_cmd", required=True)
    b = zs.add_parser("build", help="train the zoo models deterministically (skips up-to-date ones)")
    b.add_argument("--names", nargs="+", default=None, help="only these models (default: all)")
    b.add_argument("--force", action="store_true", help="retrain even models whose files are up to date")
    b.add_argument("--threads", type=int, default=1, help="CPU threads; results depend on it (default 1)")
    b.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    b.add_argument("--device", default="cpu", help="training device (default cpu, as the bundled zoo was built)")
    ev = zs.add_parser("evaluate", help="re-measure each model's test accuracy on the current datasets")
    ev.add_argument("--update", action="store_true", help="write the new accuracies into the manifest")
    for q in (b, ev, zs.add_parser("verify", help="check every file against the manifest's sha256 (exit 1 on problems)"),
              zs.add_parser("list", help="the zoo's models as a table")):
        q.add_argument("--dir", default=None, help="zoo folder (default: $M2PT_ZOO_DIR or assets/zoo)")
    p.set_defaults(func=_cmd_zoo)


def _cmd_zoo(args: argparse.Namespace) -> int:
    from .. import zoo
    if args.zoo_cmd == "build":
        zoo.build(args.dir, names=args.names, force=args.force, threads=args.threads, progress=not args.no_progress,
                  device=args.device)
        print(zoo.list_models(args.dir).to_string(index=False))
        return 0
    if args.zoo_cmd == "verify":
        problems = zoo.verify(args.dir)
        for line in problems:
            print(f"FAIL {line}", file=sys.stderr)
        if not problems:
            print(f"OK: {len(zoo.model_names(args.dir))} zoo models match {zoo.zoo_dir(args.dir) / zoo.MANIFEST}")
        return 1 if problems else 0
    if args.zoo_cmd == "evaluate":
        print(zoo.evaluate_models(args.dir, update=args.update).to_string(index=False))
        return 0
    print(zoo.list_models(args.dir).to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m2pt", description="M2PT Explorer: Multimodal Pathway training, "
                                     "experiments and the bundled model zoo.")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in SUBCOMMANDS.values():
        register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..errors import M2PTError
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return args.func(args)
    except (M2PTError, KeyError, FileNotFoundError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
