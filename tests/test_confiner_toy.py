"""The ConFiner demo's tiny experts (methods/confiner/toy.py): a few training steps give folders the adapter's pixel
kinds load with no demo-specific code, training is deterministic, and ConFinerToyExpert trains then samples its
expert alone through the adapter."""
from __future__ import annotations

import json

import pytest
import torch

from bench.datasets.moving_digits import MovingDigitsTrain
from bench.methods.confiner.experts import load_expert
from bench.methods.confiner.toy import (IMAGE_SCHEDULER, UNTRAINED, ClipFrames, ConFinerToyExpert,
                                        train_image_expert, train_video_expert)

FRAMES, CANVAS = 3, 12


@pytest.fixture(scope="module")
def clips():
    return MovingDigitsTrain(num_content=0, num_motion=0, num_ordinary=4, frames=FRAMES, canvas=CANVAS, seed=0,
                             kinds=["ordinary"])


@pytest.fixture(scope="module")
def video_folder(clips, tmp_path_factory):
    torch.manual_seed(0)
    return train_video_expert(clips, tmp_path_factory.mktemp("video") / "model", steps=2, batch_size=2,
                              block_out_channels=(8, 8))


@pytest.fixture(scope="module")
def image_folder(clips, tmp_path_factory):
    return train_image_expert(clips, tmp_path_factory.mktemp("image"), epochs=1, batch_size=8,
                              block_out_channels=(8, 8))


def test_clip_frames_are_every_frame_of_every_clip(clips):
    frames = ClipFrames(clips)
    assert len(frames) == len(clips) * FRAMES
    for k in (0, 4, len(frames) - 1):  # item k is frame k % F of clip k // F
        assert torch.equal(frames[k]["image"], clips[k // FRAMES]["video"][k % FRAMES])
    assert frames[0]["image"].shape == (1, CANVAS, CANVAS)


def test_video_expert_loads_as_pixel_video(video_folder):
    expert = load_expert(dict(kind="pixel_video", model=str(video_folder), guidance_scale=1.0), role="temporal")
    assert expert.conditional and not expert.guided and expert.latent_channels == 1
    assert expert.native_size == (CANVAS, CANVAS) and expert.codec().scale == 1
    record = json.loads((video_folder / "toy.json").read_text())
    assert record["steps"] == 2 and record["frames"] == FRAMES and record["num_clips"] == 4
    text = expert.encode(["digit one moving", "digit two moving"])
    view = expert.expert("temporal", text)
    x = torch.randn(2, 1, FRAMES, CANVAS, CANVAS, generator=torch.Generator().manual_seed(0))
    assert view.eps(x, 500).shape == (2, 1, FRAMES, CANVAS, CANVAS)  # video layout [B, C, F, h, w]


def test_image_expert_loads_as_pixel_image(image_folder):
    expert = load_expert(dict(kind="pixel_image", model=str(image_folder)), role="spatial")
    assert not expert.conditional and not expert.guided and expert.layout == "frames"
    assert expert.native_size == (CANVAS, CANVAS)
    # its own schedule (linear betas), not the video toys' scaled_linear one
    beta = torch.linspace(IMAGE_SCHEDULER["beta_start"], IMAGE_SCHEDULER["beta_end"], 1000, dtype=torch.float64)
    assert torch.allclose(expert.scheduler.alphas_cumprod.double(), torch.cumprod(1 - beta, 0), atol=1e-6)
    record = json.loads((image_folder / "toy.json").read_text())
    assert record["num_frames"] == 4 * FRAMES and record["kind"] == "pixel_image"


def test_training_is_deterministic(clips, video_folder, image_folder, tmp_path):
    torch.manual_seed(123)  # the global RNG must not matter: both trainers seed their own
    again = train_video_expert(clips, tmp_path / "video", steps=2, batch_size=2, block_out_channels=(8, 8))
    image = train_image_expert(clips, tmp_path / "image", epochs=1, batch_size=8, block_out_channels=(8, 8))
    for first, second in ((video_folder, again), (image_folder, image)):
        a = (first / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
        assert a == (second / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()


def test_a_finished_video_expert_is_reused_and_other_settings_refused(clips, video_folder):
    stamp = (video_folder / "toy.json").stat().st_mtime_ns
    assert train_video_expert(clips, video_folder, steps=2, batch_size=2, block_out_channels=(8, 8)) == video_folder
    assert (video_folder / "toy.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        train_video_expert(clips, video_folder, steps=3, batch_size=2, block_out_channels=(8, 8))


@pytest.mark.parametrize("role", ["temporal", "spatial"])
def test_toy_expert_trains_then_samples_alone(role, clips, tmp_path):
    method = ConFinerToyExpert(single=role, steps=3, frames=FRAMES, block_out_channels=(8, 8),
                               **({"expert": {"guidance_scale": 1.0}} if role != "spatial" else {}))
    assert method.specs[role].model == UNTRAINED
    train = dict(steps=2, batch_size=2) if role == "temporal" else dict(epochs=1, batch_size=8)
    folder = method.fit(clips, None, tmp_path, torch.device("cpu"), seed=0, **train)
    method.use_checkpoint(folder)
    method.setup(torch.device("cpu"))
    out = method.predict({"prompt": ["digit one moving", "digit two moving"]}, torch.tensor([5, 6]))
    assert out["video"].shape == (2, FRAMES, CANVAS, CANVAS, 3) and out["video"].dtype == torch.uint8
    assert out["nfe"].tolist() == [3, 3]  # the expert alone: one UNet evaluation per step, no CFG batch
    facts = method.provenance()
    assert facts["toy"]["kind"] == ("pixel_video" if role == "temporal" else "pixel_image")
    assert facts["experts"][role]["folder"] == str(folder)


def test_toy_expert_arguments():
    with pytest.raises(ValueError, match="single must be one of"):
        ConFinerToyExpert(single="decoder", steps=3)
    with pytest.raises(ValueError, match="kind and model"):
        ConFinerToyExpert(single="control", steps=3, expert={"model": "x"})
    # the role decides what is trained: it stays in the train folder's key; sampling settings do not
    from bench.results import training_view

    view = training_view({"type": "ConFinerToyExpert", "single": "control", "steps": 4, "frames": 4,
                          "expert": {"guidance_scale": 1.0}})
    assert view == {"type": "ConFinerToyExpert", "single": "control"}


def test_frames_as_channels_expert_loads_as_pixel_video(clips, tmp_path):
    """The demo's configs train the video experts with the toy's frames-as-channels UNet: the same kind loads it."""
    folder = train_video_expert(clips, tmp_path / "fac", steps=2, batch_size=2, architecture="frames_as_channels")
    assert json.loads((folder / "toy.json").read_text())["architecture"] == "frames_as_channels"
    expert = load_expert(dict(kind="pixel_video", model=str(folder), guidance_scale=1.0), role="control")
    assert expert.latent_channels == 1 and expert.native_size == (CANVAS, CANVAS) and not expert.guided
    x = torch.randn(2, 1, FRAMES, CANVAS, CANVAS, generator=torch.Generator().manual_seed(0))
    view = expert.expert("control", expert.encode(["digit one moving", "digit two moving"]))
    assert view.eps(x, 500).shape == x.shape
