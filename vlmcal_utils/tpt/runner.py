"""A resumable TPT/C-TPT run over a dataset: one JSON line per image, safe to kill and restart.

``run_tpt(model, tokenizer, dataset, classnames, method, out_path, settings)`` tunes and predicts
every image and appends its row to ``out_path`` (a :class:`vlmcal_utils.storage.RecordStore`
keyed by the *image*: its index in the base dataset, through any ``Subset``). A restart keeps
the rows already there, skips their images and drops a line torn by a kill, so nothing is lost
or counted twice; a rerun on another subset (48 images after 24) reuses exactly the rows of the
images both share and never a row of another image. Each row carries the run's fingerprint
(:func:`run_fingerprint`: the weights, the class names, the method and the settings that change
*that method's* rows, see :func:`fingerprint_settings`); resuming with another model or other
settings refuses instead of mixing rows.

Row keys: ``index`` (position in the dataset passed), ``source_index`` (index in the base
dataset), ``source`` (digest of the base dataset's type and size and the subset's indices),
``dataset``/``dataset_text`` (the base dataset's content identity,
:func:`~vlmcal_utils.data.identity.dataset_identity`: a file's rows of other images — another
domain with the same classes and size, a replaced folder — are refused, not served),
``label, pred, confidence, entropy, atfd, orthogonality, min_angle, seconds, view_seconds, method,
run, temperature, logits`` (``logits``: ``K`` floats, already divided by ``temperature``).
A file may keep its rows' logits in a binary sidecar instead (:func:`save_logits_sidecar`, the
sweep's merged files: 4 bytes per logit instead of about 11 in JSON); :func:`read_tpt_rows` and a
resumed :func:`run_tpt` put them back into the rows.
``seconds`` is the main process's wall time per image (its batch's time divided by its size):
waiting for the views, then tuning and predicting; ``view_seconds`` the wall time of loading
the image and making its views, in whichever process made them. Without view workers
(``num_workers=0``) ``seconds`` includes ``view_seconds``; with them the views are made while
the model works, and ``seconds`` holds only the part of the view time the model waited for.
An image's views are made once per process: a later run on the same dataset object and view
settings (another method, initialisation or lambda) takes them from
:data:`~vlmcal_utils.tpt.views.VIEW_CACHE`, and its ``view_seconds`` is the look-up's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from vlmcal_utils.data.identity import DatasetIdentity, check_same_dataset, dataset_identity
from vlmcal_utils.device import model_device
from vlmcal_utils.progress import progress_bar
from vlmcal_utils.scores import score_logits
from vlmcal_utils.storage import RecordStore, atomic_write_bytes
from vlmcal_utils.tpt.losses import entropy
from vlmcal_utils.tpt.prompts import PromptEnsemble, make_learner
from vlmcal_utils.tpt.protocol import ECE_BINS
from vlmcal_utils.tpt.settings import RunSettings
from vlmcal_utils.tpt.tuning import METHODS, TPTConfig, official_temperature, result_fields, tpt_predict
from vlmcal_utils.tpt.views import VIEW_CACHE, default_num_workers, preprocess_config, view_batches

__all__ = ["run_tpt", "read_tpt_rows", "run_fingerprint", "fingerprint_settings", "source_indices",
           "summarise", "COMPUTED_ROWS", "logits_sidecar", "save_logits_sidecar"]

#: Rows computed (tuned and predicted, not resumed) by :func:`run_tpt` in this process, per results
#: file (``str(out_path)``). What a resumed run adds here is what it recomputed: zero for a finished
#: run. The sweep reports its shards' computed rows from it; tests count through it.
COMPUTED_ROWS: Counter = Counter()


def _row_key(row: Mapping[str, Any]) -> int:
    # files written before rows carried ``source_index`` are keyed by their position
    return int(row.get("source_index", row["index"]))


def source_indices(dataset: Sequence) -> tuple[list[int], Any]:
    """Each item's index in the base dataset, through nested ``torch.utils.data.Subset`` s.

    Parameters
    ----------
    dataset : sequence
        A dataset, or a ``Subset`` (``.dataset``, ``.indices``) of one, to any depth.

    Returns
    -------
    indices : list of int
        ``len(dataset)`` indices into ``base``.
    base : object
        The innermost dataset.
    """
    idx = list(range(len(dataset)))
    while hasattr(dataset, "indices") and hasattr(dataset, "dataset"):
        outer = [int(i) for i in dataset.indices]
        idx = [outer[i] for i in idx]
        dataset = dataset.dataset
    return idx, dataset


def _source_digest(base: Any, indices: Sequence[int]) -> str:
    """12 hex digits naming the input of a run: the base dataset's type and size, the subset drawn."""
    payload = {"base": type(base).__name__, "size": len(base), "indices": list(indices)}
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:12]


