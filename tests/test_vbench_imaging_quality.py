"""VBench imaging quality: the resize rule (VBench's ``transform`` written out, default ``longer``), the reduction
(mean of the frames' MUSIQ scores / 100) with a stand-in frame network, and MUSIQ reported unavailable without
pyiqa."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError
from bench.tasks.generation.video_scorers.imaging_quality import imaging_quality, imaging_transform


def _vbench_transform(images, mode="longer"):
    """``vbench/imaging_quality.py`` ``transform`` as written there, on ``torch.Tensor(frames)`` (float)."""
    from torchvision import transforms

    _, _, h, w = images.size()
    if mode == "longer" and max(h, w) > 512:
        scale = 512. / max(h, w)
        images = transforms.Resize(size=(int(scale * h), int(scale * w)), antialias=False)(images)
    elif mode.startswith("shorter") and min(h, w) > 512:
        scale = 512. / min(h, w)
        images = transforms.Resize(size=(int(scale * h), int(scale * w)), antialias=False)(images)
        if mode == "shorter_centercrop":
            images = transforms.CenterCrop(512)(images)
    return images / 255.


class MeanBrightness(torch.nn.Module):
    """A stand-in for MUSIQ: 100 x the frame's mean in [0, 1] (one score per [1, 3, h, w] frame)."""

    def forward(self, frame):
        assert frame.shape[0] == 1  # VBench scores one frame at a time
        return frame.mean() * 100


def _weights(tmp_path):
    path = tmp_path / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"stand-in")
    return path


@pytest.mark.parametrize("mode", ["longer", "shorter", "shorter_centercrop"])
def test_resize_rule_is_vbenchs(mode):
    frames = torch.randint(0, 256, (2, 600, 1030, 3), dtype=torch.uint8)
    ours = imaging_transform(frames, mode)
    expected = _vbench_transform(torch.Tensor(frames.numpy()).permute(0, 3, 1, 2), mode)
    assert ours.shape == expected.shape == {"longer": (2, 3, 298, 512), "shorter": (2, 3, 512, 878),
                                            "shorter_centercrop": (2, 3, 512, 512)}[mode]
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    small = torch.randint(0, 256, (1, 256, 320, 3), dtype=torch.uint8)
    torch.testing.assert_close(imaging_transform(small, mode), small.permute(0, 3, 1, 2).float() / 255)


def test_score_is_the_mean_frame_score_over_one_hundred(tmp_path):
    scorer = VIDEO_SCORERS.build(dict(type="ImagingQuality", cache_dir=str(tmp_path / "x"),
                                      weights=str(_weights(tmp_path)), model=MeanBrightness()))
    video = torch.stack([torch.full((8, 8, 3), v, dtype=torch.uint8) for v in (51, 102, 255)])
    # frame scores 20, 40, 100 -> mean 53.33 -> / 100
    assert scorer(video) == pytest.approx((20 + 40 + 100) / 3 / 100, abs=1e-6)
    assert imaging_quality(torch.tensor([50.0, 70.0])) == pytest.approx(0.6)
    assert scorer.describe()["label"] == "not VBench's network: MeanBrightness"


@pytest.mark.skipif(importlib.util.find_spec("pyiqa") is not None, reason="pyiqa is installed here")
def test_musiq_without_pyiqa_is_unavailable_not_faked(tmp_path):
    with pytest.raises(ScorerUnavailableError, match="pyiqa"):
        VIDEO_SCORERS.build(dict(type="ImagingQuality", weights=str(_weights(tmp_path))))
    with pytest.raises(ScorerUnavailableError, match="pyiqa"):  # with or without the weights
        VIDEO_SCORERS.build(dict(type="ImagingQuality", cache_dir=str(tmp_path / "empty")))


def test_missing_weights_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="musiq_spaq_ckpt-358bb6af.pth"):
        VIDEO_SCORERS.build(dict(type="ImagingQuality", cache_dir=str(tmp_path / "empty"), model=MeanBrightness()))


def test_musiq_path_matches_vbenchs_loop_where_pyiqa_is_installed(tmp_path):
    """With pyiqa (not in the lock): the scorer equals VBench's ``technical_quality`` loop written out, on a MUSIQ of
    random weights saved as the SPAQ file (``MUSIQ(pretrained_model_path=...)`` loads it strictly)."""
    musiq_arch = pytest.importorskip("pyiqa.archs.musiq_arch")
    torch.manual_seed(0)
    path = _weights(tmp_path)
    torch.save(musiq_arch.MUSIQ(pretrained=False).state_dict(), path)
    scorer = VIDEO_SCORERS.build(dict(type="ImagingQuality", weights=str(path)))
    video = torch.randint(0, 256, (2, 48, 64, 3), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    model = musiq_arch.MUSIQ(pretrained_model_path=str(path))
    model.training = False
    images = _vbench_transform(torch.Tensor(video.numpy()).permute(0, 3, 1, 2))
    with torch.no_grad():
        expected = sum(float(model(images[i].unsqueeze(0))) for i in range(len(images))) / len(images) / 100.
    assert scorer(video) == pytest.approx(expected, abs=1e-6)
    assert scorer.describe()["label"] == "VBench (MUSIQ-SPAQ)"
