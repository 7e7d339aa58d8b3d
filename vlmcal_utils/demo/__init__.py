"""The demo world: seeded coloured shapes in four domains, and tiny CLIP models trained on them.

The models ship with the package so every chapter runs offline (CI, no downloads).

The demo numbers are NOT CLIP's: they show the same code path (open_clip model, BPE tokenizer,
prompts, zero-shot classifier, test-time prompt tuning) on a toy world. See ``book/demo_world.md``.

- :func:`~vlmcal_utils.demo.world.make_demo_dataset` — ``(image, label)`` datasets per domain / split / class set
- :func:`~vlmcal_utils.demo.model.load_demo_model` — ``(model, preprocess, tokenizer)`` of a shipped ``open_clip.CLIP``
- ``python -m vlmcal_utils.demo train|evaluate|card`` — retrain, measure, write the model card
"""

from vlmcal_utils.lazy import lazy_exports

# Each name is imported from its module on first use (PEP 562): importing one module of the
# package, or a command line's --help, does not import torch through all the others.
_EXPORTS = {
    "model": (
        "DEFAULT_DEMO_MODEL", "DEMO_MODEL_NAMES", "create_demo_model", "demo_preprocess", "load_demo_model",
        "weights_path"
    ),
    "world": (
        "CLASSNAMES", "DEMO_DOMAINS", "HELDOUT_CLASSES", "SEEN_CLASSES", "SHIFT_DOMAINS", "TRAIN_DOMAINS",
        "DemoDataset", "class_ids", "make_caption", "make_demo_dataset", "render_image"
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CLASSNAMES",
    "DEFAULT_DEMO_MODEL",
    "DEMO_DOMAINS",
    "DEMO_MODEL_NAMES",
    "HELDOUT_CLASSES",
    "SEEN_CLASSES",
    "SHIFT_DOMAINS",
    "TRAIN_DOMAINS",
    "DemoDataset",
    "class_ids",
    "create_demo_model",
    "demo_preprocess",
    "load_demo_model",
    "make_caption",
    "make_demo_dataset",
    "render_image",
    "weights_path",
]
