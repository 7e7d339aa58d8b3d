"""Paper-scale runs on many GPUs: a paper's grid as disjoint image shards, run as Ray tasks, resumable.

``python -m vlmcal_utils.sweep params/paper.yaml --paper ctpt [--address auto] [--dry-run]
[--shard-size N] [--output DIR]`` expands the paper's grid into cells with
:func:`vlmcal_utils.paper_sets.expand_cells` (the same expansion as ``paper_sets --dry-run``),
turns every cell that :func:`vlmcal_utils.tpt.run_tpt` computes into one *run* (one results
file, named as chapter 4 names it: :func:`vlmcal_utils.tpt.run_file_name`) and splits each run's
images into contiguous, disjoint shards of sample positions ``[start, stop)`` — every image in
exactly one shard, no padding (a ``DistributedSampler`` would repeat images to even out the
shards). Each shard is one ``run_tpt(..., indices=range(start, stop))`` call on the *whole*
cell dataset, so its rows carry the same ``index``, ``source_index``, ``source`` digest and run
fingerprint as a sequential run, into its own resumable file (a
:class:`vlmcal_utils.storage.RecordStore`). :func:`~vlmcal_utils.sweep.shards.merge_shards` then writes the run's rows,
deduplicated by image and sorted by index, and refuses rows of different fingerprints.

Workers are Ray actors, one per GPU (``num_gpus=1``) where the cluster has GPUs, else one per
``cpus_per_worker`` CPUs; each loads a model once and keeps it for every shard it is given. A
worker that dies (a pre-empted node, an out-of-memory kill) loses at most the batch it was
tuning: its shard goes to a fresh worker, which resumes from the rows already in the shard's
file; a rerun of the same command resumes every unfinished shard the same way.

Layout under ``--output DIR``, with ``M = <model>__<pretrained>`` and ``S`` the draw of images
(:func:`~vlmcal_utils.sweep.plan.subset_folder`, e.g. ``n200-cal100-auto-seed0``: a rerun with
another seed or size writes beside the first, never into it): ``DIR/M/S/runs/<run file>`` (the
merged rows, where chapter 4 with ``-p results_dir DIR/M/S`` finds them and recomputes nothing)
and ``DIR/M/S/shards/<run file stem>/<i>-of-<n>.jsonl``. The merge also refuses rows of another
draw or of other images (their ``source`` or ``dataset`` identity differs). Merged rows carry their
identity columns (``model, pretrained, dataset_name, split, init, method``) so a file loads alone with
pandas; their logits are in a binary sidecar ``<run file>.logits.npz`` (float32, no pickle:
about 4 kB per ImageNet row instead of 11 kB of JSON). A run whose shards all finished loses its
shard files and lock files. Rows are found by image, not shard: a rerun with another
``--shard-size`` computes only the images without a row.

``python -m vlmcal_utils.sweep summarize DIR`` (:mod:`~vlmcal_utils.sweep.summary`) writes one tidy
table of every merged run (``summary.csv``, and ``summary.parquet`` with pyarrow): one row per
(model, pretrained, subset, dataset, init, method, bins), fractions, the rows of chapter 4's results
table. The driver shows one overall bar on stderr (rows and shards done, rate, ETA, failures) and
forwards the workers' warnings and errors.

Ray is imported only by :func:`~vlmcal_utils.sweep.ray_runner.run_sweep` (``pip install
vlmcal-utils[sweep]``); planning, one shard (:func:`~vlmcal_utils.sweep.shards.run_shard`) and
merging need no Ray. Chapter 3's feature extraction (Tu et al.) is listed by ``--dry-run --paper
tu`` but not swept yet.

Modules: :mod:`~vlmcal_utils.sweep.plan` (chapter 4's parameters, the runs and their shards),
:mod:`~vlmcal_utils.sweep.shards` (one shard in this process, the rows a run has, the merge),
:mod:`~vlmcal_utils.sweep.ray_runner` (the shards on Ray workers), :mod:`~vlmcal_utils.sweep.summary`
(the summary table), :mod:`~vlmcal_utils.sweep.cli`.
"""

from vlmcal_utils.lazy import lazy_exports

# Each name is imported from its module on first use (PEP 562): importing one module of the
# package, or a command line's --help, does not import torch through all the others.
_EXPORTS = {
    "cli": ("main",),
    "plan": (
        "NOTEBOOK_DEFAULTS", "PAPERS", "SWEPT_METHODS", "Run", "Shard", "cell_dataset", "format_plan",
        "notebook_values", "paper_cells", "plan_runs", "run_settings", "shard_ranges"
    ),
    "ray_runner": ("SweepError", "SweepReport", "run_sweep"),
    "shards": ("MergeReport", "ShardResult", "clean_run", "finish_runs", "merge_shards", "pending_shards", "run_shard"),
    "summary": ("summarize", "table_rows", "write_summary"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["NOTEBOOK_DEFAULTS", "SWEPT_METHODS", "PAPERS", "Shard", "Run", "ShardResult", "SweepReport",
           "MergeReport", "SweepError", "notebook_values", "run_settings", "cell_dataset", "shard_ranges",
           "paper_cells", "plan_runs", "run_shard", "merge_shards", "run_sweep", "format_plan", "main",
           "pending_shards", "clean_run", "finish_runs", "summarize", "table_rows", "write_summary"]
