"""The video-memorization demo's tiny pixel-space text-to-video model: a few training steps write a folder that
load_text_to_video reads as pixel space, generate_videos samples it, resume returns the finished folder."""
from __future__ import annotations

import json
import os

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from bench.datasets.moving_digits import MovingDigitsTrain  # noqa: E402
from bench.methods.bright_ending.toy import encode_captions  # noqa: E402
from bench.methods.vdm_memorization.toy import (  # noqa: E402
    build_caption_encoder, build_video_unet, caption_context, for_training, train_toy_text_to_video)
from bench.methods.vdm_memorization.video_sampling import (  # noqa: E402
    VideoSamplingSettings, decode_videos, generate_videos, load_text_to_video)

TINY = {"num_content": 1, "num_motion": 1, "copies": 2, "num_ordinary": 4, "frames": 4, "canvas": 12}
TRAIN = {"steps": 3, "batch_size": 4, "lr": 3e-3, "seed": 0, "show_progress": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = MovingDigitsTrain(**TINY)
    return train, train_toy_text_to_video(train, tmp_path_factory.mktemp("toy") / "model", **TRAIN)


@pytest.fixture(scope="module")
def model(trained):
    return load_text_to_video(trained[1])


def test_the_folder_is_a_pixel_space_text_to_video_pipeline(trained):
    train, folder = trained
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "TextToVideoSDPipeline" and "vae" not in index
    assert index["unet"] == ["diffusers", "UNet3DConditionModel"]
    record = json.loads((folder / "toy.json").read_text())
    assert len(record["losses"]) == 3 and all(0 < loss < 10 for loss in record["losses"])
    assert (record["num_clips"], record["frames"], record["size"]) == (len(train), 4, 12)
    assert record["num_captions"] == len(set(train.captions)) == 6  # one clip, one motion, four ordinary classes
    assert record["train_set"]["counts"] == {"ordinary": 4, "content": 2, "motion": 2}


def test_the_loader_reads_it_as_pixel_space(model):
    assert model.vae is None and model.latent_scale == 1
    assert model.facts["format"] == "diffusers_pixel_space" and model.facts["unet_class"] == "UNet3DConditionModel"
    assert model.facts["scheduler_class"] == "DDIMScheduler" and model.scheduler.config.clip_sample is True
    assert model.scheduler.config.beta_schedule == "scaled_linear"
    assert model.facts["defaults"] == {"num_frames": 16, "height": 12, "width": 12, "fps": 8.0,
                                       "guidance_scale": 9.0}
    assert set(model.facts["sha256"]) >= {"model_index.json", "unet/diffusion_pytorch_model.safetensors"}


def test_generate_videos_returns_the_samples_as_uint8(model, trained):
    captions = sorted(set(trained[0].captions))[:2]
    with torch.no_grad():
        cond = encode_captions(model.tokenizer, model.text_encoder, captions)
        uncond = encode_captions(model.tokenizer, model.text_encoder, [""])
    settings = VideoSamplingSettings(num_inference_steps=2, guidance_scale=3.0, num_frames=4)
    out = generate_videos(model, cond, uncond, seeds=[0, 1], n=2, settings=settings)
    assert out.frames.dtype == torch.uint8 and out.frames.shape == (4, 4, 12, 12, 3)
    assert out.latents.shape == (4, 1, 4, 12, 12) and out.content_magnitude.shape == (4, 2)
    expected = ((out.latents / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)  # (4, 1, F, H, W)
    assert torch.equal(out.frames[..., 0], expected[:, 0])
    alone = generate_videos(model, cond[1:], uncond, seeds=[1], n=2, settings=settings)
    torch.testing.assert_close(alone.latents, out.latents[2:], rtol=1e-5, atol=1e-5)


def test_pixel_space_decode_repeats_the_channel(model):
    latents = torch.tensor([-1.0, 0.0, 1.0, 3.0]).view(1, 1, 2, 1, 2)  # (B, C, F, h, w)
    frames = decode_videos(model, latents)
    assert frames.shape == (1, 2, 1, 2, 3)
    assert frames[0, :, 0, :, 0].tolist() == [[0, 128], [255, 255]]  # round(0.5 * 255) = 128; clamped above 1
    assert torch.equal(frames[..., 0], frames[..., 1]) and torch.equal(frames[..., 0], frames[..., 2])


def test_resume_returns_the_finished_folder_and_refuses_other_settings(trained):
    train, folder = trained
    stamp = os.stat(folder / "toy.json").st_mtime_ns
    assert train_toy_text_to_video(train, folder, **TRAIN) == folder
    assert os.stat(folder / "toy.json").st_mtime_ns == stamp  # not retrained
    with pytest.raises(ValueError, match=r"toy\.json: a finished toy model trained with other settings.*'steps': "
                                         r"\(3, 4\)"):
        train_toy_text_to_video(train, folder, **{**TRAIN, "steps": 4})


def test_bad_clips_and_settings_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match=r"video must be \(frames >= 2, 1, size, size\).*got \(1, 4, 4\)"):
        train_toy_text_to_video([{"video": torch.zeros(1, 4, 4), "caption": "a"}], tmp_path / "m", **TRAIN)
    with pytest.raises(ValueError, match="need steps > 0"):
        train_toy_text_to_video(MovingDigitsTrain(**TINY), tmp_path / "m", **{**TRAIN, "steps": 0})
    assert not (tmp_path / "m").exists()


def test_the_text_encoder_stays_at_its_initialisation_by_default(trained, tmp_path):
    """text_encoder_lr=0 (the default) freezes the encoder: its saved weights equal a fresh one built from the same
    seed; a positive rate trains it (the weights move)."""
    from transformers import CLIPTextModel

    from bench.methods.bright_ending.toy import write_caption_tokenizer

    train, folder = trained
    captions = sorted(set(train.captions))
    torch.manual_seed(TRAIN["seed"])
    fresh = build_caption_encoder(write_caption_tokenizer(captions, tmp_path / "tok", caption_context(captions)))
    saved = CLIPTextModel.from_pretrained(folder / "text_encoder")
    for name, value in fresh.state_dict().items():
        assert torch.equal(saved.state_dict()[name], value), name
    moved = train_toy_text_to_video(train, tmp_path / "trained_encoder", **{**TRAIN, "text_encoder_lr": 3e-3})
    moved_encoder = CLIPTextModel.from_pretrained(moved / "text_encoder")
    weight = next(name for name in fresh.state_dict() if name.endswith("token_embedding.weight"))
    assert not torch.equal(moved_encoder.state_dict()[weight], fresh.state_dict()[weight])
    assert json.loads((moved / "toy.json").read_text())["text_encoder_lr"] == 3e-3


def test_the_caption_encoder_tells_captions_apart(tmp_path):
    """Context = the longest caption (+ BOS, EOS), no layers, token embeddings of std 1: the captions' states are
    far less alike than with CLIP's initialisation over the 16-token context (mostly shared padding)."""
    from bench.methods.bright_ending.toy import build_text_encoder, write_caption_tokenizer

    captions = sorted(set(MovingDigitsTrain(**TINY).captions))
    assert caption_context(captions) == 5 and caption_context(["a", "b c d e"]) == 6

    def mean_cosine(tokenizer, encoder):
        with torch.no_grad():
            states = encode_captions(tokenizer, encoder, captions).flatten(1)
        states = states / states.norm(dim=1, keepdim=True)
        cosine = states @ states.T
        return float(cosine[~torch.eye(len(captions), dtype=torch.bool)].mean())

    torch.manual_seed(0)
    tokenizer = write_caption_tokenizer(captions, tmp_path / "short", caption_context(captions))
    encoder = build_caption_encoder(tokenizer)
    assert encoder.config.num_hidden_layers == 0 and tokenizer.model_max_length == 5
    assert encoder.get_input_embeddings().weight.std().item() == pytest.approx(1.0, abs=0.1)
    torch.manual_seed(0)
    clip_tokenizer = write_caption_tokenizer(captions, tmp_path / "clip")
    blurred = mean_cosine(clip_tokenizer, build_text_encoder(clip_tokenizer))
    separated = mean_cosine(tokenizer, encoder)
    assert separated < 0.65 and blurred > 0.75, (separated, blurred)  # measured 0.54 and 0.82


def test_the_unet_trains_without_dropout_and_with_plain_attention(trained):
    from diffusers.models.attention_processor import AttnProcessor

    unet = build_video_unet(12, 32)
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in unet.modules())  # diffusers' temporal convs
    assert for_training(unet) is unet
    assert all(m.p == 0 for m in unet.modules() if isinstance(m, torch.nn.Dropout))
    assert all(isinstance(p, AttnProcessor) for p in unet.attn_processors.values())
    assert list(unet.config.block_out_channels) == [8, 16, 16]
    record = json.loads((trained[1] / "toy.json").read_text())
    assert record["text_encoder"] == {"layers": 0, "token_embedding_std": 1.0, "model_max_length": 5}
    with pytest.raises(ValueError, match=r"size divisible by 2\*\*\(levels - 1\) = 4, got size=14"):
        build_video_unet(14, 32)