def _store(out_path: str | os.PathLike) -> RecordStore:
    return RecordStore(out_path, key=_row_key)


def logits_sidecar(out_path: str | os.PathLike) -> Path:
    """``<out_path>.logits.npz``: where :func:`save_logits_sidecar` keeps a results file's logits."""
    return Path(f"{os.fspath(out_path)}.logits.npz")


def save_logits_sidecar(out_path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Write ``rows``' logits to ``out_path``'s sidecar; return the rows without them (for the ``.jsonl``).

    The sidecar is an uncompressed ``.npz`` (no pickle): ``source_index`` (N,) int64, ``logits``
    (N, K) float32 and ``run`` (N,) the rows' fingerprints, so a row finds its logits by its image and
    never takes another run's. Written atomically; write it *before* the rows that refer to it.

    Parameters
    ----------
    out_path : path
        The results file the rows go to.
    rows : sequence of dict
        :func:`run_tpt` rows, each with ``logits``.

    Returns
    -------
    list of dict
        The rows without ``logits``.
    """
    buf = io.BytesIO()
    np.savez(buf, source_index=np.array([_row_key(r) for r in rows], dtype=np.int64),
             logits=np.array([r["logits"] for r in rows], dtype=np.float32).reshape(len(rows), -1),
             run=np.array([str(r.get("run")) for r in rows], dtype=str))
    atomic_write_bytes(logits_sidecar(out_path), buf.getvalue())
    return [{k: v for k, v in r.items() if k != "logits"} for r in rows]


def _with_logits(rows: list[dict], out_path: str | os.PathLike, required: bool = False) -> list[dict]:
    """``rows`` with the logits of those that lack them taken from the sidecar (by image and run).

    Without a sidecar the rows stay as they are, unless ``required`` (rows a run must score).
    """
    lacking = [r for r in rows if "logits" not in r]
    if not lacking:
        return rows
    side = logits_sidecar(out_path)
    if not side.is_file():
        if not required:
            return rows
        raise ValueError(f"{out_path}: {len(lacking)} rows keep their logits in {side.name}, which is missing; "
                         "delete the results file to recompute them")
    with np.load(side, allow_pickle=False) as npz:
        where = {(int(i), str(run)): j for j, (i, run) in enumerate(zip(npz["source_index"], npz["run"], strict=True))}
        logits = npz["logits"]
    missing = [r["index"] for r in lacking if (_row_key(r), str(r.get("run"))) not in where]
    if missing:
        raise ValueError(f"{side} lacks the logits of {len(missing)} rows of {out_path} (positions {missing[:5]}...): "
                         "it belongs to other rows; delete both files to recompute them")
    return [r if "logits" in r else {**r, "logits": logits[where[_row_key(r), str(r.get("run"))]].tolist()}
            for r in rows]


def read_tpt_rows(out_path: str | os.PathLike) -> list[dict]:
    """The rows of a :func:`run_tpt` results file, one per sample index, in file order.

    Parameters
    ----------
    out_path : str or os.PathLike
        The ``.jsonl`` file (missing: no rows).

    Returns
    -------
    list of dict
        A truncated last line (a killed write) is dropped; a bad line anywhere else raises
        :class:`vlmcal_utils.storage.DamagedFileError` (a ``ValueError``). Logits kept in the
        file's sidecar (:func:`save_logits_sidecar`) are put back; a sidecar of other rows raises.
    """
    return _with_logits(_store(out_path).read(), out_path)


def _abs_sum(tensor: torch.Tensor) -> float:
    """``float(tensor.double().abs().sum())``; a float tensor's without the float64 copy (a third of the time)."""
    if tensor.is_floating_point():
        return float(tensor.abs().sum(dtype=torch.float64))
    return float(tensor.double().abs().sum())


def run_fingerprint(model: nn.Module, classnames: Sequence[str], settings: Mapping[str, Any]) -> str:
    """A short hash of what determines a run's per-sample results.

    Parameters
    ----------
    model : torch.nn.Module
        Its weights enter through each tensor's name, shape and sum of absolute values — cheap,
        and enough to tell two checkpoints (or a random init from trained weights) apart.
    classnames : sequence of str
        The class names, in order.
    settings : mapping
        JSON-able settings (views, augmentation, context, hyper-parameters, temperature, seed).
        Speed options, the batch size and the view workers are left out by :func:`run_tpt`:
        they give the same results (tested).

    Returns
    -------
    str
        16 hex digits.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            summary = f"{name}:{tuple(tensor.shape)}:{_abs_sum(tensor):.6e}"
            digest.update(summary.encode())
    digest.update(json.dumps(list(classnames)).encode())
    digest.update(json.dumps(dict(settings), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def fingerprint_settings(method: str, settings: RunSettings, temperature: float, ensemble: bool) -> dict:
    """The settings that change ``method``'s rows, as they enter :func:`run_fingerprint`.

    Only what changes the rows: zero-shot looks at view 0 with the initial prompt, so the views
    (``n_views``, ``augmix``, ``seed``) and the tuning step stay out and changing ``lam`` leaves
    zero-shot files valid; TPT leaves out the regularisers' ``lam``/``tau``; C-TPT and O-TPT add
    ``lam``, A-TPT ``lam`` and ``tau`` (:func:`~vlmcal_utils.tpt.tuning.result_fields`).

    Parameters
    ----------
    method : str
        One of :data:`~vlmcal_utils.tpt.METHODS`.
    settings : RunSettings
        The run's settings (AugMix enters resolved, as a bool).
    temperature : float
        The divisor of the logits (1 except for ``"tpt+ts"``).
    ensemble : bool
        Whether ``ctx_init`` is a prompt ensemble.

    Returns
    -------
    dict
        JSON-able; for ``"ctpt"`` exactly the keys and values of the files written before
        :class:`RunSettings` existed, so those runs still resume.
    """
    out: dict[str, Any] = {"method": method, "ctx_init": settings.ctx_init, "n_ctx": settings.n_ctx,
                           "temperature": temperature}
    if method != "zeroshot":  # the seed decides every view
        out.update(n_views=settings.n_views, augmix=settings.use_augmix, seed=settings.seed)
    tuning = dataclasses.asdict(settings.tuning)
    out.update({k: tuning[k] for k in result_fields(method)})
    if ensemble:  # (kept out for one prompt: older runs stay resumable)
        out.update(ctx_init=list(settings.ctx_init), ensemble_renormalize=bool(settings.renormalize))
    return out


def _check_classnames(dataset: Sequence, classnames: Sequence[str]) -> None:
    """A class list of the wrong length would only fail in the summary, after hours of tuning."""
    if len(classnames) == 0:
        raise ValueError("classnames is empty: pass one name per class")
    for attr in ("classnames", "classes"):
        names = getattr(dataset, attr, None)
        if names is not None and not isinstance(names, str) and len(names) != len(classnames):
            raise ValueError(
                f"{len(classnames)} class names were passed but the dataset has {len(names)} "
                f"(dataset.{attr}); pass dataset.{attr}"
            )


def _row(index: int, label: Any, logits: torch.Tensor, stats: Mapping[str, float], seconds: tuple[float, float],
         method: str, fingerprint: str, temperature: float, source: tuple[int, str, DatasetIdentity]) -> dict:
    label = int(label)
    if not 0 <= label < logits.shape[-1]:
        raise ValueError(
            f"sample {index} has label {label}, outside the {logits.shape[-1]} classes: the class "
            "names do not belong to this dataset"
        )
    probs = logits.softmax(-1)
    return {
        "index": index,
        "source_index": source[0],
        "source": source[1],
        "dataset": source[2].digest,
        "dataset_text": source[2].text,
        "label": label,
        "pred": int(logits.argmax()),
        "confidence": float(probs.max()),
        "entropy": float(entropy(logits)),
        **stats,
        "seconds": seconds[0],
        "view_seconds": seconds[1],
        "method": method,
        "run": fingerprint,
        "temperature": temperature,
        "logits": [round(float(z), 6) for z in logits],
    }


def run_tpt(
    model: nn.Module,
    tokenizer: Callable,
    dataset: Sequence,
    classnames: Sequence[str],
    method: str,
    out_path: str | os.PathLike,
    settings: RunSettings | None = None,
    *,
    indices: Iterable[int] | None = None,
    batch_size: int = 1,
    progress: bool = True,
) -> list[dict]:
    """Run ``method`` on ``dataset[i]`` (an ``(image, label)`` pair) for each index; resumable.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip ``CLIP``; put in eval mode and frozen.
    tokenizer : callable
        The model's tokenizer.
    dataset : sequence
        Raw images (no transform): ``dataset[i] -> (image, label)``. If it has ``classnames``
        (or ``classes``), their number must match ``classnames``.
    classnames : sequence of str
        ``K`` class names; labels must lie in ``[0, K)``.
    method : str
        One of :data:`~vlmcal_utils.tpt.METHODS`; one results file per method.
    out_path : str or os.PathLike
        The JSON-lines results file (created, or resumed).
    settings : RunSettings, optional
        Default ``RunSettings()``; they enter the run's fingerprint (the seed included).
    indices : iterable of int, optional
        Positions in ``dataset`` to run (default all), e.g. one shard of a sweep: disjoint shards
        may write to separate files or, under the file's lock, to one.
    batch_size : int
        Images tuned together (same results as one at a time; not part of the fingerprint).
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of dict
        The rows of ``dataset``'s images found in the file (see the module docstring), with
        ``index`` their position in ``dataset``, sorted by it; rows of other images stay in the
        file but are not returned.

    Examples
    --------
    C-TPT on four demo-world images (10 views each, seconds on a CPU); the rerun finds every row
    in the file and computes none (:data:`COMPUTED_ROWS`):

    >>> import tempfile
    >>> from vlmcal_utils.data import evaluation_subset
    >>> from vlmcal_utils.models import load_model
    >>> model, _, tokenizer = load_model("vlmcal-demo", device="cpu")
    >>> ds = evaluation_subset("demo-photo", 4, seed=0)
    >>> settings = RunSettings.protocol("demo-photo", "hard", "ctpt", n_views=10, selection=0.2)
    >>> path = tempfile.mkdtemp() + "/demo-photo__test__ctpt.jsonl"
    >>> rows = run_tpt(model, tokenizer, ds, ds.classnames, "ctpt", path, settings, progress=False)
    >>> len(rows), rows[0]["method"], COMPUTED_ROWS[path]
    (4, 'ctpt', 4)
    >>> rerun = run_tpt(model, tokenizer, ds, ds.classnames, "ctpt", path, settings, progress=False)
    >>> rerun == rows, COMPUTED_ROWS[path]
    (True, 4)
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    settings = settings or RunSettings()
    _check_classnames(dataset, classnames)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    learner = make_learner(model, tokenizer, classnames, settings.ctx_init, n_ctx=settings.n_ctx,
                           renormalize=settings.renormalize)
    T = _temperature(method, settings, model)
    fingerprint = run_fingerprint(
        model, classnames, fingerprint_settings(method, settings, T, isinstance(learner, PromptEnsemble))
    )
    store = _store(out_path)
    src, base = source_indices(dataset)
    identity = dataset_identity(base)
    done = _resume(store, out_path, method, fingerprint, src, base, identity)
    todo = [int(i) for i in (range(len(dataset)) if indices is None else indices) if src[int(i)] not in done]
    run = _Run(model, learner, method, settings, T, fingerprint, src, _source_digest(base, src), identity)
    with progress_bar(total=len(todo), progress=progress, desc=method) as bar:
        for rows in _compute(run, dataset, todo, batch_size):
            store.append(rows)  # one write + fsync per batch, under the file's lock
            COMPUTED_ROWS[str(out_path)] += len(rows)
            bar.update(len(rows))
    position = {s: i for i, s in enumerate(src)}
    mine = [{**r, "index": position[_row_key(r)]} for r in store.read() if _row_key(r) in position]
    mine = _with_logits(mine, out_path, required=True)
    return sorted(mine, key=lambda r: r["index"])


def _temperature(method: str, settings: RunSettings, model: nn.Module) -> float:
    """The divisor of the logits: 1, or ``"tpt+ts"``'s temperature (given or the official one)."""
    if method != "tpt+ts":
        return 1.0
    T = float(settings.temperature) if settings.temperature is not None else official_temperature(model)
    if not T > 0:
        raise ValueError(f"temperature must be > 0, got {settings.temperature}")
    return T


def _resume(store: RecordStore, out_path: str | os.PathLike, method: str, fingerprint: str, src: Sequence[int],
            base: Any, identity: DatasetIdentity) -> set[int]:
    """The images already in ``store`` (repaired first), refusing rows of another method, run or dataset."""
    store.repair()  # a line torn by a kill goes now, so the file holds complete rows only
    done_rows = store.read()
    other = {r.get("method") for r in done_rows} - {method}
    if other:
        raise ValueError(f"{out_path} holds results of method {sorted(other)}; use a separate file per method")
    # Resuming must never mix rows of another model or other settings into this run's results.
    foreign = {r.get("run") for r in done_rows} - {fingerprint}
    if foreign:
        raise ValueError(
            f"{out_path} holds results of another model or other settings (run {sorted(map(str, foreign))}, "
            f"this run {fingerprint}); point out_path (the notebook's results_dir) elsewhere or delete the file"
        )
    check_same_dataset(done_rows, identity, str(out_path))  # an index names an image only in its dataset
    if any("source_index" not in r for r in done_rows) and list(src) != list(range(len(base))):
        raise ValueError(
            f"{out_path} holds rows without their image's identity (written before rows carried "
            "source_index) and this dataset is a subset: which images they belong to is unknown; "
            "delete the file or rerun on the full dataset"
        )
    return {_row_key(r) for r in done_rows}


@dataclass
class _Run:
    """What every batch of one :func:`run_tpt` call shares."""

    model: nn.Module
    learner: Any
    method: str
    settings: RunSettings
    temperature: float
    fingerprint: str
    src: Sequence[int]
    digest: str
    identity: DatasetIdentity


def _tune(model: nn.Module, learner: Any, views: torch.Tensor, method: str, cfg: TPTConfig) -> dict[str, Any]:
    """Every image a run computes passes here once (tests count the calls of this seam)."""
    return tpt_predict(model, learner, views, method, cfg)


def _compute(run: _Run, dataset: Sequence, todo: Sequence[int], batch_size: int) -> Iterator[list[dict]]:
    """Tune and predict the images at positions ``todo``, yielding each batch's rows."""
    method, settings, src = run.method, run.settings, run.src
    n_views = 1 if method == "zeroshot" else settings.n_views  # zero-shot looks at view 0 only
    device = model_device(run.model)
    workers = default_num_workers(device) if settings.num_workers is None else int(settings.num_workers)
    batches = view_batches(dataset, todo, [src[i] for i in todo], preprocess_config(run.model), n_views=n_views,
                           augmix=settings.use_augmix, seed=settings.seed, batch_size=batch_size,
                           num_workers=workers, pin_memory=workers > 0 and device.type == "cuda",
                           cache=VIEW_CACHE)  # the other methods' runs on these images reuse the views
    try:
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                return
            chunk, views, labels, view_secs = batch
            res = _tune(run.model, run.learner, views, "tpt" if method == "tpt+ts" else method, settings.tuning)
            secs = (time.perf_counter() - t0) / len(chunk)
            logits = res["logits"] / run.temperature
            yield [
                _row(i, label, logits[b], {k: float(res[k][b]) for k in ("atfd", "orthogonality", "min_angle")},
                     (secs, vs), method, run.fingerprint, run.temperature, (src[i], run.digest, run.identity))
                for b, (i, label, vs) in enumerate(zip(chunk, labels, view_secs, strict=True))
            ]
    finally:
        batches.close()  # view workers stop now, also after a failure


def summarise(rows: Sequence[Mapping[str, Any]], bins: Sequence[int] = (ECE_BINS, 15),
              temperature: float = 1.0, n_boot: int = 0) -> dict[str, Any]:
    """The scores of a run's rows (:func:`vlmcal_utils.scores.score_logits`) and their mean geometry and time.

    Parameters
    ----------
    rows : sequence of dict
        Rows of :func:`run_tpt` / :func:`read_tpt_rows`.
    bins : sequence of int
        Equal-width ECE bin counts; the first (C-TPT's 20) is the primary one (MCE, debiased ECE).
    temperature : float
        Divides the rows' logits before scoring (TPT + TS on TPT's rows; 1: as they are).
    n_boot : int
        Bootstrap replicates of the primary-bin ECE's 95 % interval (``ece_lo``, ``ece_hi``; NaN
        for 0), seeded.

    Returns
    -------
    dict
        :meth:`vlmcal_utils.scores.Scores.as_row` (fractions: ``n, accuracy, mean_confidence,
        ece_<b>..., mce, nll, brier, smooth_ece, debiased_ece, temperature``...) plus the means
        over rows of ``atfd``, ``orthogonality``, ``min_angle`` (radians) and ``seconds``.

    Examples
    --------
    >>> rows = [{"logits": [2.0, 0.0], "label": 0, "atfd": 0.5, "orthogonality": 0.1, "min_angle": 1.0,
    ...          "seconds": 0.2}, {"logits": [0.0, 1.0], "label": 0, "atfd": 0.7, "orthogonality": 0.3,
    ...          "min_angle": 1.2, "seconds": 0.4}]
    >>> s = summarise(rows)
    >>> s["n"], s["accuracy"], round(s["atfd"], 2), round(s["seconds"], 2)
    (2, 0.5, 0.6, 0.3)
    """
    if not rows:
        raise ValueError("no rows to summarise: run run_tpt first")
    logits = np.array([r["logits"] for r in rows], dtype=np.float64)
    labels = np.array([r["label"] for r in rows])
    out = score_logits(logits, labels, temperature=temperature, bins=tuple(bins), n_boot=n_boot).as_row()
    for key in ("atfd", "orthogonality", "min_angle", "seconds"):
        out[key] = float(np.mean([r.get(key, np.nan) for r in rows]))  # older files lack the geometry
    return out
