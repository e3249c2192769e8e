"""What a session computes from its open pair on request: the knockout map, λ sweeps (stoppable
between layers), weight statistics, the test split, the seed-level evidence, and predictions for
one file. Each takes the session and holds its lock while λ must not move. (Exporting: export.py.)"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

import pandas as pd

from ..analysis import compare_topk, knockout_map, lambda_sweep, weight_stats as _weight_stats
from ..analysis.evaluate import DEFAULT_BATCH_SIZE
from ..errors import InputFileError
from ..pathways import pathway_modules, split_name
from .jobs import JobProgress, JobStopped, stoppable_batch, sweep_costs
from .lambda_state import ALL
from .results import Prediction
from .scoring import evidence_markdown, test_split_report
from .split_score import split_report
from .user_data import article

if TYPE_CHECKING:
    from .session import ExplorerSession

_PLURAL = {"image": "images", "audio": "audio", "pointcloud": "point clouds", "video": "video"}


def job(s: "ExplorerSession", what: str, report: Optional[Callable[[float, str], None]] = None) -> JobProgress:
    """The progress (ETA) and Stop of one long action of this session (the Pathways tab's Stop)."""
    s.sweep_stop.clear()
    return JobProgress(what, report, s.sweep_stop)


def knockout(s: "ExplorerSession", progress: Optional[JobProgress] = None) -> pd.DataFrame:
    """The knockout map on the evaluation items; JobStopped when ``progress``'s Stop is set."""
    with s.lock:
        model = s.lambdas.require()
        d = s.scorer.require_data(s.target_name)
        return knockout_map(model, d.X, d.y, progress=progress,
                            batch_size=stoppable_batch(model) if progress else DEFAULT_BATCH_SIZE)


def sweep_mode(s: "ExplorerSession") -> str:
    """Multiples of the learned λ once they are non-zero; absolute values at λ = 0."""
    return "scale" if any(abs(v) > 0 for v in s.lambdas.now().values()) else "absolute"


def sweep(s: "ExplorerSession", grid: Optional[Sequence[float]] = None, mode: Optional[str] = None,
          progress: Optional[JobProgress] = None) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """λ sweep one layer at a time: yields (layers done, depth, rows so far). ``s.sweep_stop`` (the
    Pathways tab's Stop) ends it, within a layer when ``progress`` is given (``job``); the rows
    then cover the layers done."""
    model = s.lambdas.require()
    d = s.scorer.require_data(s.target_name)
    mode = mode or sweep_mode(s)
    layers = sorted({split_name(n)[0] for n in s.lambdas.names()})
    parts: list[pd.DataFrame] = []
    if progress is None:
        s.sweep_stop.clear()
    weights = sweep_costs(layers, max(layers) + 1, grid, mode)
    for k, i in enumerate(layers):
        if s.sweep_stop.is_set():
            return
        try:
            with s.lock:
                parts.append(lambda_sweep(model, d.X, d.y, grid=grid, layers=[i], components=ALL, mode=mode,
                                          progress=progress.part(k, weights) if progress else None,
                                          batch_size=stoppable_batch(model) if progress else DEFAULT_BATCH_SIZE))
        except JobStopped:
            return
        yield k + 1, len(layers), pd.concat(parts, ignore_index=True)


def sweep_reference(s: "ExplorerSession") -> dict[str, Any]:
    """Keyword arguments of figures.sweep_curves that keep "as trained" on the learned λ after
    edits: learned λ per layer (mean of its pathways), the accuracy as trained, the split."""
    layers = sorted({int(n.split(".")[1]) for n in s.lambdas.learned})
    data = s.scorer.data
    split = None if data is None else data.split_name + (" (fixed stratified subset)" if data.is_subset else "")
    return {"learned": {i: s.lambdas.learned_value(f"layer {i} · {ALL}") for i in layers},
            "learned_score": s.scorer.learned_acc, "split": split}


def weight_stats(s: "ExplorerSession") -> pd.DataFrame:
    with s.lock:
        return _weight_stats(s.lambdas.require())


def score_test(s: "ExplorerSession", progress: Optional[JobProgress] = None) -> str:
    """The open model (λ as set) and its baseline on the whole test split: only on request."""
    with s.lock:
        return test_split_report(s.require_model(), s.baseline, s.baseline_name, s.data_size, progress)


def score_whole_split(s: "ExplorerSession", progress: Optional[JobProgress] = None) -> str:
    """λ as set now, λ as learned and the baseline on the whole validation split (the slider scores
    a fixed subset when the split is larger): on request, streamed (split_score.py)."""
    with s.lock:
        return split_report(s.require_model(), s.baseline, s.baseline_name, s.data_size, "val",
                            learned=s.lambdas.learned, progress=progress)


def evidence(s: "ExplorerSession") -> str:
    """Seed-level evidence for the open pair (docs/results.md via assets/evidence.json), or a note
    that the comparisons shown are one run."""
    return evidence_markdown(getattr(getattr(s.model, "config", None), "dataset", None), s.aux_name)


def predict(s: "ExplorerSession", path: Union[str, Path], k: int = 5) -> Prediction:
    """Top-k of the baseline and of the M2PT model (λ as now) for one file."""
    from ..data import detect_modality, load_file
    model = s.require_model()
    path = Path(path)
    modality = detect_modality(path)
    want = model.config.modality
    if modality != want:
        raise InputFileError(
            f"This model takes {_PLURAL.get(want, want)}; {path.name} is {article(modality)} {modality} file "
            f"({s.target_name} is {article(want)} {want} model). "
            f"Upload {article(want)} {want} file, or open {article(modality)} {modality} model in the Models tab.")
    if modality in ("image", "video"):
        from .samples import check_image_pixels
        check_image_pixels(path)                   # from the header, before anything is decoded
    x = load_file(path, spec=model.config.input)
    with s.lock:
        models = {"M2PT (λ as set)" if pathway_modules(model) else s.target_name: model}
        if s.baseline is not None:
            models = {f"baseline ({s.baseline_name})": s.baseline, **models}
        table = compare_topk(models, x, k=min(k, model.config.num_classes))
    return Prediction(modality, x, table, path)
