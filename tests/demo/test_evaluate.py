"""vlmcal_utils.demo.evaluate: the demo models measured with the zero-shot method and the one scoring record."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vlmcal_utils import metrics
from vlmcal_utils.demo import DEFAULT_DEMO_MODEL, load_demo_model
from vlmcal_utils.demo.evaluate import PROMPT, demo_classifier, encode_images, evaluate_model, render_tensors
from vlmcal_utils.demo.world import CLASSNAMES, class_ids
from vlmcal_utils.temperature import fit_temperature
from vlmcal_utils.zeroshot import logit_scale, zeroshot_logits


@pytest.fixture(scope="module")
def model_and_data():
    model, _, tokenizer = load_demo_model(DEFAULT_DEMO_MODEL)
    data = {("photo", c): render_tensors("photo", "test", c, 60) for c in ("seen", "heldout")}
    val = render_tensors("photo", "val", "all", 80)
    return model, tokenizer, data, val


def _clip_logits(model, tokenizer, images, names):
    """CLIP's formula written out: logit_scale * cos(image, prompt(class)), full text pass."""
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenizer([PROMPT.format(c) for c in names])), dim=-1)
        image = F.normalize(model.encode_image(images), dim=-1)
        return (model.logit_scale.exp() * image @ text.t()).numpy()


def test_the_zero_shot_method_gives_clips_logits(model_and_data):
    model, tokenizer, data, _ = model_and_data
    x, _, names = data["photo", "heldout"]
    ours = zeroshot_logits(encode_images(model, x, batch_size=7), demo_classifier(model, tokenizer, names),
                           logit_scale(model)).numpy()
    assert ours.shape == (60, len(names))
    np.testing.assert_allclose(ours, _clip_logits(model, tokenizer, x, names), rtol=1e-4, atol=1e-4)


def test_each_cell_is_scored_as_the_metrics_module_scores_it(model_and_data):
    model, tokenizer, data, val = model_and_data
    result = evaluate_model(DEFAULT_DEMO_MODEL, data, val)
    T = float(fit_temperature(_clip_logits(model, tokenizer, val[0], val[2]), val[1].numpy()))
    assert result["temperature"] == pytest.approx(T, rel=1e-3)
    assert result["logit_scale"] == pytest.approx(float(model.logit_scale.detach().exp()))
    assert [(c["domain"], c["classes"]) for c in result["cells"]] == list(data)
    for cell in result["cells"]:
        x, y, names = data[cell["domain"], cell["classes"]]
        z, y = _clip_logits(model, tokenizer, x, names), y.numpy()
        p = metrics.softmax(z)
        assert cell["n"] == 60 and cell["n_classes"] == len(names) and cell["chance"] == 1 / len(names)
        assert cell["accuracy"] == pytest.approx(metrics.accuracy(p, y))
        assert cell["mean_confidence"] == pytest.approx(p.max(axis=1).mean(), abs=1e-5)
        assert cell["ece"] == pytest.approx(metrics.ece(p, y, n_bins=15), abs=1e-5)
        assert cell["ece_ts"] == pytest.approx(metrics.ece(metrics.softmax(z / T), y, n_bins=15), abs=1e-3)
        wide = _clip_logits(model, tokenizer, x, CLASSNAMES)
        in_all = np.asarray(class_ids(cell["classes"]))[y]  # labels mapped into the 36 classes
        assert cell["accuracy_among_all"] == pytest.approx(metrics.accuracy(wide, in_all))
