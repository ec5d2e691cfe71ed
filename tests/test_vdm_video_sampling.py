"""The video-memorization sampling loop on tiny TextToVideoSD and AnimateDiff folders: frames equal diffusers'
pipelines from the same latents, the tracks equal the direct formulas at a step, a prompt's videos do not depend on
the batch, the motion magnitude on hand cases, and the loader's errors."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from sd_fixture import write_tiny_stable_diffusion  # noqa: E402
from video_fixture import write_tiny_motion_adapter, write_tiny_text_to_video  # noqa: E402

from bench.methods.bright_ending.sampling import encode_prompts  # noqa: E402
from bench.methods.vdm_memorization.video_sampling import (  # noqa: E402
    ANIMATEDIFF_SCHEDULER_OVERRIDES, AnimateDiffLayoutError, TextToVideoLayoutError, VideoSamplingSettings,
    decode_videos, generate_videos, load_text_to_video, motion_magnitude)

SETTINGS = VideoSamplingSettings(num_inference_steps=3, num_frames=3)


@pytest.fixture(scope="module")
def t2v_folder(tmp_path_factory):
    return write_tiny_text_to_video(tmp_path_factory.mktemp("t2v"))


@pytest.fixture(scope="module")
def animatediff_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("animatediff")
    return write_tiny_stable_diffusion(root, cross_attention_first=True), write_tiny_motion_adapter(root)


@pytest.fixture(scope="module")
def t2v(t2v_folder):
    return load_text_to_video(t2v_folder)


def _embeds(model, prompts=("a cat",)):
    return encode_prompts(model, list(prompts)), encode_prompts(model, [""])


def _expected_uint8(frames: torch.Tensor) -> torch.Tensor:
    """diffusers' "pt" video output (B, F, C, H, W) in [0, 1] as uint8 (B, F, H, W, 3)."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2)


