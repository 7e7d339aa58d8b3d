"""Class names of the datasets the book uses, in label order, and the ImageNet WordNet ids.

Every dataset loader gives its dataset a ``classnames`` list (index = label); the lists that do
not come from the files themselves live here, so prompts and tables use one spelling.
"""

from __future__ import annotations

from importlib.resources import files

# open_clip ships the 1000 ImageNet-1k class names CLIP was evaluated with (OpenAI's cleaned list).
from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES as _OPEN_CLIP_IMAGENET_CLASSNAMES

__all__ = [
    "CIFAR10_CLASSNAMES",
    "EUROSAT_CLASSNAMES",
    "IMAGENET_CLASSNAMES",
    "clean_classname",
    "imagenet_wnids",
]

CIFAR10_CLASSNAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""CIFAR-10's ten class names in label order."""

# CoOp's (Zhou et al., 2022) readable EuroSAT class names, keyed by torchvision's folder names.
EUROSAT_CLASSNAMES: dict[str, str] = {
    "AnnualCrop": "annual crop land", "Forest": "forest",
    "HerbaceousVegetation": "herbaceous vegetation land", "Highway": "highway or road",
    "Industrial": "industrial buildings", "Pasture": "pasture land",
    "PermanentCrop": "permanent crop land", "Residential": "residential buildings",
    "River": "river", "SeaLake": "sea or lake",
}
"""torchvision EuroSAT folder name -> the readable name CoOp's prompts use."""

IMAGENET_CLASSNAMES: tuple[str, ...] = tuple(_OPEN_CLIP_IMAGENET_CLASSNAMES)
"""The 1000 ImageNet-1k class names (open_clip's copy of OpenAI's list), in class-index order."""


def clean_classname(name: str) -> str:
    """A folder or file class name as prompt text: underscores become spaces, ends stripped.

    Parameters
    ----------
    name : str
        e.g. ``"2012_Audi_S4"``.

    Returns
    -------
    str
        e.g. ``"2012 Audi S4"``.
    """
    return str(name).replace("_", " ").strip()


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (the list shipped with timm).

    Returns
    -------
    list of str
        ``wnids[i]`` is the folder name of ImageNet class ``i`` (e.g. ``"n01440764"`` for 0).

    Raises
    ------
    ModuleNotFoundError
        timm (a ``[dev]`` extra) is not installed.
    """
    try:
        synsets = files("timm.data").joinpath("_info", "imagenet_synsets.txt")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "imagenet_wnids() reads the WordNet id list shipped with timm: pip install timm"
        ) from err
    return synsets.read_text().split()
