"""VBench imaging quality: the resize rule (VBench's ``transform`` written out, default ``longer``), the reduction
(mean of the frames' MUSIQ scores / 100) with a stand-in frame network, and MUSIQ against golden values of pyiqa's
(what VBench imports), equal to it where pyiqa is installed."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.imaging_quality import imaging_quality, imaging_transform
from bench.tasks.generation.video_scorers.musiq import MUSIQ, hashed_positions
from helpers import layer_roundings, rounding_tolerance

#: sha256 of the sorted "name:shape" lines of pyiqa 0.1.16's MUSIQ(num_class=1) state dict (what
#: musiq_spaq_ckpt-358bb6af.pth holds)
MUSIQ_KEYS = (248, "f92dfbdfa458c36a0fb665be0f16ffa0818bb0663a9f4b058f5651916b054687")
#: pyiqa's MUSIQ with _filled_state_dict's weights on _image(h, w) (torch 2.15, CPU)
GOLDEN = {(96, 160): -0.7419137358665466, (300, 200): -0.9445767998695374}


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


def _filled_state_dict(state: dict) -> dict:
    """Weights by a fixed rule (sorted names, one generator), the rule the golden values were made with."""
    g = torch.Generator().manual_seed(0)
    filled = {}
    for k, v in sorted(state.items()):
        if v.ndim >= 2:
            filled[k] = torch.randn(v.shape, generator=g) / math.sqrt(v[0].numel())
        elif k.endswith("bias"):
            filled[k] = torch.randn(v.shape, generator=g) * 0.1
        else:
            filled[k] = 1 + torch.randn(v.shape, generator=g) * 0.1
    return filled


def _image(h: int, w: int, t: int = 1) -> torch.Tensor:
    y, x = np.mgrid[0:h, 0:w]
    f = ((np.sin((x + 3 * t) / 7.0) * np.cos(y / 11.0) * 0.5 + 0.5) * 255).astype(np.uint8)
    return torch.from_numpy(np.stack([f, np.roll(f, 9, 1), 255 - f], -1))


def test_musiq_has_pyiqas_entries_and_reproduces_its_scores(tmp_path):
    model = MUSIQ()
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(model.state_dict().items()))
    assert (len(model.state_dict()), hashlib.sha256(lines.encode()).hexdigest()) == MUSIQ_KEYS
    path = _weights(tmp_path)
    torch.save({f"module.{k}": v for k, v in _filled_state_dict(model.state_dict()).items()}, path)
    scorer = VIDEO_SCORERS.build(dict(type="ImagingQuality", weights=str(path)))  # 'module.' stripped as pyiqa does
    for (h, w), golden in GOLDEN.items():
        frame = _image(h, w).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            score = float(scorer.model(frame))
        assert score == pytest.approx(golden, abs=rounding_tolerance(torch.float32, abs(golden) + 1,
                                                                     layer_roundings(scorer.model)))
    video = torch.stack([_image(96, 160, t) for t in (1, 1)])
    assert scorer(video) == pytest.approx(GOLDEN[(96, 160)] / 100, abs=1e-6)
    assert scorer.describe()["label"] == "VBench (MUSIQ-SPAQ)"


def test_hashed_positions_and_errors(tmp_path):
    # 10 x 10 table hashed to 2 rows x 3 columns by nearest neighbour: rows 0, 5; columns 0, 3, 6
    assert hashed_positions(2, 3).tolist() == [0, 3, 6, 50, 53, 56]
    with pytest.raises(FileNotFoundError, match="musiq_spaq_ckpt-358bb6af.pth"):
        VIDEO_SCORERS.build(dict(type="ImagingQuality", cache_dir=str(tmp_path / "empty")))
    with pytest.raises(ValueError, match="not MUSIQ's SPAQ checkpoint"):
        VIDEO_SCORERS.build(dict(type="ImagingQuality", weights=str(_weights(tmp_path))))


def test_musiq_equals_pyiqas_where_pyiqa_is_installed(tmp_path):
    """With pyiqa (not in the lock): the scorer equals VBench's ``technical_quality`` loop written out with pyiqa's
    ``MUSIQ(pretrained_model_path=...)`` on the same weights file."""
    musiq_arch = pytest.importorskip("pyiqa.archs.musiq_arch")
    torch.manual_seed(0)
    path = _weights(tmp_path)
    torch.save(musiq_arch.MUSIQ(pretrained=False, num_class=1).state_dict(), path)
    scorer = VIDEO_SCORERS.build(dict(type="ImagingQuality", weights=str(path)))
    video = torch.randint(0, 256, (2, 48, 64, 3), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    model = musiq_arch.MUSIQ(pretrained_model_path=str(path))
    model.training = False
    images = _vbench_transform(torch.Tensor(video.numpy()).permute(0, 3, 1, 2))
    with torch.no_grad():
        expected = sum(float(model(images[i].unsqueeze(0))) for i in range(len(images))) / len(images) / 100.
    assert scorer(video) == pytest.approx(expected, abs=1e-6)
    assert scorer.describe()["label"] == "VBench (MUSIQ-SPAQ)"