def test_frames_equal_the_text_to_video_pipeline_from_the_same_latents(t2v_folder, t2v):
    from diffusers import TextToVideoSDPipeline

    cond, uncond = _embeds(t2v)
    ours = generate_videos(t2v, cond, uncond, seeds=[5], n=2, settings=SETTINGS)
    pipe = TextToVideoSDPipeline.from_pretrained(str(t2v_folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn((2, 4, 3, 8, 8), generator=torch.Generator().manual_seed(5))  # the documented draw
    final = pipe(["a cat"] * 2, num_frames=3, num_inference_steps=3, guidance_scale=9.0, latents=latents,
                 output_type="latent").frames
    theirs = pipe.video_processor.postprocess_video(pipe.decode_latents(final), output_type="pt")  # __call__'s tail
    assert torch.allclose(ours.latents, final, atol=1e-5)
    assert ours.frames.shape == (2, 3, 16, 16, 3) and ours.frames.dtype == torch.uint8
    assert ours.content_magnitude.shape == ours.motion_magnitude.shape == (2, 3)
    assert ours.video == {"num_frames": 3, "height": 16, "width": 16, "fps": 8.0, "guidance_scale": 9.0,
                          "num_inference_steps": 3, "eta": 0.0}
    # the same float32 arithmetic in the same order: at most one rounding step apart
    assert (ours.frames.int() - _expected_uint8(theirs).int()).abs().max() <= 1
    assert int(ours.frames.max()) - int(ours.frames.min()) > 50  # not a flat image


def test_frames_equal_the_animatediff_pipeline_from_the_same_latents(animatediff_folders):
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

    sd, adapter = animatediff_folders
    model = load_text_to_video(sd, motion_adapter=adapter)
    assert type(model.unet).__name__ == "UNetMotionModel" and model.facts["class_name"] == "AnimateDiffPipeline"
    assert set(model.facts["motion_adapter_sha256"]) == {"config.json", "diffusion_pytorch_model.safetensors"}
    cond, uncond = _embeds(model)
    ours = generate_videos(model, cond, uncond, seeds=[2], n=1, settings=SETTINGS)
    pipe = AnimateDiffPipeline.from_pretrained(str(sd), motion_adapter=MotionAdapter.from_pretrained(str(adapter)),
                                               local_files_only=True, feature_extractor=None, image_encoder=None)
    pipe.scheduler = DDIMScheduler.from_config({**dict(pipe.scheduler.config), **ANIMATEDIFF_SCHEDULER_OVERRIDES})
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn((1, 4, 3, 8, 8), generator=torch.Generator().manual_seed(2))
    final = pipe("a cat", num_frames=3, num_inference_steps=3, guidance_scale=7.5, latents=latents,
                 output_type="latent").frames
    theirs = pipe.video_processor.postprocess_video(pipe.decode_latents(final), output_type="pt")
    assert torch.allclose(ours.latents, final, atol=1e-5)
    assert ours.video["guidance_scale"] == 7.5 and ours.frames.shape == (1, 3, 16, 16, 3)
    assert (ours.frames.int() - _expected_uint8(theirs).int()).abs().max() <= 1


def test_first_step_magnitudes_equal_the_direct_formulas(t2v):
    cond, uncond = _embeds(t2v)
    gen = generate_videos(t2v, cond, uncond, seeds=[1], n=2, settings=SETTINGS)
    one_by_one = decode_videos(t2v, gen.latents, chunk_size=1)  # frames decode independently: chunks change memory
    assert (one_by_one.int() - gen.frames.int()).abs().max() <= 1
    scheduler = t2v.scheduler
    scheduler.set_timesteps(3)
    t = scheduler.timesteps[0]
    latents = torch.randn((2, 4, 3, 8, 8), generator=torch.Generator().manual_seed(1)) * scheduler.init_noise_sigma
    with torch.no_grad():
        eps_c = t2v.unet(latents, t, encoder_hidden_states=cond.expand(2, -1, -1)).sample
        eps_u = t2v.unet(latents, t, encoder_hidden_states=uncond.expand(2, -1, -1)).sample
    d = (eps_c - eps_u).double()
    content = d.pow(2).sum(dim=(1, 2, 3, 4)).sqrt()
    motion = sum((d[:, :, f + 1] - d[:, :, f]).pow(2).sum(dim=(1, 2, 3)) for f in range(2)).sqrt()
    assert torch.allclose(gen.content_magnitude[:, 0].double(), content, rtol=1e-4)
    assert torch.allclose(gen.motion_magnitude[:, 0].double(), motion, rtol=1e-4)
    assert torch.allclose(gen.uncond_noise_norm[:, 0].double(), eps_u.double().flatten(1).norm(dim=1), rtol=1e-4)
    assert bool((content > 0).all()) and bool((motion > 0).all())


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_a_prompts_videos_do_not_depend_on_the_batch(t2v, eta):
    settings = VideoSamplingSettings(num_inference_steps=3, num_frames=3, eta=eta)
    cond, uncond = _embeds(t2v, ["a cat"])
    alone = generate_videos(t2v, cond, uncond, seeds=[3], n=2, settings=settings)
    cond2, _ = _embeds(t2v, ["dog", "a cat"])
    both = generate_videos(t2v, cond2, uncond, seeds=[7, 3], n=2, settings=settings)
    assert both.frames.shape == (4, 3, 16, 16, 3)
    assert (both.frames[2:].int() - alone.frames.int()).abs().max() <= 1
    assert torch.allclose(both.content_magnitude[2:], alone.content_magnitude, rtol=1e-4)
    assert torch.allclose(both.motion_magnitude[2:], alone.motion_magnitude, rtol=1e-4)
    assert not torch.equal(both.frames[0], both.frames[2])  # another seed and prompt: other videos


def test_motion_magnitude_hand_cases():
    constant = torch.randn(2, 4, 1, 3, 3).expand(-1, -1, 5, -1, -1)
    assert motion_magnitude(constant).tolist() == [0.0, 0.0]
    ramp = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 4, 5, 3, 3)  # each frame step adds 1 everywhere
    assert motion_magnitude(ramp).item() == pytest.approx((4 * 4 * 3 * 3) ** 0.5)  # (F-1)·C·h·w ones
    with pytest.raises(ValueError, match=r"F >= 2 frames, got \(2, 4, 1, 3, 3\)"):
        motion_magnitude(torch.zeros(2, 4, 1, 3, 3))


def test_settings_and_facts(t2v):
    with pytest.raises(ValueError, match="num_frames must be at least 2"):
        VideoSamplingSettings(num_frames=1)
    with pytest.raises(ValueError, match="num_inference_steps must be a positive int"):
        VideoSamplingSettings(num_inference_steps=0)
    facts = t2v.facts
    assert facts["class_name"] == "TextToVideoSDPipeline" and facts["unet_class"] == "UNet3DConditionModel"
    assert facts["defaults"] == {"num_frames": 16, "height": 16, "width": 16, "fps": 8.0, "guidance_scale": 9.0}
    assert {"model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors"} <= set(facts["sha256"])
    assert all(len(h) == 64 for h in facts["sha256"].values())
    assert "re-implementation" in facts["label"]
    cond, uncond = _embeds(t2v)
    with pytest.raises(ValueError, match="multiples of the VAE factor 2"):
        generate_videos(t2v, cond, uncond, [0], 1, VideoSamplingSettings(num_frames=2, height=15))
    with pytest.raises(ValueError, match=r"one conditional embedding per seed \(2 seeds, got 1\)"):
        generate_videos(t2v, cond, uncond, [0, 1], 1, SETTINGS)


def test_text_to_video_loader_errors(t2v_folder, tmp_path):
    with pytest.raises(TextToVideoLayoutError) as error:
        load_text_to_video(tmp_path / "nowhere")
    message = str(error.value)
    assert f"path: {tmp_path / 'nowhere'}" in message and "folder not found" in message
    assert "damo-vilab/text-to-video-ms-1.7b" in message and "UNet3DConditionModel" in message
    assert isinstance(error.value, FileNotFoundError)
    broken = tmp_path / "t2v"
    shutil.copytree(t2v_folder, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(TextToVideoLayoutError, match="unet: no weights file") as error:
        load_text_to_video(broken)
    assert f"path: {broken / 'unet' / 'diffusion_pytorch_model.safetensors'}" in str(error.value)
    index = json.loads((broken / "model_index.json").read_text(encoding="utf-8"))
    (broken / "model_index.json").write_text(json.dumps({**index, "_class_name": "AnimateDiffPipeline"}))
    with pytest.raises(ValueError, match="describes a 'AnimateDiffPipeline', not a TextToVideoSDPipeline"):
        load_text_to_video(broken)


def test_animatediff_loader_errors(animatediff_folders, tmp_path):
    sd, adapter = animatediff_folders
    with pytest.raises(ValueError, match="Stable Diffusion folder: for AnimateDiff also pass motion_adapter"):
        load_text_to_video(sd)
    with pytest.raises(AnimateDiffLayoutError) as error:
        load_text_to_video(sd, motion_adapter=tmp_path / "no_adapter")
    message = str(error.value)
    assert "motion adapter folder not found" in message and "guoyww/animatediff-motion-adapter-v1-5-2" in message
    assert f"path: {tmp_path / 'no_adapter'}" in message
    empty = tmp_path / "adapter"
    shutil.copytree(adapter, empty)
    (empty / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(AnimateDiffLayoutError, match="motion_adapter: no weights file"):
        load_text_to_video(sd, motion_adapter=empty)
    with pytest.raises(AnimateDiffLayoutError, match="folder not found"):
        load_text_to_video(tmp_path / "no_sd", motion_adapter=adapter)
