"""ExplorerSession: one dashboard user's state, free of any UI code.

It holds the chosen target and auxiliary, its own λ on a copy of the pathway model that shares every
weight tensor (its λ edits never reach another session: see catalog.share_copy; a zoo pair is
prepared once per process), the baseline to compare with, and a SharedEvaluator (a λ change re-runs
only the blocks from the first changed layer on; hidden states and scores live in the catalog's
byte-capped cache, shared where they are the same for everyone), plus models trained or uploaded in
this session, freed by close().
"""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import pandas as pd
import torch
from torch import nn

from ..analysis.evaluate import DEFAULT_BATCH_SIZE
from ..analysis import compare_topk, knockout_map, lambda_sweep, lambda_trajectories, read_log, weight_stats
from ..errors import CheckpointError, InputFileError, M2PTError
from ..pathways import (COMPONENTS, attach_pathways, check_lambda, count_parameters, get_lambdas, lambda_table,
                        merge_pathways, pathway_modules, set_lambdas, split_name)
from ..pathways.aux_weights import AuxWeights
from .catalog import Catalog, ModelCard, share_copy
from .compatibility import compatibility_summary, compatibility_table
from .data import DEFAULT_MAX_EVAL, EvalData, eval_data
from .evaluation import SharedEvaluator, shared_logits
from .jobs import JobProgress, JobStopped, stoppable_batch, sweep_costs
from .pretrained import PretrainedTarget, open_pretrained
from .results import Prediction, SessionScore, TrainedPair
from .user_data import article
from .scoring import Items, evidence_markdown, item_results, make_score, test_split_report
from .split_score import split_report

NO_AUX = "(none)"
ALL = "all"
_SESSION_IDS = itertools.count(1)


