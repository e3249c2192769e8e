"""`m2pt ablate`: which layers benefit, one training run per pathway subset × seed (its own
module: the subcommand with the most options)."""
from __future__ import annotations

import argparse
import sys

from . import MODALITY_CHOICES, MODALITY_HELP, _add_run_options, _config, _recipe, _threads


def register(sub: argparse._SubParsersAction) -> None:
    """The `m2pt ablate` parser (registered by the cli package)."""
    from ..ablation import BY_CHOICES, CONTROLS
    p = sub.add_parser("ablate", help="which layers benefit: one training run per pathway subset × seed",
                       description="Train baseline, all-pathways and one arm per pathway subset (--by) over seeds; "
                                   "arms of a seed share initialisation and data order. Finished runs in --out are "
                                   "reused, interrupted ones resumed. Writes ablation.csv (one row per run), "
                                   "deltas.csv (paired Δ vs the same seed's baseline with its t-interval over "
                                   "seeds) and run_deltas.csv (per-run paired bootstrap on the test items).")
    p.add_argument("--target", required=True,
                   help="target data, as for m2pt experiment: a dataset name (e.g. mnist5k), a folder, a CSV "
                        "manifest or an archive")
    p.add_argument("--modality", default=None, choices=MODALITY_CHOICES, help=MODALITY_HELP)
    p.add_argument("--aux", required=True, help="auxiliary: a zoo name, a checkpoint path or minilm-l6")
    p.add_argument("--by", nargs="+", default=["layer"], choices=BY_CHOICES,
                   help="arms: layer, component, layer-component, depth-prefix, depth-suffix, order (reversed and "
                        "shuffled auxiliary blocks) or all (baseline and all pathways only); several allowed")
    p.add_argument("--control", nargs="*", default=[], choices=CONTROLS,
                   help="control conditions, each for 'all' and for every --by arm: random (independent random W' "
                        "with the auxiliary's per-layer norm) and positive (the --positive-aux auxiliary)")
    p.add_argument("--positive-aux", default=None, metavar="NAME_OR_PATH",
                   help="the positive control: an auxiliary of the target's modality trained on no val / test item (by content), e.g. "
                        "image-mnist5k; '{seed}' in a path gives each seed its own (from that seed's init: the same basis)")
    p.add_argument("--target-effect", type=float, default=None, metavar="POINTS",
                   help="with --dry-run: seeds (and minutes here) to detect a mean Δ of this many points")
    p.add_argument("--assumed-sd", type=float, default=3.0, metavar="POINTS",
                   help="per-seed spread of Δ for --target-effect when --out has fewer than 2 finished seeds of "
                        "an arm and its baseline (default 3 points, the bundled mnist5k ablation's typical spread)")
    p.add_argument("--train-fraction", type=float, default=1.0, metavar="F",
                   help="every arm trains on this stratified part of the train split, e.g. 0.05 (the low-data "
                        "regime; val and test stay the same items; default 1)")
    p.add_argument("--arms", nargs="+", default=None, help="only these arm names (e.g. baseline all layer=0)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--shuffle-seed", type=int, default=0, help="seed of the shuffled block order (default 0)")
    p.add_argument("--out", default="runs/ablation", help="folder of the runs and tables (finished runs are reused)")
    p.add_argument("--dry-run", action="store_true", help="list the arms and an estimated time, train nothing")
    p.add_argument("--estimate", action="store_true",
                   help="also write estimate.csv: the first-order effect of each pathway (−∂L/∂λ at λ = 0) on "
                        "each seed's trained baseline")
    _add_run_options(p, "pretrained starting weights of every arm's target (as in m2pt train --init); --size is then "
                        "ignored and the arms are sized from the checkpoint's depth")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from ..ablation import arm_deltas, dry_run, plan_ablation, run_ablation, run_deltas
    _threads(args)
    plan = plan_ablation(args.target, args.aux, by=args.by, seeds=args.seeds,
                         config=_config(args, tensorboard=args.tensorboard), size=args.size,
                         out_dir=args.out, data_size=args.data_size, lambda_init=_recipe(args).lambda_init,
                         controls=args.control, shuffle_seed=args.shuffle_seed, arms=args.arms,
                         modality=args.modality, init=args.init, num_heads=args.num_heads,
                         progress=not args.no_progress, positive_aux=args.positive_aux,
                         train_fraction=args.train_fraction)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        if args.dry_run:
            table = dry_run(plan)
            print(table.drop(columns=["pairs"]).to_string(index=False))
            todo = int((~table.finished).sum())
            print(f"{len(table)} runs ({todo} to train, {len(table) - todo} finished); measured "
                  f"{table.step_s.iloc[0]:.3f} s/step × {table.steps.iloc[0]} steps per run; estimated "
                  f"{table.est_s.sum() / 60:.1f} min")
            if args.target_effect is not None:
                from ..ablation.runner import seeds_for_effect
                print(seeds_for_effect(plan, table, args.target_effect / 100, args.assumed_sd / 100).describe())
            return 0
        import shlex
        from ..ablation.bundled import COMMAND_FILE
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        (plan.out_dir / COMMAND_FILE).write_text("m2pt " + shlex.join(getattr(args, "argv", None) or sys.argv[1:]) + "\n")
        table = run_ablation(plan, progress=not args.no_progress)
        deltas = arm_deltas(table)
        deltas.to_csv(plan.out_dir / "deltas.csv", index=False)
        run_deltas(table).to_csv(plan.out_dir / "run_deltas.csv", index=False)
        from ..ablation.summary import transfer_ratios
        ratios = transfer_ratios(table)
        if len(ratios):
            ratios.to_csv(plan.out_dir / "transfer.csv", index=False)
            print("\n".join(f"{r.arm}: {r.note}" for r in ratios.itertuples()))
        if args.estimate:
            from ..ablation.estimate import estimate_for_plan
            estimate_for_plan(plan, table).to_csv(plan.out_dir / "estimate.csv", index=False)
        print(deltas.drop(columns=["by", "kind"]).to_string(index=False))
    return 0
