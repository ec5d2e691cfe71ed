"""The frames-as-channels video UNet: it is the 2-D UNet on the stacked frames, trains and saves as the toy's
pixel-space folder, loads through load_text_to_video and samples through generate_videos like the UNet3D toy."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from bench.datasets.moving_digits import MovingDigitsTrain  # noqa: E402
from bench.methods.bright_ending.toy import ATTENTION_HEADS, encode_captions  # noqa: E402
from bench.methods.vdm_memorization.frames_as_channels import (  # noqa: E402
    FramesAsChannelsUNet, build_frames_as_channels_unet)
from bench.methods.vdm_memorization.toy import train_toy_text_to_video  # noqa: E402
from bench.methods.vdm_memorization.video_sampling import (  # noqa: E402
    VideoSamplingSettings, generate_videos, load_text_to_video)

TINY = {"num_content": 1, "num_motion": 1, "copies": 2, "num_ordinary": 4, "frames": 4, "canvas": 12}
TRAIN = {"steps": 3, "batch_size": 4, "lr": 3e-3, "seed": 0, "show_progress": False,
         "architecture": "frames_as_channels"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = MovingDigitsTrain(**TINY)
    return train, train_toy_text_to_video(train, tmp_path_factory.mktemp("fac") / "model", **TRAIN)


def test_the_wrapper_is_the_2d_unet_on_stacked_frames():
    torch.manual_seed(0)
    unet = build_frames_as_channels_unet(12, 4, 16, (16, 32, 32), ATTENTION_HEADS)
    wrapped = FramesAsChannelsUNet(unet)
    assert (wrapped.config.in_channels, wrapped.config.frames, wrapped.config.sample_size) == (1, 4, 12)
    video = torch.randn(3, 1, 4, 12, 12)
    states = torch.randn(3, 5, 16)
    t = torch.tensor([10, 500, 999])
    with torch.no_grad():
        direct = unet(video[:, 0], t, states).sample  # frame f is channel f
        out = wrapped(video, t, encoder_hidden_states=states).sample
        (tupled,) = wrapped(video, t, encoder_hidden_states=states, return_dict=False)
    assert out.shape == (3, 1, 4, 12, 12)
    assert torch.equal(out[:, 0], direct) and torch.equal(tupled, out)
    with pytest.raises(ValueError, match=r"samples must be \(batch, 1, 4, h, w\).*set num_frames=4.*got "
                                         r"\(3, 1, 5, 12, 12\)"):
        wrapped(torch.randn(3, 1, 5, 12, 12), t, encoder_hidden_states=states)
    with pytest.raises(ValueError, match=r"size divisible by 2\*\*\(levels - 1\) = 4.*size=14"):
        build_frames_as_channels_unet(14, 4, 16, (16, 32, 32), ATTENTION_HEADS)


def test_the_toy_saves_a_2d_unet_and_loads_as_a_video_unet(trained):
    train, folder = trained
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "TextToVideoSDPipeline" and "vae" not in index
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    assert (unet_config["in_channels"], unet_config["out_channels"]) == (4, 4)  # one channel per frame
    record = json.loads((folder / "toy.json").read_text())
    assert record["architecture"] == "frames_as_channels" and record["unet_block_out_channels"] == [16, 32, 32]
    assert len(record["losses"]) == 3 and all(0 < loss < 10 for loss in record["losses"])
    model = load_text_to_video(folder)
    assert isinstance(model.unet, FramesAsChannelsUNet) and model.vae is None
    assert model.facts["unet_class"] == "FramesAsChannelsUNet"
    assert model.facts["defaults"]["num_frames"] == 4  # the trained frame count, not diffusers' 16
    with pytest.raises(ValueError, match="a finished toy model trained with other settings.*'architecture'"):
        train_toy_text_to_video(train, folder, **{**TRAIN, "architecture": "unet3d"})


def test_videos_sample_per_prompt_independently_of_batching(trained):
    train, folder = trained
    model = load_text_to_video(folder)
    captions = sorted(set(train.captions))[:2]
    with torch.no_grad():
        cond = encode_captions(model.tokenizer, model.text_encoder, captions)
        uncond = encode_captions(model.tokenizer, model.text_encoder, [""])
    settings = VideoSamplingSettings(num_inference_steps=2, guidance_scale=3.0, num_frames=4)
    out = generate_videos(model, cond, uncond, seeds=[0, 1], n=2, settings=settings)
    assert out.frames.shape == (4, 4, 12, 12, 3) and out.content_magnitude.shape == (4, 2)
    alone = generate_videos(model, cond[1:], uncond, seeds=[1], n=2, settings=settings)
    torch.testing.assert_close(alone.latents, out.latents[2:], rtol=1e-5, atol=1e-5)


def test_an_unknown_architecture_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"architecture must be one of \('unet3d', 'frames_as_channels'\)"):
        train_toy_text_to_video(MovingDigitsTrain(**TINY), tmp_path / "m", **{**TRAIN, "architecture": "dit"})
