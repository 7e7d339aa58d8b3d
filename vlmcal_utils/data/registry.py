"""The registry of published model outputs: one entry per file, as data (no I/O here).

:data:`PUBLISHED_LOGITS` records, for each file name (the ``.npz`` stem), where its sources are
(a repository at a pinned commit, the paths inside it and their sizes), the pinned content hash
(:func:`~vlmcal_utils.data.content_hash.content_sha256`), the converter that makes the file from
its sources (:data:`~vlmcal_utils.data.converters.CONVERTERS`), and how the chapters name and group
it (``model``, ``dataset``, ``family``; select with :func:`published_entries`). Finding, fetching
and verifying the files is :mod:`vlmcal_utils.data.published`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vlmcal_utils.data.converters import CREDAL_LANGUAGES, HOLLANCE_TOPLABEL

__all__ = ["DEFAULT_BASE_URL", "SHARED_LOGITS_DIR", "SHARED_VLM_OUTPUTS_DIR", "KINDS", "PublishedLogits",
           "PUBLISHED_LOGITS", "published_entries"]

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
SHARED_LOGITS_DIR = ("data", "logits")
"""Where the shared copies are, relative to ``$VLMCAL_SHARED`` (an entry's default ``shared_dir``)."""
SHARED_VLM_OUTPUTS_DIR = ("data", "vlm-outputs")
"""Where the shared copies of the later VLM outputs are (BiomedCLIP CIFAR-10, CLIP ImageNet-A top-5)."""
KINDS = ("logits", "toplabel", "top5")
"""What a file holds: a logits file (:func:`~vlmcal_utils.data.logits.load_logits`), top-label arrays
(``<model>__confidence``...), or top-5 classes and probabilities (:func:`~vlmcal_utils.data.topk.load_top5`)."""


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedLogits:
    """One published-logits file: its sources (repository at a pinned commit) and content hash.

    Attributes
    ----------
    name : str
        The registry key and file stem (``<name>.npz``).
    repo, commit : str
        ``owner/name`` on GitHub and the 40-digit commit the sources are pinned to.
    paths : tuple of str
        The source files inside the repository, in the converter's order.
    sha256 : str
        The pinned :func:`content_sha256` of the converted file.
    converter : str or None
        A key of :data:`~vlmcal_utils.data.converters.CONVERTERS`; ``None``: shared copy only.
    meta : dict
        The metadata a converted file carries (it is part of the hash).
    model : str
        Display name of the model, e.g. ``"CLIP ViT-B/32"``.
    dataset : str
        ``"CIFAR-10"``, ``"CIFAR-100"``, ``"DermaMNIST"``, ``"ImageNet"``, ...
    family : str
        ``"vlm"``, ``"baseline"`` (a classifier trained on the dataset) or ``"toplabel"``
        (confidence/correctness arrays only, not a logits file).
    sizes : tuple of int
        The size in bytes of each source file at the pinned commit (``()``: unknown); a download
        is capped at :data:`~vlmcal_utils.data.download.SIZE_MARGIN` times it.
    kind : str
        One of :data:`KINDS`: what the file holds, hence how it is loaded and what it can be scored for.
    shared_dir : tuple of str
        The shared copy's folder relative to ``$VLMCAL_SHARED`` (default :data:`SHARED_LOGITS_DIR`).
    """

    name: str
    repo: str
    commit: str
    paths: tuple[str, ...]
    sha256: str
    converter: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    model: str = ""
    dataset: str = ""
    family: str = "baseline"
    sizes: tuple[int, ...] = ()
    kind: str = "logits"
    shared_dir: tuple[str, ...] = SHARED_LOGITS_DIR

    @property
    def filename(self) -> str:
        """The file's name in ``$VLMCAL_SHARED/data/logits`` and in the download cache."""
        return f"{self.name}.npz"

    @property
    def label(self) -> str:
        """``"<model>, <dataset>"``: how a chapter names the file in titles and tables."""
        return f"{self.model}, {self.dataset}"

    @property
    def source_urls(self) -> list[str]:
        """The sources on github.com, at the pinned commit."""
        return [f"https://github.com/{self.repo}/blob/{self.commit}/{p}" for p in self.paths]

    def raw_urls(self, base_url: str = DEFAULT_BASE_URL) -> list[str]:
        """Download URLs of the sources: ``<base_url>/<repo>/<commit>/<path>``."""
        return [f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{p}" for p in self.paths]


_CREDAL = ("pwhofman/efficient-credal-prediction", "9481efa39c7e364bca0ae604db145bb180a28bbf")
_NETCAL = ("EFS-OpenSource/calibration-framework", "2a3db8d7cb2a557f3b563c98ce00954f43dfe927")
_HOLLANCE = ("hollance/reliability-diagrams", "e133f3d3a63356920c7d5cb7b032c3e03b38afb5")
_NETCAL_META = {
    "content": "softmax outputs (float32) of the full CIFAR test set (10000, original order); logits_* = log(probs)",
    "split": "val = test[:5000], test = test[5000:] (made here)",
    "licence": "Apache-2.0 (netcal)",
}
_DERMA_SPLIT = "val = DermaMNIST train split (7007), test = DermaMNIST test split (2005)"
_TEMPLATE = "This is a photo of a {}"


def _credal_derma(name: str, prefix: str, source_model: str, sha: str, model: str) -> PublishedLogits:
    paths = tuple(f"logits/{prefix}_DermaMNIST_DermaMNIST_{s}.csv" for s in ("train", "test"))
    meta = {
        "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} logits/{prefix}_DermaMNIST_DermaMNIST_{{train,test}}.csv",
        "model": source_model, "template": _TEMPLATE, "split": _DERMA_SPLIT,
    }
    return PublishedLogits(name, *_CREDAL, paths, sha, "credal_csv", meta,
                           model=model, dataset="DermaMNIST", family="vlm")


def _credal_cifar10(name: str, prefix: str, source_model: str, h_split: str, sha: str,
                    model: str) -> PublishedLogits:
    """A credal CIFAR-10 file: English test CSV, CIFAR-10H CSV, then the language CSVs (converter order)."""
    paths = (f"logits/{prefix}_CIFAR10_CIFAR10_test.csv", f"logits/{prefix}_CIFAR10-H_CIFAR10_{h_split}.csv",
             *(f"logits/{prefix}_CIFAR10_CIFAR10-{lang.upper()}_test.csv" for lang in CREDAL_LANGUAGES))
    meta = {
        "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} {paths[0]} (+CIFAR10-H and language variants)",
        "model": source_model, "template": _TEMPLATE,
        "dataset": "CIFAR-10 test set (10000, original order); cifar10h_soft_labels = CIFAR-10H human label "
        "distributions",
        "split": "val = test[:5000], test = test[5000:] (made here; repo has no val split)",
        "licence": "no licence file at repo top level (only ddu/LICENSE MIT for the ddu subfolder)",
    }
    return PublishedLogits(name, *_CREDAL, paths, sha, "credal_cifar10", meta,
                           model=model, dataset="CIFAR-10", family="vlm")


def _netcal(name: str, path: str, sha: str, model: str, dataset: str) -> PublishedLogits:
    meta = {"source": f"github.com/{_NETCAL[0]}@{_NETCAL[1]} {path}", **_NETCAL_META}
    return PublishedLogits(name, *_NETCAL, (path,), sha, "netcal_npz", meta,
                           model=model, dataset=dataset, family="baseline")


def _hollance(name: str, converter: str, glob: str, verified: tuple[tuple[int, float, float], ...], sha: str,
              model: str, dataset: str) -> PublishedLogits:
    """A top-label file: one CSV per model; ``verified`` = (n, accuracy, ECE-15) per model, in converter order."""
    models = HOLLANCE_TOPLABEL[converter]
    meta = {
        "source": f"github.com/{_HOLLANCE[0]}@{_HOLLANCE[1]} {glob}",
        "content": "top-label only: true label, predicted label, confidence of predicted class "
        "(no full logits; TS not possible)",
        "licence": "MIT (repo)",
        "verified": {m: {"n": n, "acc": acc, "ece15": ece}
                     for m, (n, acc, ece) in zip(models, verified, strict=True)},
    }
    return PublishedLogits(name, *_HOLLANCE, tuple(models.values()), sha, converter, meta,
                           model=model, dataset=dataset, family="toplabel", kind="toplabel")


_ENTRIES: tuple[PublishedLogits, ...] = (
    _credal_derma("clip_dermamnist_zeroshot", "Clip", "CLIP ViT-B/32 HF openai/clip-vit-base-patch32",
                  "d3a7e571040aaa05cbf0e5d64bb274709032a524ac16776e191d7f1ed1eb9e40", "CLIP ViT-B/32"),
    _credal_derma("biomedclip_dermamnist_zeroshot", "BiomedCLIP",
                  "BiomedCLIP hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 (open_clip)",
                  "ef710b9acc8fc6f7242b3a6a472de9972e07cfd483163f992fd6defb4e8eb50b", "BiomedCLIP"),
    _credal_derma("siglip_dermamnist_zeroshot", "SigLIP", "google/siglip-base-patch16-224",
                  "eb192978e030becf6ed7582ffcba9867f7bf715514cb27d2ff53069c44e561dc", "SigLIP ViT-B/16"),
    _credal_derma("siglip2_dermamnist_zeroshot", "SigLIP2", "google/siglip2-base-patch16-224",
                  "92b4f303492a1e3faa6605378ec0471f1011d17bdf112de692caae0fab1d6de5", "SigLIP2 ViT-B/16"),
    _netcal("netcal_lenet5_cifar10", "examples/classification/records/cifar10/lenet-5-cifar-10.npz",
            "f6964d6317cb99ea536e81034df57343c79a5088528a8bcb85f6a0219fd1e3da", "LeNet-5", "CIFAR-10"),
    _netcal("netcal_wrn16-4_cifar10", "examples/classification/records/cifar10/wideresnet-16-4-cifar-10.npz",
            "5c0ce11ab8f16dc1850cf326885c1fc6386305d8e36b8a9f51dad7db2189dda9", "WRN-16-4", "CIFAR-10"),
    _netcal("netcal_lenet5_cifar100", "examples/classification/records/cifar100/lenet-5-cifar-100.npz",
            "86ff960ef6733123d8324a0e6e9517819fa6db0abbfaf0b37d3c52e0ea649a54", "LeNet-5", "CIFAR-100"),
    _netcal("netcal_wrn16-4_cifar100", "examples/classification/records/cifar100/wideresnet-16-4-cifar-100.npz",
            "90e04b9805028c2ddfdcfca5a374833d6f7c6facc8f5a5fc6544cf3f360916d1", "WRN-16-4", "CIFAR-100"),
    _netcal("netcal_densenetbc100_cifar100",
            "examples/classification/records/cifar100/densenet-bc-100-cifar-100.npz",
            "86240b3e80b0304c494837a537a2298c904f289cb8033c1d55014780ab1ea75d", "DenseNet-BC-100", "CIFAR-100"),
    PublishedLogits(
        "markus93_densenet40_cifar10", "zongyuange/Workshop-repository",
        "a6765b04cb6a1e8b8e36c1cc34d6f0370d240a10", ("sample_logits.p",),
        "8834d883217ac756a00ddb62e1211106551dbfcc3524a29713ae8b5a0a5dc2b6", "pickle_logits_pairs",
        {
            "source": "github.com/zongyuange/Workshop-repository@a6765b04cb6a1e8b8e36c1cc34d6f0370d240a10 "
            "sample_logits.p (python pickle ((logits_val,y_val),(logits_test,y_test)); unpickled here "
            "with numpy-only restricted unpickler)",
            "identity": "bit-identical (conf diff<3e-7, same argmax) to markus93/NN_calibration DenseNet-40 "
            "CIFAR-10 logits (hollance results/markus93/probs_densenet40_c10_logits.csv)",
            "model": "DenseNet-40 (Keras, markus93/NN_calibration, Kangsepp 2018 reproduction of Guo et al. 2017)",
            "split": "val = 5000 held-out CIFAR-10 TRAIN images, test = full CIFAR-10 test set (10000, original order)",
            "licence": "Workshop-repository: no licence file; original logits from markus93/NN_calibration (MIT)",
        },
        model="DenseNet-40", dataset="CIFAR-10", family="baseline",
    ),
    PublishedLogits(
        "verifiedcal_vgg16_cifar10", "p-lambda/verified_calibration",
        "ee81c346895e3377653bd347c429a95bd631058d", ("data/cifar_probs.dat",),
        "3c0dbcc0fccbbf5c3a67ca25e1019259c22ecf4866d33c3153ab258df417c117", "pickle_probs",
        {
            "source": "github.com/p-lambda/verified_calibration@ee81c346895e3377653bd347c429a95bd631058d "
            "data/cifar_probs.dat (python pickle of (probs float32 10000x10, labels int64 10000x1); "
            "unpickled here with a numpy-only restricted unpickler)",
            "model": "Keras VGG16 (geifmany cifar10vgg) per experiments/platt_not_calibrated",
            "content": "softmax probs on CIFAR-10 test (original order); logits = log(probs)",
            "split": "val=test[:5000], test=test[5000:] (made here)",
            "licence": "MIT",
        },
        model="VGG16", dataset="CIFAR-10", family="baseline",
    ),
    PublishedLogits(
        "cleanlab_cv_cifar10_test", "cleanlab/label-errors", "6d5d6b31a13216290afc40e5c6319399c4d15c06",
        ("cross_validated_predicted_probabilities/cifar10_test_set_pyx.npy",
         "original_test_labels/cifar10_test_set_original_labels.npy"),
        "d63712a4913138bf8a266d030936c07770a73403d16f141069dc00bf705e88dd", "npy_probs",
        {
            "source": "github.com/cleanlab/label-errors@6d5d6b31a13216290afc40e5c6319399c4d15c06 "
            "cross_validated_predicted_probabilities/cifar10_test_set_pyx.npy + "
            "original_test_labels/cifar10_test_set_original_labels.npy",
            "content": "out-of-sample (cross-validated, fine-tuned) predicted probabilities float64 on CIFAR-10 "
            "test set; logits = log(probs)",
            "split": "val=test[:5000], test=test[5000:] (made here)",
            "licence": "see repo LICENSE (Apache-2.0 text at top level)",
        },
        model="cross-validated CNN (cleanlab)", dataset="CIFAR-10", family="baseline",
    ),
    _credal_cifar10("clip_vitb32_cifar10_zeroshot", "Clip", "CLIP ViT-B/32, HF openai/clip-vit-base-patch32, "
                    "logits_per_image (logit_scale 100 x cosine)", "train",
                    "1a62ee490b421eec92cf01ba1d4d4d796d7e92696ba6ccf541c3c992e4e6d3ef", "CLIP ViT-B/32"),
    _credal_cifar10("siglip_b16_cifar10_zeroshot", "SigLIP", "SigLIP ViT-B/16 224, HF google/siglip-base-patch16-224, "
                    "logits_per_image (sigmoid logits: scale*cos+bias)", "train",
                    "2aefe23000795a1c60d5ede947beb2d7d3d6b9c2d7861ef4c5c1741ffa8b0762", "SigLIP ViT-B/16"),
    _credal_cifar10("siglip2_b16_cifar10_zeroshot", "SigLIP2",
                    "SigLIP2 ViT-B/16 224, HF google/siglip2-base-patch16-224, logits_per_image (sigmoid logits)",
                    "test",
                    "80222c48dfd1d39c9e267cf40b6c803920ef18890bf9676694e154cd1f2ddbf9", "SigLIP2 ViT-B/16"),
    _hollance("hollance_imagenet_val_toplabel", "hollance_imagenet_toplabel", "results/ImageNet_*/*.csv",
              ((50000, 0.7658, 0.0696), (50000, 0.787, 0.1), (50000, 0.8187, 0.1238), (50000, 0.768, 0.1229),
               (50000, 0.8122, 0.0506), (50000, 0.7726, 0.0649), (50000, 0.7577, 0.067), (50000, 0.7511, 0.078),
               (50000, 0.7976, 0.058), (50000, 0.7786, 0.0202), (50000, 0.7714, 0.0564), (50000, 0.7732, 0.0191),
               (50000, 0.7737, 0.0492), (50000, 0.7931, 0.0806)),
              "ecf65e917b4f43da736363f5836589896fbb3064cb72d9ee91ae39dcdb3fa5b3", "14 ImageNet CNNs", "ImageNet"),
    _hollance("hollance_markus93_cifar_birds_toplabel", "hollance_markus93_toplabel", "results/markus93/*.csv",
              ((10000, 0.7, 0.2116), (10000, 0.9242, 0.055), (10000, 0.7148, 0.1848), (10000, 0.9356, 0.0475),
               (2897, 0.7314, 0.0235)),
              "cb1ff215fb9b56761ac910328c56f0746909bb5f7c225782ec8f8196d3841c40",
              "ResNet-110 / DenseNet-40 (+ birds)", "CIFAR-10/100"),
    _hollance("hollance_snacks_toplabel", "hollance_snacks_toplabel", "results/other/*.csv", ((952, 0.8634, 0.028),),
              "2bb03feb27d1ac84c6e1cd5d24e65a20bf6948cadf719cc8152e641ab9b287be", "snacks classifiers", "Snacks"),
    PublishedLogits(
        "biomedclip_cifar10_zeroshot", *_CREDAL, ("logits/BiomedCLIP_CIFAR10_CIFAR10_test.csv",),
        "8ae671336461d50b4b47dfebe9d50c81010b6f84526bd71e2e2808ac41594027", "credal_cifar10_test",
        {
            "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} logits/BiomedCLIP_CIFAR10_CIFAR10_test.csv",
            "source_sha256": "102cd191e5914432db3bc6e982c936a1cc29c41f634a1c281d6dc134d67d6dcd",
            "model": "BiomedCLIP (microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224) zero-shot, logit_scale x "
            "cosine, as published",
            "template": _TEMPLATE,
            "dataset": "CIFAR-10 test set (10000, original order); off-domain for a biomedical VLM",
            "split": "val = test[:5000], test = test[5000:] (made here; repo has no val split)",
            "licence": "no licence file at repo top level",
            "verified": {"n": 10000, "acc": 0.2442, "ece15": 0.505},
        },
        model="BiomedCLIP", dataset="CIFAR-10", family="vlm", shared_dir=SHARED_VLM_OUTPUTS_DIR,
    ),
    PublishedLogits(
        "clip_vitb16_imagenet_a_top5", "rogergheser/DS-DLProject", "16a7593928f63f8605b24ca9ca291c5628e57ec3",
        ("results/imagenet_A/run0.pkl",),
        "cfbe41c2f298b053bc5ebdbb80c986864ff82d165c37a1cf3cd22a1c1fba944c", "tensor_pickle_top5",
        {
            "source": "github.com/rogergheser/DS-DLProject@16a7593 results/imagenet_A/run0.pkl (pickle of three torch "
            "tensors: labels, top-5 class indices, top-5 probabilities float16)",
            "source_sha256": "ba95ad02c6bd2cdac73d9af5f4fb24cfbf61796c6a379ae0d4977489cd1213de",
            "model": "CLIP ViT-B/16, OpenAI weights via openai/CLIP clip.load('ViT-B/16') on CUDA (fp16), "
            "softmax(100 x cosine) over the 200 ImageNet-A classes",
            "template": "a photo of a {}",
            "dataset": "ImageNet-A, all 7500 images; DataLoader shuffle=True and no file names saved, so rows cannot "
            "be tied to images (not needed for calibration)",
            "labels": "torchvision ImageFolder indices over the 200 sorted ImageNet-A wnids: label k is the k-th wnid "
            "of imagenet-a's sorted folder list, i.e. TPT's imagenet_a_mask[k] in ImageNet-1k indexing",
            "content": "top-5 only: top-label confidence, accuracy, top-5 accuracy, reliability diagrams and "
            "top-label ECE are exact; NLL and temperature scaling are NOT (the other 195 classes are not stored)",
            "producing_code": "augmix_test.py at be0d2bd of the same repo",
            "licence": "no licence file in the repo (a university course project)",
            "verified": {"n": 7500, "acc": 0.4788, "ece15": 0.0721, "ece20": 0.0729},
        },
        model="CLIP ViT-B/16", dataset="ImageNet-A", family="vlm", kind="top5", shared_dir=SHARED_VLM_OUTPUTS_DIR,
    ),
)

# each source's size at the pinned commit (git ls-tree -l <commit> <path> in the source repository)
_SOURCE_SIZES: dict[str, tuple[int, ...]] = {
    "clip_dermamnist_zeroshot": (542280, 154584),
    "biomedclip_dermamnist_zeroshot": (541263, 154138),
    "siglip_dermamnist_zeroshot": (574949, 163959),
    "siglip2_dermamnist_zeroshot": (562685, 160180),
    "netcal_lenet5_cifar10": (480492,),
    "netcal_wrn16-4_cifar10": (480492,),
    "netcal_lenet5_cifar100": (4080492,),
    "netcal_wrn16-4_cifar100": (4080492,),
    "netcal_densenetbc100_cifar100": (4080492,),
    "markus93_densenet40_cifar10": (720341,),
    "verifiedcal_vgg16_cifar10": (480249,),
    "cleanlab_cv_cifar10_test": (800128, 20128),
    "clip_vitb32_cifar10_zeroshot": (1067730, 1507786, 1067596, 1067617, 1068111),
    "siglip_b16_cifar10_zeroshot": (1159756, 1599951, 1159514, 1149418, 1119777),
    "siglip2_b16_cifar10_zeroshot": (1146234, 1586290, 1133688, 1138116, 1178472),
    "hollance_imagenet_val_toplabel": (1390898, 1389266, 1388127, 1392350, 1386964, 1389544, 1390983, 1391618,
                                       1388700, 1387591, 1377126, 1387788, 1382470, 1355201),
    "hollance_markus93_cifar_birds_toplabel": (233889, 155635, 247229, 196100, 77982),
    "hollance_snacks_toplabel": (15571,),
    "biomedclip_cifar10_zeroshot": (1068020,),
    "clip_vitb16_imagenet_a_top5": (435982,),
}
_ENTRIES = tuple(replace(entry, sizes=_SOURCE_SIZES[entry.name]) for entry in _ENTRIES)

PUBLISHED_LOGITS: dict[str, PublishedLogits] = {entry.name: entry for entry in _ENTRIES}
"""name (the ``.npz`` stem in ``$VLMCAL_SHARED/data/logits``) -> :class:`PublishedLogits`."""


def published_entries(dataset: str | None = None, family: str | None = None) -> list[PublishedLogits]:
    """Registry entries in registry order, optionally only one ``dataset`` and/or ``family``.

    Parameters
    ----------
    dataset : str, optional
        e.g. ``"CIFAR-10"`` (exact match with :attr:`PublishedLogits.dataset`).
    family : str, optional
        ``"vlm"``, ``"baseline"`` or ``"toplabel"``.

    Returns
    -------
    list of PublishedLogits
    """
    return [e for e in _ENTRIES if (dataset is None or e.dataset == dataset) and (family is None or e.family == family)]
