"""The demo world: procedurally rendered coloured shapes in four DomainNet-like domains.

Nothing is downloaded and no data file is read: every image is drawn from a seed, so the same
``(seed, split, domain, classes, index)`` always gives the same pixels.

Classes
-------
A class is a ``(colour, shape)`` pair named ``"{colour} {shape}"`` (e.g. ``"red triangle"``), so
``"a photo of a {}.".format(name)`` is a natural prompt. 6 colours x 6 shapes = 36 classes, indexed
``colour_index * 6 + shape_index`` in ``CLASSNAMES``. Twelve pairs (``HELDOUT_CLASSES``,
two per colour and two per shape) never appear in the training split used for the shipped
models, so recognising them from a prompt is genuinely compositional zero-shot: the model has
seen "red" and "star", never a red star.

Domains
-------
``photo`` (textured, lit, noisy background; shaded object), ``clipart`` (flat colour, thick black
border, plain background), ``sketch`` (washed-out pencil outline and light hatching on paper) and ``painting``
(blurred, brush-textured colours on a blotchy canvas). The shipped models are trained on
``TRAIN_DOMAINS`` (``photo`` + ``clipart``); ``sketch`` and ``painting`` are distribution shift.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "COLOURS",
    "SHAPES",
    "CLASSNAMES",
    "HELDOUT_CLASSES",
    "SEEN_CLASSES",
    "DEMO_DOMAINS",
    "TRAIN_DOMAINS",
    "SHIFT_DOMAINS",
    "SPLITS",
    "CLASS_SETS",
    "DEFAULT_SIZES",
    "IMAGE_SIZE",
    "class_ids",
    "image_params",
    "render_image",
    "make_caption",
    "DemoDataset",
    "make_demo_dataset",
]

IMAGE_SIZE = 32
_SUPERSAMPLE = 4  # draw at 4x and downsample: antialiased edges without a slow renderer

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 55),
    "blue": (35, 75, 215),
    "yellow": (235, 205, 30),
    "purple": (135, 55, 185),
    "orange": (245, 135, 25),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")
CLASSNAMES: list[str] = [f"{c} {s}" for c in COLOURS for s in SHAPES]

# Two held-out shapes per colour and two held-out colours per shape (a shifted diagonal), so every
# word is still seen in training with four partners.
HELDOUT_CLASSES: list[str] = sorted(
    {f"{c} {SHAPES[(i + d) % len(SHAPES)]}" for i, c in enumerate(COLOURS) for d in (0, 2)},
    key=CLASSNAMES.index,
)
SEEN_CLASSES: list[str] = [n for n in CLASSNAMES if n not in HELDOUT_CLASSES]

DEMO_DOMAINS: tuple[str, ...] = ("photo", "clipart", "sketch", "painting")
TRAIN_DOMAINS: tuple[str, ...] = ("photo", "clipart")
SHIFT_DOMAINS: tuple[str, ...] = ("sketch", "painting")
SPLITS: tuple[str, ...] = ("train", "val", "test")
CLASS_SETS: tuple[str, ...] = ("all", "seen", "heldout")
DEFAULT_SIZES = {"train": 20000, "val": 1000, "test": 1000}

# Distinct integer codes per split/domain/class set enter the seed, so no two of them share a
# generator stream (train/val/test never overlap).
_SPLIT_CODE = {"train": 101, "val": 202, "test": 303}
_DOMAIN_CODE = {d: 11 + i for i, d in enumerate(DEMO_DOMAINS)}
_CLASSES_CODE = {"all": 1, "seen": 2, "heldout": 3}


def class_ids(classes: str = "all") -> list[int]:
    """Indices into ``CLASSNAMES`` of the class set ``"all"``, ``"seen"`` or ``"heldout"``."""
    if classes == "all":
        return list(range(len(CLASSNAMES)))
    if classes == "seen":
        return [CLASSNAMES.index(n) for n in SEEN_CLASSES]
    if classes == "heldout":
        return [CLASSNAMES.index(n) for n in HELDOUT_CLASSES]
    raise ValueError(f"classes={classes!r} is not a class set; use one of {CLASS_SETS}")


def _check_choice(value: Any, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what}={value!r} is unknown; use one of {tuple(choices)}")
    return value


def _rng(seed: int, split: str, domain: str, classes: str, index: int) -> np.random.Generator:
    return np.random.default_rng(
        [int(seed), _SPLIT_CODE[split], _DOMAIN_CODE[domain], _CLASSES_CODE[classes], int(index)]
    )


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------


def _unit_outline(shape: str) -> np.ndarray:
    """``(P, 2)`` polygon of ``shape`` centred at 0 with radius ~1 (y points down, as in images)."""
    if shape == "circle":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    if shape == "triangle":
        t = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return np.stack([np.cos(t), np.sin(t) + 0.2], 1) * 1.05
    if shape == "star":
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([r * np.cos(t), r * np.sin(t) + 0.1], 1) * 1.05
    if shape == "cross":
        a, b = 0.32, 0.95
        return np.array(
            [[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a],
             [-b, -a], [-a, -a]]
        )
    if shape == "heart":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y + 2.5], 1) / 16.5
    raise ValueError(f"shape={shape!r} is unknown; use one of {SHAPES}")


def image_params(class_id: int, rng: np.random.Generator) -> dict[str, Any]:
    """Draw the nuisance parameters (size, position, rotation, colour jitter) of one image."""
    colour, shape = CLASSNAMES[class_id].split(" ")
    radius = float(rng.uniform(0.20, 0.36))  # fraction of the image side
    margin = radius + 0.04
    cx, cy = (float(v) for v in rng.uniform(margin, 1 - margin, size=2))
    return {
        "class_id": int(class_id),
        "colour": colour,
        "shape": shape,
        "radius": radius,
        "center": (cx, cy),
        "angle": float(rng.uniform(-25, 25)),
        "colour_jitter": rng.integers(-18, 19, size=3).tolist(),
        "style_seed": int(rng.integers(0, 2**31 - 1)),
    }


def _mask(params: dict[str, Any], big: int, grow: float = 1.0) -> Image.Image:
    """The object's filled silhouette as an ``L`` image of side ``big`` (``grow`` scales it)."""
    pts = _unit_outline(params["shape"])
    a = math.radians(params["angle"])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = pts @ rot.T * params["radius"] * grow * big
    pts = pts + np.array(params["center"]) * big
    img = Image.new("L", (big, big), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in pts.tolist()], fill=255)
    return img


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1], shape ``(size, size, channels)``: a bicubic-upsampled grid."""
    out = []
    for _ in range(channels):
        grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
        up = Image.fromarray(grid, "L").resize((size, size), Image.BICUBIC)
        out.append(np.asarray(up, np.float32) / 255.0)
    return np.stack(out, -1)


def _object_rgb(params: dict[str, Any]) -> np.ndarray:
    base = np.array(COLOURS[params["colour"]], np.float32) + np.array(params["colour_jitter"])
    return np.clip(base, 0, 255)


# ---------------------------------------------------------------------------------------------
# Domain renderers: each returns a float (big, big, 3) array in [0, 255]
# ---------------------------------------------------------------------------------------------


def _render_photo(p: dict[str, Any], rng: np.random.Generator, big: int) -> np.ndarray:
    alpha = np.asarray(_mask(p, big), np.float32)[..., None] / 255.0
    # Muted, textured background with a lighting gradient (not a saturated object colour).
    tint = rng.uniform(70, 190) + rng.uniform(-25, 25, size=3)
    bg = tint * (0.75 + 0.5 * _smooth_noise(rng, big, 5, 3))
    yy, xx = np.mgrid[0:big, 0:big] / big
    d = rng.normal(size=2)
    light = 0.8 + 0.4 * ((xx - 0.5) * d[0] + (yy - 0.5) * d[1])[..., None] / (np.linalg.norm(d) + 1e-6)
    obj = _object_rgb(p) * (0.85 + 0.3 * _smooth_noise(rng, big, 8))
    img = (bg * (1 - alpha) + obj * alpha) * light
    return img + rng.normal(0, 10, size=img.shape)


def _render_clipart(p: dict[str, Any], rng: np.random.Generator, big: int) -> np.ndarray:
    fill = _mask(p, big)
    border = int(round(big * rng.uniform(0.05, 0.08))) | 1  # odd MaxFilter size
    outer = np.asarray(fill.filter(ImageFilter.MaxFilter(border)), np.float32)[..., None] / 255
    inner = np.asarray(fill, np.float32)[..., None] / 255
    bg = np.full((big, big, 3), 255.0) - rng.uniform(0, 30, size=3)  # white or a pale pastel
    # Background outside, near-black border ring, flat colour inside.
    return bg * (1 - outer) + 15.0 * (outer - inner) + _object_rgb(p) * inner


def _render_sketch(p: dict[str, Any], rng: np.random.Generator, big: int) -> np.ndarray:
    paper = 245 - 12 * _smooth_noise(rng, big, 6) + rng.normal(0, 4, size=(big, big, 1))
    # A washed-out, greyish pencil colour: the hue is still there, but faint.
    ink = 0.55 * _object_rgb(p) + 0.45 * 90.0
    strokes = np.zeros((big, big, 1), np.float32)
    for _ in range(2):  # two slightly offset strokes look hand drawn
        q = dict(p)
        q["center"] = tuple(c + rng.normal(0, 0.012) for c in p["center"])
        q["angle"] = p["angle"] + rng.normal(0, 3)
        m = _mask(q, big)
        edge = np.asarray(m, np.float32) - np.asarray(m.filter(ImageFilter.MinFilter(9)), np.float32)
        strokes = np.maximum(strokes, edge[..., None] / 255 * rng.uniform(0.6, 1.0))
    # Loose pencil hatching inside the outline: diagonal strokes, a light wash of the ink colour.
    yy, xx = np.mgrid[0:big, 0:big]
    period = big / rng.uniform(7, 10)
    hatch = (np.sin((xx + yy * rng.uniform(0.6, 1.4)) * 2 * np.pi / period) > 0.3).astype(np.float32)
    inside = np.asarray(_mask(p, big, grow=0.9), np.float32) / 255
    shade = (hatch * inside)[..., None] * rng.uniform(0.25, 0.45)
    strokes = np.maximum(strokes, shade)
    return paper * (1 - strokes) + ink * strokes


def _render_painting(p: dict[str, Any], rng: np.random.Generator, big: int) -> np.ndarray:
    canvas = rng.uniform(120, 230, size=3) * (0.7 + 0.5 * _smooth_noise(rng, big, 4, 3))
    m = _mask(p, big, grow=rng.uniform(0.95, 1.1)).filter(ImageFilter.GaussianBlur(big * 0.035))
    alpha = np.asarray(m, np.float32)[..., None] / 255
    # Brush texture: stretched noise along one direction, modulating a strongly jittered colour.
    strokes = Image.fromarray((rng.random((4, 24)) * 255).astype(np.uint8), "L")
    strokes = strokes.resize((big, big), Image.BICUBIC).rotate(float(rng.uniform(0, 180)))
    tex = np.asarray(strokes, np.float32)[..., None] / 255
    colour = _object_rgb(p) + rng.uniform(-30, 30, size=3)
    obj = colour * (0.75 + 0.45 * tex)
    return canvas * (1 - alpha) + obj * alpha


_RENDERERS: dict[str, Callable[..., np.ndarray]] = {
    "photo": _render_photo,
    "clipart": _render_clipart,
    "sketch": _render_sketch,
    "painting": _render_painting,
}


def render_image(params: dict[str, Any], domain: str = "photo", size: int = IMAGE_SIZE) -> Image.Image:
    """Render the object described by ``params`` (from :func:`~vlmcal_utils.demo.world.image_params`) in ``domain``.

    Returns an RGB ``PIL.Image`` of side ``size``. Deterministic given ``params`` (the domain's
    random texture comes from ``params["style_seed"]``).
    """
    _check_choice(domain, DEMO_DOMAINS, "domain")
    big = size * _SUPERSAMPLE
    rng = np.random.default_rng([params["style_seed"], _DOMAIN_CODE[domain]])
    arr = _RENDERERS[domain](params, rng, big)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    return img.resize((size, size), Image.BOX)


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------

_DOMAIN_WORDS = {
    "photo": ("photo", "picture", "photograph", "image"),
    "clipart": ("clipart", "drawing", "cartoon", "icon"),
    "sketch": ("sketch", "pencil drawing"),
    "painting": ("painting", "picture"),
}
_TEMPLATES = (
    "a {dw} of a {obj}",
    "a {dw} of the {obj}",
    "a {obj}",
    "the {obj}",
    "{obj}",
    "this is a {obj}",
    "a {dw} showing a {obj}",
    "there is a {obj} {pos}",
    "a {obj} {pos}",
    "a {dw} of a {obj} {pos}",
)


def _position_phrase(center: tuple[float, float]) -> str:
    cx, cy = center
    if abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1:
        return "in the middle"
    if abs(cx - 0.5) >= abs(cy - 0.5):
        return "on the left" if cx < 0.5 else "on the right"
    return "at the top" if cy < 0.5 else "at the bottom"


def make_caption(params: dict[str, Any], domain: str, rng: np.random.Generator) -> str:
    """A varied training caption for one image ("a photo of a big red star on the left", ...).

    Wording varies (templates, size words, word order, an occasional colour-only or shape-only
    caption) so the text tower learns words, not one template.
    """
    colour, shape = params["colour"], params["shape"]
    u = rng.random()
    if u < 0.06:
        obj = f"{colour} shape"
    elif u < 0.12:
        obj = shape
    elif u < 0.2:
        obj = f"{shape} that is {colour}"
    else:
        obj = f"{colour} {shape}"
    if rng.random() < 0.3:
        size_word = ("small", "little", "tiny") if params["radius"] < 0.28 else ("big", "large")
        obj = f"{size_word[rng.integers(len(size_word))]} {obj}"
    dws = _DOMAIN_WORDS[domain]
    text = _TEMPLATES[rng.integers(len(_TEMPLATES))].format(
        dw=dws[rng.integers(len(dws))], obj=obj, pos=_position_phrase(params["center"])
    )
    text = text.replace("a image", "an image").replace("a icon", "an icon")
    return text + ("." if rng.random() < 0.5 else "")


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------


class DemoDataset(torch.utils.data.Dataset):
    """``n`` demo images of one domain, split and class set; items are ``(image, label)``.

    ``label`` indexes ``classnames`` (the class set's names, in ``CLASSNAMES`` order).
    Image ``i`` has class ``classnames[i % K]`` (balanced) and is rendered on access from the seed
    ``(seed, split, domain, classes, i)``; ``image`` is a ``PIL.Image`` (RGB, 32x32) or
    ``transform(image)`` when a transform is given.
    """

    def __init__(self, domain: str, split: str, n: int, seed: int, transform: Callable | None,
                 classes: str):
        self.domain = _check_choice(domain, DEMO_DOMAINS, "domain")
        self.split = _check_choice(split, SPLITS, "split")
        self.class_set = _check_choice(classes, CLASS_SETS, "classes")
        if int(n) < 1:
            raise ValueError(f"n={n} must be a positive number of images")
        self.n, self.seed, self.transform = int(n), int(seed), transform
        self.class_ids = class_ids(classes)
        self.classnames: list[str] = [CLASSNAMES[i] for i in self.class_ids]
        self.targets: list[int] = [i % len(self.class_ids) for i in range(self.n)]

    def __len__(self) -> int:
        return self.n

    def params(self, index: int) -> dict[str, Any]:
        """The nuisance parameters of image ``index`` (see :func:`~vlmcal_utils.demo.world.image_params`)."""
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} images")
        rng = _rng(self.seed, self.split, self.domain, self.class_set, index)
        return image_params(self.class_ids[self.targets[index]], rng)

    def image(self, index: int) -> Image.Image:
        """The rendered (un-transformed) PIL image of sample ``index``."""
        return render_image(self.params(index), self.domain)

    def caption(self, index: int, rng: np.random.Generator) -> str:
        """A training caption for sample ``index`` (wording drawn with ``rng``)."""
        return make_caption(self.params(index), self.domain, rng)

    def __getitem__(self, index: int):
        img = self.image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]

    def __repr__(self) -> str:
        return (f"DemoDataset(domain={self.domain!r}, split={self.split!r}, n={self.n}, "
                f"classes={self.class_set!r} ({len(self.classnames)}), seed={self.seed})")


def make_demo_dataset(
    domain: str = "photo",
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    transform: Callable | None = None,
    classes: str = "all",
) -> DemoDataset:
    """A deterministic demo dataset (see :class:`~vlmcal_utils.demo.world.DemoDataset`).

    ``n`` defaults to ``DEFAULT_SIZES`` ``[split]`` (train 20000, val 1000, test 1000).
    ``classes``: ``"all"`` (36), ``"seen"`` (24 seen in training) or ``"heldout"`` (12 never seen
    in training); labels index the chosen set's ``classnames``. The shipped models were trained
    on ``split="train"``, ``classes="seen"``, domains ``TRAIN_DOMAINS``, ``seed=0``.
    """
    _check_choice(split, SPLITS, "split")
    return DemoDataset(domain, split, DEFAULT_SIZES[split] if n is None else n, seed, transform,
                       classes)