class ExplorerSession:
    """One user's explorer state. Every public method may raise M2PTError with a message for the UI."""

    def __init__(self, catalog: Catalog, max_eval: int = DEFAULT_MAX_EVAL):
        self.catalog = catalog
        self.max_eval = max_eval
        self.lock = threading.RLock()
        self.trained: dict[str, TrainedPair] = {}
        self.uploads: dict[str, Path] = {}            # display name → uploaded checkpoint path
        self._upload_models: dict[str, nn.Module] = {}  # loaded uploads (this session's only)
        self._upload_aux: dict[str, AuxWeights] = {}
        self.pretrained: dict[str, PretrainedTarget] = {}   # pretrained checkpoints opened as targets
        self.target_name: Optional[str] = None
        self.aux_name: Optional[str] = None
        self.model: Optional[nn.Module] = None         # this session's own pathway model
        self.baseline: Optional[nn.Module] = None      # read-only reference
        self.baseline_name: Optional[str] = None
        self.data: Optional[EvalData] = None
        self.data_size: Optional[int] = None
        self.learned: dict[str, float] = {}            # λ as trained, kept apart from edits
        self.learned_acc: Optional[float] = None
        self.baseline_acc: Optional[float] = None
        self.learned_items: Optional[Items] = None     # per-item results as trained / of the baseline,
        self.baseline_items: Optional[Items] = None    # for paired intervals without re-evaluation
        self.evaluator: Optional[SharedEvaluator] = None
        self.last: Optional[SessionScore] = None
        self.compat: Optional[pd.DataFrame] = None
        self.notes: list[str] = []
        self.train_stop = threading.Event()             # set by the Train tab's Stop
        self.sweep_stop = threading.Event()             # set by the Pathways tab's Stop (between layers)
        self.training = False                           # a training run of this session is going on
        self.pending_train: Optional[Any] = None       # the TrainRequest of a stopped run (to resume)
        self._train_root: Optional[Path] = None          # stopped runs' last finished epochs, on disk
        self.uid = next(_SESSION_IDS)                  # owner of this session's entries in catalog.cache
        self._generation = 0                           # models opened so far (keys of non-shared weights)

    # -- choices ------------------------------------------------------------------------------
    def target_choices(self) -> list[str]:
        trained = [n for p in self.trained.values() for n in (f"{p.label} · M2PT", f"{p.label} · baseline")]
        return self.catalog.target_names() + trained + list(self.uploads) + list(self.pretrained)

    def aux_choices(self) -> list[str]:
        return [NO_AUX] + self.catalog.aux_names() + list(self.uploads)

    def default_aux(self, target: str) -> str:
        """The auxiliary a target was trained with (its pathways), else none."""
        if target.endswith(" · M2PT") and target[:-len(" · M2PT")] in self.trained:
            return self.trained[target[:-len(" · M2PT")]].aux
        e = self.catalog.entries().get(target) or {}
        return e.get("auxiliary") or NO_AUX

    def card(self, name: str) -> ModelCard:
        if name in self.pretrained:
            return self.pretrained[name].card()
        for label, p in self.trained.items():
            if name.startswith(label):
                arm = "m2pt" if name.endswith("M2PT") else "baseline"
                model = p.m2pt if arm == "m2pt" else p.baseline
                return ModelCard(name, "trained in this session", model.config.modality, p.dataset,
                                 model.config.size, p.aux if arm == "m2pt" else None,
                                 p.test[arm]["acc"], count_parameters(model)[1], p.data_size,
                                 {k: v for k, v in p.settings.items()}, test_items=p.test[arm].get("n"),
                                 classes=list(model.config.class_names or []) or None)
        if name in self.uploads:
            card = ModelCard(name, "uploaded file", extra={"path": self.uploads[name].name})
            try:
                model = self._upload_model(name)
                card.modality, card.dataset, card.size = model.config.modality, model.config.dataset, model.config.size
                card.classes = list(model.config.class_names or []) or None
                card.params = count_parameters(model)[1]
            except M2PTError:
                card.extra["note"] = "weights only: usable as an auxiliary"
            return card
        card = self.catalog.card(name)
        return card

    def add_upload(self, path: Union[str, Path]) -> str:
        """Register a checkpoint the server received as an upload; returns its display name.
        Raises if unreadable. (Typed paths go through add_path.)"""
        from .catalog import checkpoint_summary
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"The uploaded file {path.name} is no longer on the server; upload it again.")
        checkpoint_summary(path)                       # raises CheckpointError when corrupt
        name = f"file: {path.name}"
        if name in self.uploads and self.uploads[name] != path:
            name = f"file: {path.name} ({len(self.uploads) + 1})"
        self.uploads[name] = path
        self._upload_models.pop(name, None)
        self._upload_aux.pop(name, None)
        return name

    def add_path(self, typed: str) -> str:
        """Register a checkpoint by a path typed on the page: only inside the folders the server
        exposes (Catalog.check_user_path); anything else is refused with one message."""
        return self.add_upload(self.catalog.check_user_path(typed))

    def typed_source(self, text: str) -> str:
        """A checkpoint named on the page for a pretrained target: a path must lie in a folder the
        server exposes (Catalog.check_user_path); anything else is a Hugging Face name, looked up in
        the local cache only."""
        text = text.strip()
        if text.startswith(("/", "~", ".", "\\")) or Path(text).expanduser().exists():
            return str(self.catalog.check_user_path(text))
        return text

    def _upload_model(self, name: str) -> nn.Module:
        """This session's own copy of an uploaded model (freed with the session)."""
        if name not in self._upload_models:
            self._upload_models[name] = self.catalog.load_model(str(self.uploads[name]), trusted=True)
        return self._upload_models[name]

    def open_pretrained(self, source: Union[str, Path], dataset: Optional[str] = None,
                        num_heads: Optional[int] = None) -> PretrainedTarget:
        """A pretrained checkpoint (any layout the library reads) as a target for ``dataset``.
        ``source``: an upload's name or path, or what typed_source accepted."""
        source = self.uploads.get(str(source), source)
        t = open_pretrained(source, dataset, num_heads=num_heads)
        self.pretrained[t.name] = t
        return t

    def pretrained_heads(self, source: Optional[str]) -> Optional[int]:
        """Heads of a pretrained target opened from ``source`` (so training rebuilds it alike)."""
        return next((t.model.config.num_heads for t in self.pretrained.values() if t.source == source), None)

    # -- loading ------------------------------------------------------------------------------
    def _source_model(self, name: str) -> tuple[nn.Module, Optional[nn.Module], Optional[str], Optional[int]]:
        """(model, baseline model or None, baseline name, data_size) for a target choice."""
        for label, p in self.trained.items():
            if name == f"{label} · M2PT":
                return p.m2pt, p.baseline, f"{label} · baseline", p.data_size
            if name == f"{label} · baseline":
                return p.baseline, None, None, p.data_size
        if name in self.uploads:
            return self._upload_model(name), None, None, None
        if name in self.pretrained:
            return self.pretrained[name].model, None, None, None
        model = self.catalog.load_model(name)
        base_name = self.catalog.baseline_for(name)
        baseline = self.catalog.load_model(base_name) if base_name and base_name != name else None
        return model, baseline, base_name if baseline is not None else None, self.catalog.data_size(name)

    def aux_weights(self, name: str) -> AuxWeights:
        if name in self.uploads:
            if name not in self._upload_aux:
                self._upload_aux[name] = self.catalog.load_aux(str(self.uploads[name]), trusted=True)
            return self._upload_aux[name]
        return self.catalog.load_aux(name)

    def compatibility(self, target: str, aux: str, aux_layers: Any = None) -> tuple[pd.DataFrame, str]:
        """The compatibility table of a pair (without changing the session); aux_layers as attach_pathways."""
        if aux == NO_AUX:
            raise M2PTError("Choose an auxiliary model to see the compatibility table.")
        model = self._source_model(target)[0]
        table = compatibility_table(model, self.aux_weights(aux), aux_layers)
        return table, compatibility_summary(table)

    def _prepare(self, target: str, aux: str, source: nn.Module, aux_layers: Any = None
                 ) -> tuple[nn.Module, list[str], Optional[pd.DataFrame], bool]:
        """``source`` with pathways to ``aux`` (sharing its weights): (model, notes, compatibility
        table, whether fresh pathways were attached). Raises on a pair that does not fit."""
        model = share_copy(source)
        own = (getattr(source, "pathway_info", None) or {}).get("source")
        notes, compat, attached = [], None, False
        if pathway_modules(model) and aux != own:
            merge_pathways(model)          # new Linear modules; the shared source is untouched
            notes.append("the target's own pathways were merged into its weights")
        if aux != NO_AUX and not pathway_modules(model):
            aux_w = self.aux_weights(aux)
            compat = compatibility_table(model, aux_w, aux_layers)
            attach_pathways(model, aux_w, lambda_init=0.0, aux_trainable=False, aux_layers=aux_layers)
            notes.append(f"pathways to {aux} attached at λ = 0")
            attached = True
        elif aux != NO_AUX:
            compat = compatibility_table(model, self.aux_weights(aux))
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval(), notes, compat, attached

    def _is_shared(self, target: str, aux: str) -> bool:
        """Zoo target with a zoo (or MiniLM) auxiliary: the same for every session."""
        return target in self.catalog.entries() and (aux == NO_AUX or aux in self.catalog.aux_names())

    def select(self, target: str, aux: Optional[str] = None, aux_layers: Any = None) -> Optional[SessionScore]:
        """Open ``target`` with pathways to ``aux`` (None: its own auxiliary) and score it.

        A target that already has pathways keeps them (and its learned λ) when ``aux`` is the
        auxiliary it was trained with; with NO_AUX it is used merged; with another auxiliary
        its merged weights become the new W and fresh pathways start at λ = 0. A pair that does
        not fit raises and leaves the open model as it was."""
        aux = self.default_aux(target) if aux is None else aux
        with self.lock:
            source, baseline, baseline_name, data_size = self._source_model(target)
            shared = self._is_shared(target, aux)
            if shared:   # prepared once per process (W' attached once), then a λ-only copy per session
                prepared, notes, compat, attached = self.catalog.shared_pair(
                    (target, aux, str(aux_layers)), lambda: self._prepare(target, aux, source, aux_layers))
                model = share_copy(prepared)
            else:
                model, notes, compat, attached = self._prepare(target, aux, source, aux_layers)
            if attached and baseline is None:
                baseline, baseline_name = source, target
            if self.evaluator is not None:
                self.catalog.cache.drop_owner(self.uid)      # the previous model's own states
            self.compat = compat
            self.model, self.target_name, self.aux_name = model, target, aux
            self.baseline, self.baseline_name = baseline, baseline_name
            self.learned = get_lambdas(model)
            self.notes = list(notes)
            self.data = eval_data(model, data_size, self.max_eval, cache=self.catalog.cache,
                                  slider_budget=self.catalog.slider_budget)
            self.data_size = data_size
            self.evaluator = None
            self.learned_acc = self.baseline_acc = self.last = None
            self.learned_items = self.baseline_items = None
            self._generation += 1
            if self.data is None:
                return None
            t0 = time.perf_counter()
            key = ((("zoo", target, aux, str(aux_layers)) if shared else ("session", self.uid, self._generation))
                   + (self.data.key,))
            self.evaluator = SharedEvaluator(model, self.data.X, self.data.y, key, self.catalog.cache,
                                             owner=self.uid, shared=shared)
            first = self.evaluator.evaluate()
            self.learned_acc = first["acc"]
            self.learned_items = item_results(self.evaluator.logits, self.data.y)
            if baseline is not None:
                base_key = ((("zoo", baseline_name) if baseline_name in self.catalog.entries()
                             else ("session", self.uid, self._generation, "baseline")) + (self.data.key,))
                logits = shared_logits(self.catalog.cache, base_key, baseline, self.data.X,
                                       owner=None if base_key[0] == "zoo" else self.uid)
                self.baseline_items = item_results(logits, self.data.y)
                self.baseline_acc = float(self.baseline_items[0].mean())
            self.last = self._make_score(first, t0)
            return self.last

    def _make_score(self, r: dict, t0: float) -> SessionScore:
        return make_score(r, item_results(self.evaluator.logits, self.data.y), self.learned_items,
                          self.baseline_items, self.data, len(self.evaluator.stages.blocks),
                          time.perf_counter() - t0, self.baseline_name)

    def require_model(self) -> nn.Module:
        if self.model is None:
            raise M2PTError("No target model is open yet: choose one in the Models panel.")
        return self.model

    def require_pathways(self) -> nn.Module:
        model = self.require_model()
        if not pathway_modules(model):
            raise M2PTError(f"{self.target_name} has no pathways: choose an auxiliary model in the Models panel.")
        return model

    # -- λ ------------------------------------------------------------------------------------
    def pathway_names(self) -> list[str]:
        return list(pathway_modules(self.model)) if self.model is not None else []

    def lambda_keys(self) -> list[str]:
        """Choices for the λ slider: each layer (all its pathways) and each single pathway."""
        names = self.pathway_names()
        layers = sorted({split_name(n)[0] for n in names})
        return [f"layer {i} · {ALL}" for i in layers] + names

    # λ readers hold the lock: a sweep (or a slider move) changes λ in place while it holds it.
    def current_lambda(self, key: str) -> float:
        with self.lock:
            names = self._names_for(key)
            lams = get_lambdas(self.require_pathways())
            return sum(lams[n] for n in names) / len(names)

    def learned_lambda(self, key: str) -> float:
        names = self._names_for(key)
        return sum(self.learned[n] for n in names) / len(names)

    def _names_for(self, key: str) -> list[str]:
        names = self.pathway_names()
        if key.startswith("layer ") and key.endswith(ALL):
            i = int(key.split()[1])
            out = [n for n in names if split_name(n)[0] == i]
        else:
            out = [n for n in names if n == key]
        if not out:
            raise M2PTError(f"No pathway {key!r} in {self.target_name}; expected one of {self.lambda_keys()[:6]}…")
        return out

    def lambda_frame(self) -> pd.DataFrame:
        """λ now as a layer × component table (rows: layers; columns: COMPONENTS)."""
        with self.lock:
            t = lambda_table(self.require_pathways())
        wide = t.pivot(index="layer", columns="component", values="lam")
        wide = wide.reindex(columns=[c for c in COMPONENTS if c in wide.columns])
        return wide.reset_index()

    def lambda_long(self) -> pd.DataFrame:
        """λ now, one row per pathway (name, layer, component, lam)."""
        with self.lock:
            return lambda_table(self.require_pathways())

    def _score(self) -> SessionScore:
        if self.evaluator is None:
            raise M2PTError(f"{self.target_name} names no dataset, so there is no validation set to score on.")
        t0 = time.perf_counter()
        self.last = self._make_score(self.evaluator.evaluate(), t0)
        return self.last

    def set_lambda(self, key: str, value: float) -> SessionScore:
        """Set λ of one pathway, or of every pathway of a layer ("layer 3 · all"), and re-score.
        |λ| beyond the catalog's bound, or a non-finite λ, is refused (M2PTError)."""
        with self.lock:
            model = self.require_pathways()
            value = check_lambda(value, f"λ of {key}", self.catalog.lambda_bound)
            set_lambdas(model, {n: value for n in self._names_for(key)})
            return self._score()

    def set_lambda_frame(self, frame: pd.DataFrame, decimals: Optional[int] = None) -> SessionScore:
        """Set every λ from a layer × component table (as lambda_frame returns, edited); nothing
        changes unless every value is accepted. ``decimals``: the table was shown rounded, so a
        value equal to the rounded λ in force is that λ (not an edit)."""
        with self.lock:
            model = self.require_pathways()
            names = set(self.pathway_names())
            now = get_lambdas(model)
            values = {}
            for _, row in frame.iterrows():
                layer = int(check_lambda(row["layer"], "layer", float(10**6)))
                for comp in COMPONENTS:
                    name = f"blocks.{layer}.{comp}"
                    if comp in row.index and name in names:
                        v = check_lambda(row[comp], f"λ for {name}", self.catalog.lambda_bound)
                        values[name] = now[name] if decimals is not None and round(now[name], decimals) == v else v
            set_lambdas(model, values)
            return self._score()

    def lambdas_edited(self) -> bool:
        """Whether any λ now differs from the learned λ (edited in this session)."""
        if self.model is None:
            return False
        now = get_lambdas(self.model)
        return any(now[n] != v for n, v in self.learned.items())

    def reset_lambdas(self) -> SessionScore:
        """Back to the learned λ (or 0 for freshly attached pathways)."""
        with self.lock:
            set_lambdas(self.require_pathways(), self.learned)
            return self._score()

    # -- analysis -----------------------------------------------------------------------------
    def _require_data(self) -> EvalData:
        if self.data is None:
            raise M2PTError(f"{self.target_name} names no dataset, so there is no validation set.")
        return self.data

    def job(self, what: str, report: Optional[Callable[[float, str], None]] = None) -> JobProgress:
        """The progress (ETA) and Stop of one long action of this session (the Pathways tab's Stop)."""
        self.sweep_stop.clear()
        return JobProgress(what, report, self.sweep_stop)

    def knockout(self, progress: Optional[JobProgress] = None) -> pd.DataFrame:
        """The knockout map on the evaluation items; JobStopped when ``progress``'s Stop is set."""
        with self.lock:
            model = self.require_pathways()
            d = self._require_data()
            return knockout_map(model, d.X, d.y, progress=progress,
                                batch_size=stoppable_batch(model) if progress else DEFAULT_BATCH_SIZE)

    def sweep_mode(self) -> str:
        """Multiples of the learned λ once they are non-zero; absolute values at λ = 0."""
        with self.lock:
            lams = get_lambdas(self.require_pathways())
        return "scale" if any(abs(v) > 0 for v in lams.values()) else "absolute"

    def sweep(self, grid: Optional[Sequence[float]] = None, mode: Optional[str] = None,
              progress: Optional[JobProgress] = None) -> Iterator[tuple[int, int, pd.DataFrame]]:
        """λ sweep one layer at a time: yields (layers done, depth, rows so far). ``sweep_stop``
        (the Pathways tab's Stop) ends it, within a layer when ``progress`` is given (self.job);
        the rows then cover the layers done."""
        model = self.require_pathways()
        d = self._require_data()
        mode = mode or self.sweep_mode()
        layers = sorted({split_name(n)[0] for n in self.pathway_names()})
        parts: list[pd.DataFrame] = []
        if progress is None:
            self.sweep_stop.clear()
        weights = sweep_costs(layers, max(layers) + 1, grid, mode)
        for k, i in enumerate(layers):
            if self.sweep_stop.is_set():
                return
            try:
                with self.lock:
                    parts.append(lambda_sweep(model, d.X, d.y, grid=grid, layers=[i], components=ALL, mode=mode,
                                              progress=progress.part(k, weights) if progress else None,
                                              batch_size=stoppable_batch(model) if progress else DEFAULT_BATCH_SIZE))
            except JobStopped:
                return
            yield k + 1, len(layers), pd.concat(parts, ignore_index=True)

    def sweep_reference(self) -> dict[str, Any]:
        """Keyword arguments of figures.sweep_curves that keep "as trained" on the learned λ after
        edits: learned λ per layer (mean of its pathways), the accuracy as trained, the split."""
        layers = sorted({int(n.split(".")[1]) for n in self.learned})
        split = None
        if self.data is not None:
            split = self.data.split_name + (" (fixed stratified subset)" if self.data.is_subset else "")
        return {"learned": {i: self.learned_lambda(f"layer {i} · {ALL}") for i in layers},
                "learned_score": self.learned_acc, "split": split}

    def score_test(self, progress: Optional[JobProgress] = None) -> str:
        """The open model (λ as set) and its baseline on the whole test split: only on request."""
        with self.lock:
            return test_split_report(self.require_model(), self.baseline, self.baseline_name, self.data_size,
                                     progress)

    def score_whole_split(self, progress: Optional[JobProgress] = None) -> str:
        """λ as set now, λ as learned and the baseline on the whole validation split (the slider
        scores a fixed subset when the split is larger): on request, streamed (split_score.py)."""
        with self.lock:
            return split_report(self.require_model(), self.baseline, self.baseline_name, self.data_size, "val",
                                learned=self.learned, progress=progress)

    def evidence(self) -> str:
        """Seed-level evidence for the open pair (docs/results.md via assets/evidence.json), or a
        note that the comparisons shown are one run."""
        dataset = getattr(getattr(self.model, "config", None), "dataset", None)
        return evidence_markdown(dataset, self.aux_name)

    def weight_stats(self) -> pd.DataFrame:
        with self.lock:
            return weight_stats(self.require_pathways())

    def training_log(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-epoch metrics, λ trajectories) of the open model's training run; empty if unknown."""
        name = self.target_name or ""
        for label, p in self.trained.items():
            if name.startswith(label):
                arm = "m2pt" if name.endswith("M2PT") else "baseline"
                return read_log(p.histories[arm]), lambda_trajectories(p.histories[arm])
        e = self.catalog.entries().get(name) or {}
        if e.get("log"):
            path = self.catalog.zoo_path / e["log"]
            if path.is_file():
                return read_log(path), lambda_trajectories(path)
        return pd.DataFrame(columns=["epoch"]), lambda_trajectories([])

    # -- samples ------------------------------------------------------------------------------
    def predict(self, path: Union[str, Path], k: int = 5) -> Prediction:
        """Top-k of the baseline and of the M2PT model (λ as now) for one file."""
        from ..data import detect_modality, load_file
        model = self.require_model()
        path = Path(path)
        modality = detect_modality(path)
        want = model.config.modality
        if modality != want:
            raise InputFileError(
                f"This model takes {_PLURAL.get(want, want)}; {path.name} is {article(modality)} {modality} file "
                f"({self.target_name} is {article(want)} {want} model). "
                f"Upload {article(want)} {want} file, or open {article(modality)} {modality} model in the Models tab.")
        if modality in ("image", "video"):
            from .samples import check_image_pixels
            check_image_pixels(path)                   # from the header, before anything is decoded
        x = load_file(path, spec=model.config.input)
        with self.lock:
            models = {"M2PT (λ as set)" if pathway_modules(model) else self.target_name: model}
            if self.baseline is not None:
                models = {f"baseline ({self.baseline_name})": self.baseline, **models}
            table = compare_topk(models, x, k=min(k, model.config.num_classes))
        return Prediction(modality, x, table, path)

    # -- export -------------------------------------------------------------------------------
    def provenance(self) -> dict[str, Any]:
        """Where the open model comes from and what was done to it in this session (for exports)."""
        from .. import __version__
        from ..data import model_provenance
        model = self.require_model()
        prov = model_provenance(model)
        aux = self.aux_name if self.aux_name and self.aux_name != NO_AUX else None
        return {"target": self.target_name, "target_sha256": self._sha256(self.target_name),
                "auxiliary": aux, "auxiliary_sha256": self._sha256(aux) if aux else None,
                "lambdas": get_lambdas(model), "learned_lambdas": dict(self.learned),
                "lambdas_edited": self.lambdas_edited(),
                "opened_with": list(self.notes),   # e.g. "the target's own pathways were merged into its weights"
                "data_provenance": prov.to_dict() if prov is not None else None,
                "app": "M2PT Explorer", "app_version": __version__}

    def _sha256(self, name: Optional[str]) -> Optional[str]:
        """sha256 of a model's weights file: the zoo manifest's, else hashed (uploads, MiniLM)."""
        if not name:
            return None
        if name in self.uploads:
            return self.catalog.file_sha256(self.uploads[name])
        if any(name.startswith(label) for label in self.trained):
            return None                                  # trained in this session: no file
        return self.catalog.sha256(name)

    def export(self, out_dir: Union[str, Path]) -> dict[str, Any]:
        """Merge the pathways (λ as now) into a plain model, verify it, write safetensors + config +
        provenance; the file names say whether λ are as learned or edited in this session."""
        from .export import export_merged
        with self.lock:
            model = self.require_model()
            d = self.data
            stem = (self.target_name or "model").replace(" ", "_").replace("·", "").replace("/", "_").replace(":", "")
            if pathway_modules(model):
                stem += "-edited-lambda" if self.lambdas_edited() else "-learned-lambda"
            inputs = d.X[:64] if d is not None else None
            return export_merged(model, Path(out_dir), stem, inputs, provenance=self.provenance())

    # -- training -----------------------------------------------------------------------------
    def add_trained(self, pair: TrainedPair) -> str:
        self.trained[pair.label] = pair
        return f"{pair.label} · M2PT"

    def aux_size(self, name: str) -> str:
        """The named model size to train a target at so that it pairs with auxiliary ``name``."""
        from ..pathways import MINILM_NAME
        if name == MINILM_NAME:
            return "small6"
        for label, p in self.trained.items():
            if name.startswith(label):
                return p.m2pt.config.size
        e = self.catalog.entries().get(name) or {}
        if e.get("size"):
            return e["size"]
        config = getattr(self._upload_model(name), "config", None) if name in self.uploads else None
        return getattr(config, "size", None) or "demo"

    def train_dir(self, req: Any) -> Path:
        """Where a training run of this session keeps its last finished epoch (one per request)."""
        import hashlib
        import tempfile
        if self._train_root is None:
            self._train_root = Path(tempfile.mkdtemp(prefix="m2pt-train-"))
        digest = hashlib.sha256(repr(req).encode()).hexdigest()[:12]
        return self._train_root / digest

    def next_train_label(self, dataset: str, aux: str) -> str:
        return f"trained #{len(self.trained) + 1} {dataset}+{aux}"

    def release_cache(self) -> int:
        """Drop this session's entries from the shared cache (the page was closed; it may come back,
        and then recomputes them). Returns the bytes freed."""
        return self.catalog.cache.drop_owner(self.uid)

    def close(self) -> None:
        """Free this session's models and caches (gr.State delete callback)."""
        import shutil
        self.release_cache()
        self.train_stop.set()
        self.model = self.baseline = self.evaluator = self.data = None
        self.trained.clear()
        self._upload_models.clear()
        self._upload_aux.clear()
        if self._train_root is not None:
            shutil.rmtree(self._train_root, ignore_errors=True)


_PLURAL = {"image": "images", "audio": "audio", "pointcloud": "point clouds", "video": "video"}
