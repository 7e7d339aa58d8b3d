"""Data: logits files, the published-logits registry, image datasets and class names.

One module per role:

- :mod:`~vlmcal_utils.data.logits` — the ``.npz`` logits format: :func:`load_logits`, :class:`LogitsFile`
- :mod:`~vlmcal_utils.data.topk` — top-5 output files (top-label metrics only): :func:`load_top5`,
  :class:`Top5Outputs`; :mod:`~vlmcal_utils.data.torch_pickle` reads pickled torch tensors without
  running the pickle's code
- :mod:`~vlmcal_utils.data.registry` — the only registry of published model outputs
  (:data:`PUBLISHED_LOGITS`, :func:`published_entries`); :mod:`~vlmcal_utils.data.published` finds
  them (:func:`published_path`, :func:`fetch_published_logits`, :func:`resolve_published`);
  :mod:`~vlmcal_utils.data.converters` turns their source formats into logits files,
  :mod:`~vlmcal_utils.data.content_hash` pins their content
- :mod:`~vlmcal_utils.data.classnames` — CIFAR-10, EuroSAT and ImageNet class names, ImageNet WordNet ids
- :mod:`~vlmcal_utils.data.images` — :class:`ArrayImageDataset`, :class:`FileListDataset`,
  image folders, :func:`subsample`
- :mod:`~vlmcal_utils.data.datasets` — the dataset registry :data:`DATASETS` and :func:`load_dataset`,
  with loaders in :mod:`~vlmcal_utils.data.coop` (CoOp split files), :mod:`~vlmcal_utils.data.imagenet`
  (ImageNet variants, DomainNet) and :mod:`~vlmcal_utils.data.shared` (``$VLMCAL_SHARED`` images)

Where files live (``$VLMCAL_SHARED``, ``$VLMCAL_DATA``, caches) is :mod:`vlmcal_utils.paths`.
"""

from vlmcal_utils.data.classnames import (
    CIFAR10_CLASSNAMES,
    EUROSAT_CLASSNAMES,
    IMAGENET_CLASSNAMES,
    clean_classname,
    imagenet_wnids,
)
from vlmcal_utils.data.content_hash import content_sha256, content_sha256_arrays
from vlmcal_utils.data.converters import CONVERTERS, load_numpy_pickle
from vlmcal_utils.data.coop import COOP_LAYOUTS, load_coop_split
from vlmcal_utils.data.datasets import (
    DATASETS,
    TEST_ONLY,
    calibration_set,
    dataset_root_override,
    evaluation_subset,
    list_datasets,
    load_dataset,
    uses_paper_protocol,
)
from vlmcal_utils.data.imagenet import DOMAINNET_DOMAINS, load_domainnet
from vlmcal_utils.data.images import (
    IMAGE_EXTENSIONS,
    ArrayImageDataset,
    FileListDataset,
    load_image_folder,
    subsample,
)
from vlmcal_utils.data.logits import LogitsFile, load_logits
from vlmcal_utils.data.published import (
    OFFLINE_ENV_VAR,
    PUBLISHED_LOGITS,
    PublishedLogits,
    Resolved,
    fetch_published_logits,
    published_entries,
    published_path,
    resolve_published,
    resolve_published_dir,
)
from vlmcal_utils.data.topk import Top5Outputs, load_top5

__all__ = [
    "CIFAR10_CLASSNAMES",
    "CONVERTERS",
    "COOP_LAYOUTS",
    "DATASETS",
    "OFFLINE_ENV_VAR",
    "Resolved",
    "resolve_published",
    "resolve_published_dir",
    "TEST_ONLY",
    "calibration_set",
    "dataset_root_override",
    "evaluation_subset",
    "uses_paper_protocol",
    "DOMAINNET_DOMAINS",
    "EUROSAT_CLASSNAMES",
    "IMAGENET_CLASSNAMES",
    "IMAGE_EXTENSIONS",
    "PUBLISHED_LOGITS",
    "ArrayImageDataset",
    "FileListDataset",
    "LogitsFile",
    "PublishedLogits",
    "clean_classname",
    "content_sha256",
    "content_sha256_arrays",
    "fetch_published_logits",
    "imagenet_wnids",
    "list_datasets",
    "load_coop_split",
    "load_dataset",
    "load_domainnet",
    "load_image_folder",
    "load_logits",
    "load_numpy_pickle",
    "published_entries",
    "published_path",
    "subsample",
    "Top5Outputs",
    "load_top5",
]
