"""The demo world: seeded coloured shapes in four domains, and tiny CLIP models trained on them.

The models ship with the package so every chapter runs offline (CI, no downloads).

The demo numbers are NOT CLIP's: they show the same code path (open_clip model, BPE tokenizer,
prompts, zero-shot classifier, test-time prompt tuning) on a toy world. See ``book/demo_world.md``.

- :func:`~vlmcal_utils.demo.world.make_demo_dataset` — ``(image, label)`` datasets per domain / split / class set
- :func:`~vlmcal_utils.demo.model.load_demo_model` — ``(model, preprocess, tokenizer)`` of a shipped ``open_clip.CLIP``
- ``python -m vlmcal_utils.demo train|evaluate|card`` — retrain, measure, write the model card
"""

from vlmcal_utils.demo.model import (
    DEFAULT_DEMO_MODEL,
    DEMO_MODEL_NAMES,
    create_demo_model,
    demo_preprocess,
    load_demo_model,
    weights_path,
)
from vlmcal_utils.demo.world import (
    CLASSNAMES,
    DEMO_DOMAINS,
    HELDOUT_CLASSES,
    SEEN_CLASSES,
    SHIFT_DOMAINS,
    TRAIN_DOMAINS,
    DemoDataset,
    class_ids,
    make_caption,
    make_demo_dataset,
    render_image,
)

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
