"""The text-to-video memorization task: content (GSSCD) and motion (OFS-k) similarity of generated videos to their
prompt's ground-truth clips, on moving digits where the truth is known: a copied clip scores content and motion,
a different digit on the planted trajectory scores motion only."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.datasets.moving_digits import MovingDigitsPrompts
from bench.registry import TASKS


@pytest.fixture(scope="module")
def prompts():
    return MovingDigitsPrompts(part="memorized", num_content=1, num_motion=1, copies=3, num_ordinary=10, seed=0)


def _task(**kwargs):
    return TASKS.build(dict(type="text_to_video_memorization",
                            content=dict(extractor=dict(type="PixelCorrelationFeatures")),
                            motion=dict(flow=dict(backend="farneback"), k=3), **kwargs))


def test_copies_score_content_and_motion_other_digits_motion_only(prompts):
    content_item, motion_item = prompts[0], prompts[1]
    assert (content_item["memorization"], motion_item["memorization"]) == ("content", "motion")
    copy = torch.as_tensor(np.asarray(content_item["gt_videos"][0]))  # the duplicated training clip itself
    other = torch.as_tensor(np.asarray(motion_item["gt_videos"][0]))  # a planted trajectory's clip
    static = copy[:1].expand_as(copy).clone()  # the copy's first frame held still: content without motion
    task = _task()
    task.prepare("cpu")
    gt = [content_item["gt_videos"], motion_item["gt_videos"][1:]]  # motion: the trajectory's *other* digits
    outputs = {"label": torch.tensor([1, 1]), "prompt": ["a", "b"], "video": torch.stack([
        torch.stack([copy, static]), torch.stack([other, other])]), "_gt_videos": gt}
    features = task.featurize(outputs)
    content, motion = features["content_similarity"], features["motion_similarity"]
    assert content.shape == motion.shape == (2, 2)
    assert content[0, 0] == pytest.approx(1.0, abs=1e-6)  # a copy: some frame pair is identical
    assert motion[0, 0] == pytest.approx(1.0, abs=1e-6)  # the same flow
    assert content[0, 1] == pytest.approx(1.0, abs=1e-6) and motion[0, 1] < 0.5  # still frames: no motion copy
    assert motion[1, 0] > 0.8 and content[1, 0] < content[0, 0]  # same path, another digit
    scores = task.evaluate({**outputs, **features})
    assert scores == {}  # no metrics configured: the columns are what CopySimilarity reads


def test_prompts_without_ground_truth_are_nan(prompts):
    task = _task(metrics=[dict(type="CopySimilarity", column="content_similarity", only_label=None,
                               prefix="content ")])
    task.prepare("cpu")
    video = torch.as_tensor(np.asarray(prompts[0]["gt_videos"][0]))
    outputs = {"label": torch.tensor([1, 0]), "prompt": ["a", "b"], "video": torch.stack([video[None], video[None]]),
               "_gt_videos": [prompts[0]["gt_videos"], []]}
    features = task.featurize(outputs)
    assert torch.isnan(features["content_similarity"][1]).all() and torch.isnan(features["motion_similarity"][1]).all()
    scores = task.evaluate({**outputs, **features})
    assert scores["content prompts without GT"] == 1.0 and scores["content max"] == pytest.approx(1.0, abs=1e-6)
    assert task.describe()["label"].startswith("re-implementation")
    with pytest.raises(ValueError, match="content needs extractor"):
        TASKS.build(dict(type="text_to_video_memorization", content={}))
