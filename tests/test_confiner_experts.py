"""ConFiner's experts by kind on tiny random folders in the official layouts: each kind's own sampling equals the
diffusers pipeline it stands for from the same latents (AnimateDiff-Lightning's Euler trailing at CFG 1 from the
single-file adapter, SD 1.5 and ModelScope with DDIM + CFG), the pixel kinds' ε equals the UNet's (the prompt
ignored by an unconditional model, the CFG formula for a conditional one), the chain's Expert view (ᾱ, layout,
CFG counting), the codec against diffusers' decode, and the loaders' errors."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from confiner_fixture import (write_latent_experts, write_pixel_image_conditional,  # noqa: E402
                              write_pixel_image_ddpm, write_pixel_video)

from bench.methods.confiner.experts import (ExpertSpec, MotionAdapterLayoutError, PixelImageLayoutError,  # noqa: E402
                                            load_expert)
from bench.methods.confiner.schedules import NFEMeter  # noqa: E402
from bench.methods.diffusion.stable_diffusion import PipelineLayoutError  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("experts")
    specs = write_latent_experts(root)
    specs["pixel_ddpm"] = dict(kind="pixel_image", model=str(write_pixel_image_ddpm(root)))
    specs["pixel_image"] = dict(kind="pixel_image", model=str(write_pixel_image_conditional(root)))
    specs["pixel_video"] = dict(kind="pixel_video", model=str(write_pixel_video(root)))
    return specs


@pytest.fixture(scope="module")
def experts(folders):
    return {name: load_expert(spec, role=name) for name, spec in folders.items()}


def _noise(expert, batch=1, frames=2, seed=0):
    h, w = expert.native_size
    return torch.randn((batch, expert.latent_channels, frames, h, w), generator=torch.Generator().manual_seed(seed))


def test_kinds_layouts_schedulers_and_facts(experts):
    control, spatial, temporal = experts["control"], experts["spatial"], experts["temporal"]
    assert (control.layout, spatial.layout, temporal.layout) == ("video", "frames", "video")
    assert type(control.unet).__name__ == "UNetMotionModel" and type(temporal.unet).__name__ == "UNet3DConditionModel"
    # AnimateDiff-Lightning's model card: Euler, trailing spacing, linear betas, guidance 1 (no CFG batch)
    config = control.scheduler.config
    assert type(control.scheduler).__name__ == "EulerDiscreteScheduler"
    assert (config.timestep_spacing, config.beta_schedule) == ("trailing", "linear")
    assert (control.guidance_scale, control.guided) == (1.0, False)
    assert type(spatial.scheduler).__name__ == type(temporal.scheduler).__name__ == "DDIMScheduler"
    assert (spatial.guidance_scale, temporal.guidance_scale) == (7.5, 9.0) and spatial.guided and temporal.guided
    assert control.native_size == spatial.native_size == temporal.native_size == (8, 8)
    assert control.facts["motion_adapter_format"] == "single_file"
    assert len(control.facts["motion_adapter_sha256"]) == 64
    assert experts["animatediff_folder"].facts["motion_adapter_format"] == "diffusers_folder"
    assert {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"} <= \
        set(spatial.facts["sha256"])
    assert spatial.facts["folder_scheduler_class"] == "DDIMScheduler" and spatial.facts["pixels_per_latent"] == 2
    ddpm, image, video = experts["pixel_ddpm"], experts["pixel_image"], experts["pixel_video"]
    assert (ddpm.layout, image.layout, video.layout) == ("frames", "frames", "video")
    assert not ddpm.conditional and ddpm.guidance_scale == 1.0 and not ddpm.guided
    assert image.guided and video.guided and ddpm.latent_channels == image.latent_channels == 1
    assert ddpm.facts["unet_class"] == "UNet2DModel" and ddpm.facts["pixels_per_latent"] == 1
    assert video.facts["format"] == "diffusers_pixel_space" and video.vae is None


def test_control_sampling_equals_animatediff_lightning_pipeline(folders, experts):
    from diffusers import AnimateDiffPipeline, EulerDiscreteScheduler, MotionAdapter

    control = experts["control"]
    noise = _noise(control, frames=3, seed=2)
    meter = NFEMeter()
    ours = control.sample(noise, control.encode(["a cat"]), 2, meter)
    pipe = AnimateDiffPipeline.from_pretrained(folders["control"]["model"], local_files_only=True,
                                               motion_adapter=MotionAdapter.from_pretrained(
                                                   folders["animatediff_folder"]["motion_adapter"]),
                                               feature_extractor=None, image_encoder=None)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing",
                                                        beta_schedule="linear")  # the model card's lines
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe("a cat", num_frames=3, num_inference_steps=2, guidance_scale=1.0, latents=noise.clone(),
                  output_type="latent").frames
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4)
    assert meter.evals == {"control": 2} and meter.calls == {"control": 2}  # CFG 1: one UNet evaluation per step


def test_spatial_sampling_equals_stable_diffusion_pipeline(folders, experts):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    spatial = experts["spatial"]
    noise = _noise(spatial, batch=2, frames=2, seed=3)
    meter = NFEMeter()
    ours = spatial.sample(noise, spatial.encode(["a cat", "dog"]), 3, meter, "spatial")
    pipe = StableDiffusionPipeline.from_pretrained(folders["spatial"]["model"], local_files_only=True,
                                                   safety_checker=None, feature_extractor=None,
                                                   requires_safety_checker=False)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    # frames as a batch of images, video by video (frame index fastest): each frame is one SD image of its prompt
    frames = noise.permute(0, 2, 1, 3, 4).reshape(4, 4, 8, 8)
    theirs = pipe(["a cat", "a cat", "dog", "dog"], num_inference_steps=3, guidance_scale=7.5, latents=frames,
                  output_type="latent").images
    assert torch.allclose(ours.permute(0, 2, 1, 3, 4).reshape(4, 4, 8, 8), theirs, atol=1e-4, rtol=1e-4)
    assert meter.evals == {"spatial": 6} and meter.calls == {"spatial": 3}  # CFG doubles each call


def test_temporal_sampling_equals_text_to_video_pipeline(folders, experts):
    from diffusers import TextToVideoSDPipeline

    temporal = experts["temporal"]
    noise = _noise(temporal, frames=3, seed=4)
    ours = temporal.sample(noise, temporal.encode(["a cat"]), 3, name="temporal")
    pipe = TextToVideoSDPipeline.from_pretrained(folders["temporal"]["model"], local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(["a cat"], num_frames=3, num_inference_steps=3, guidance_scale=9.0, latents=noise.clone(),
                  output_type="latent").frames
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4)


def test_pixel_kinds_eps_and_the_chains_expert_view(experts):
    ddpm, image, video = experts["pixel_ddpm"], experts["pixel_image"], experts["pixel_video"]
    x = _noise(ddpm, batch=2, frames=2, seed=5)
    frames = x.permute(0, 2, 1, 3, 4).reshape(4, 1, 8, 8)
    t = 500
    with torch.no_grad():  # unconditional: the UNet alone, whatever the prompt
        direct = ddpm.unet(frames, t).sample
    view = ddpm.expert("spatial", ddpm.encode(["a cat", "anything"]))
    meter = NFEMeter()
    eps = view.predict(x, t, meter)
    assert torch.allclose(eps.permute(0, 2, 1, 3, 4).reshape(4, 1, 8, 8), direct, atol=1e-6)
    assert meter.evals == {"spatial": 1}
    assert torch.equal(view.alphas_cumprod, ddpm.scheduler.alphas_cumprod.double())
    assert view.final_alpha_cumprod == float(ddpm.scheduler.final_alpha_cumprod)
    text = image.encode(["a cat", "a digit moving right"])  # conditional image: CFG on each frame with its prompt
    with torch.no_grad():
        states_c, states_u = text.cond.repeat_interleave(2, 0), text.uncond.expand(4, -1, -1)
        eps_c, eps_u = image.unet(frames, t, states_c).sample, image.unet(frames, t, states_u).sample
    got = image.expert("spatial", text).predict(x, t, meter)
    assert torch.allclose(got.permute(0, 2, 1, 3, 4).reshape(4, 1, 8, 8), eps_u + 7.5 * (eps_c - eps_u), atol=1e-5)
    assert meter.evals == {"spatial": 3}  # + 2: one CFG call
    text = video.encode(["a cat", "a digit moving right"])  # pixel video: 5-D, states per video
    with torch.no_grad():
        eps_c = video.unet(x, t, text.cond).sample
        eps_u = video.unet(x, t, text.uncond.expand(2, -1, -1)).sample
    got = video.expert("temporal", text).predict(x, t)
    assert torch.allclose(got, eps_u + 9.0 * (eps_c - eps_u), atol=1e-5)
    assert not torch.allclose(eps_c, eps_u)  # the text reaches the UNet


def test_codecs(experts):
    from diffusers.image_processor import VaeImageProcessor

    spatial = experts["spatial"]
    latents = _noise(spatial, batch=1, frames=3, seed=6)
    codec = spatial.codec(chunk_size=2)
    frames = codec.decode(latents)
    assert frames.shape == (1, 3, 16, 16, 3) and frames.dtype == torch.uint8 and codec.scale == 2
    with torch.no_grad():  # diffusers' decode: latents / scaling_factor through the VAE, then [-1, 1] -> [0, 1]
        decoded = spatial.vae.decode(latents[0].permute(1, 0, 2, 3) / spatial.vae.config.scaling_factor).sample
    expected = VaeImageProcessor().postprocess(decoded, output_type="pt")
    expected = (expected * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    assert (frames[0].int() - expected.int()).abs().max() <= 1
    pixel = experts["pixel_video"].codec()
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 4, 1, 1)  # [-1, 1] → [0, 255], clamped, one channel to 3
    assert pixel.decode(x)[0, :, 0, 0].tolist() == [[0] * 3, [128] * 3, [255] * 3, [255] * 3]


def test_spec_and_folder_errors(folders, tmp_path):
    with pytest.raises(ValueError, match=r"experts.spatial: needs 'kind' and 'model' .* \(unknown: \['modle'\]\)"):
        ExpertSpec.from_config({"kind": "stable_diffusion", "modle": "x"}, "spatial")
    with pytest.raises(ValueError, match="expert kind must be one of"):
        ExpertSpec(kind="lavie", model="x")
    with pytest.raises(ValueError, match="motion_adapter is needed by kind 'animatediff' and only by it"):
        ExpertSpec(kind="animatediff", model="x")
    with pytest.raises(PipelineLayoutError, match="folder not found") as error:
        load_expert({"kind": "stable_diffusion", "model": str(tmp_path / "nowhere")})
    assert f"path: {tmp_path / 'nowhere'}" in str(error.value) and "stable-diffusion-v1-5" in str(error.value)
    with pytest.raises(ValueError, match="use kind 'pixel_image' for it"):
        load_expert({"kind": "stable_diffusion", "model": folders["pixel_image"]["model"]})
    with pytest.raises(ValueError, match="use kind text_to_video for it, not 'pixel_video'"):
        load_expert({"kind": "pixel_video", "model": folders["temporal"]["model"]})
    with pytest.raises(ValueError, match="use kind pixel_video for it, not 'text_to_video'"):
        load_expert({"kind": "text_to_video", "model": folders["pixel_video"]["model"]})
    broken = tmp_path / "pixel"
    shutil.copytree(folders["pixel_image"]["model"], broken)
    shutil.rmtree(broken / "scheduler")
    with pytest.raises(PixelImageLayoutError, match="no scheduler/scheduler_config.json") as error:
        load_expert({"kind": "pixel_image", "model": str(broken)})
    assert f"path: {broken / 'scheduler' / 'scheduler_config.json'}" in str(error.value)
    assert "DDPMPipeline(unet, scheduler).save_pretrained" in str(error.value)
    shutil.copytree(folders["pixel_image"]["model"] + "/scheduler", broken / "scheduler")
    shutil.rmtree(broken / "tokenizer")
    with pytest.raises(PixelImageLayoutError, match=r"a UNet2DConditionModel needs tokenizer/"):
        load_expert({"kind": "pixel_image", "model": str(broken)})
    config = json.loads((broken / "unet" / "config.json").read_text())
    (broken / "unet" / "config.json").write_text(json.dumps({**config, "_class_name": "UNet3DConditionModel"}))
    with pytest.raises(ValueError, match="describes a 'UNet3DConditionModel': kind 'pixel_image' reads a UNet2DModel"):
        load_expert({"kind": "pixel_image", "model": str(broken)})
    lightning = dict(folders["control"])
    with pytest.raises(MotionAdapterLayoutError, match="motion adapter not found") as error:
        load_expert({**lightning, "motion_adapter": str(tmp_path / "animatediff_lightning_8step.safetensors")})
    assert "ByteDance/AnimateDiff-Lightning" in str(error.value)
    with pytest.raises(MotionAdapterLayoutError, match=r"the file does not fit MotionAdapter\(\{'block_out_channels'"):
        load_expert({**lightning, "motion_adapter_config": {**lightning["motion_adapter_config"],
                                                            "block_out_channels": (16, 32)}})
