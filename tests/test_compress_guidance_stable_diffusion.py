"""Compress Guidance's Stable Diffusion loop on a tiny random pipeline folder: parity with diffusers' own
``StableDiffusionPipeline.__call__``, UNet batch sizes per step, batch independence and layout errors."""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from diffusers import PNDMScheduler, StableDiffusionPipeline  # noqa: E402
from sd_fixture import write_tiny_stable_diffusion  # noqa: E402

from bench.io import sha256_file  # noqa: E402
from bench.methods.compress_guidance.guidance import GuidanceCost  # noqa: E402
from bench.methods.compress_guidance.schedule import build_schedule  # noqa: E402
from bench.methods.compress_guidance.stable_diffusion import sample_stable_diffusion  # noqa: E402
from bench.methods.diffusion.stable_diffusion import PipelineLayoutError, load_stable_diffusion  # noqa: E402
from bench.seeding import sample_generator  # noqa: E402

PROMPTS = ["a cat", "a red dog", "blue sky at night"]
STEPS = 10
SCALE = 5.0
# Euler ancestral draws noise at every step: the per-sample generators must reach scheduler.step.
SCHEDULERS = pytest.mark.parametrize("scheduler", [None, "EulerAncestralDiscreteScheduler"], ids=["ddim", "euler_a"])


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """The models here are tiny: intra-op threads only add OpenMP overhead (seconds per forward on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture
def pipe(sd_folder: Path) -> StableDiffusionPipeline:
    return load_stable_diffusion(sd_folder)[0]


def _generators(seeds: list[int] | None = None) -> list[torch.Generator]:
    """One CPU generator per prompt (all prompts unless ``seeds`` picks some)."""
    return [sample_generator(1000 + s) for s in (range(len(PROMPTS)) if seeds is None else seeds)]


def _counts(cost: GuidanceCost) -> dict[str, int]:
    keys = ("steps", "model_forwards", "extra_forwards", "guided_steps", "forced_steps", "classifier_backwards")
    return {key: cost.as_dict()[key] for key in keys}


def _reference(pipe: StableDiffusionPipeline, guidance_scale: float) -> torch.Tensor:
    """diffusers' own sampler with the same generators, mapped back to [-1, 1]."""
    images = pipe(PROMPTS, num_inference_steps=STEPS, guidance_scale=guidance_scale, generator=_generators(),
                  output_type="pt").images
    return images * 2 - 1


def test_tokenizer_and_layout(sd_folder: Path) -> None:
    pipe, facts = load_stable_diffusion(sd_folder)
    ids = pipe.tokenizer(["a cat"]).input_ids[0]
    assert pipe.tokenizer.convert_ids_to_tokens(ids) == ["<|startoftext|>", "a</w>", "cat</w>", "<|endoftext|>"]
    assert facts["class_name"] == "StableDiffusionPipeline" and facts["scheduler_class"] == "DDIMScheduler"
    assert facts["sha256"]["unet/diffusion_pytorch_model.safetensors"] == sha256_file(
        sd_folder / "unet" / "diffusion_pytorch_model.safetensors")
    assert {"model_index.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"} \
        <= set(facts["sha256"])
    assert facts["scheduler_config"]["steps_offset"] == 1 and pipe.safety_checker is None


@SCHEDULERS
def test_full_schedule_matches_diffusers_pipeline(sd_folder: Path, scheduler: str | None) -> None:
    pipe = load_stable_diffusion(sd_folder, scheduler=scheduler)[0]
    ours, cost = sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "full"}, STEPS), SCALE, STEPS,
                                         _generators())
    reference = _reference(pipe, SCALE)
    assert ours.shape == (3, 3, 16, 16) and ours.dtype == torch.float32
    assert (ours.abs() < 1).float().mean() > 0.9  # the comparison is not decided by the clamp
    assert (ours - reference).abs().max() < 1e-6
    assert _counts(cost) == {"steps": STEPS, "model_forwards": STEPS, "extra_forwards": STEPS, "guided_steps": STEPS,
                             "forced_steps": 0, "classifier_backwards": 0}


def test_none_schedule_matches_pipeline_without_cfg(pipe: StableDiffusionPipeline) -> None:
    ours, cost = sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "none"}, STEPS), SCALE, STEPS,
                                         _generators())
    assert (ours - _reference(pipe, 1.0)).abs().max() < 1e-6
    assert (ours - _reference(pipe, SCALE)).abs().max() > 1e-3  # guidance changes the images at all
    assert (cost.extra_forwards, cost.guided_steps, cost.model_forwards) == (0, 0, STEPS)


def test_compress_schedule_doubles_the_batch_only_at_guided_steps(pipe: StableDiffusionPipeline) -> None:
    schedule = build_schedule({"kind": "compress", "skip": 2, "k": 2}, STEPS)
    guided_positions = [STEPS - 1 - i for i in schedule.guided_indices()]
    assert guided_positions == [0, 1, 3, 6, 8, 9]  # slots at indices 9, 9, 8, 6, 3 plus the last two steps
    batches: list[int] = []
    hook = pipe.unet.register_forward_hook(lambda module, args, output: batches.append(args[0].shape[0]))
    try:
        images, cost = sample_stable_diffusion(pipe, PROMPTS, schedule, SCALE, STEPS, _generators())
    finally:
        hook.remove()
    b = len(PROMPTS)
    assert batches == [2 * b if j in guided_positions else b for j in range(STEPS)]
    assert _counts(cost) == {"steps": STEPS, "model_forwards": STEPS, "extra_forwards": 6, "guided_steps": 6,
                             "forced_steps": 2, "classifier_backwards": 0}  # forced: the last two steps
    full, _ = sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "full"}, STEPS), SCALE, STEPS,
                                      _generators())
    assert (images - full).abs().max() > 1e-4  # skipping the unconditional pass changes the images


@SCHEDULERS
def test_images_do_not_depend_on_the_batch(sd_folder: Path, scheduler: str | None) -> None:
    pipe = load_stable_diffusion(sd_folder, scheduler=scheduler)[0]
    schedule = build_schedule({"kind": "compress", "skip": 2, "k": 2}, STEPS)
    together, _ = sample_stable_diffusion(pipe, PROMPTS, schedule, SCALE, STEPS, _generators())
    alone = torch.cat([sample_stable_diffusion(pipe, [prompt], schedule, SCALE, STEPS, _generators([i]))[0]
                       for i, prompt in enumerate(PROMPTS)])
    assert (together - alone).abs().max() < 1e-5  # not bitwise: CPU kernels sum differently per batch size


def test_argument_checks(pipe: StableDiffusionPipeline) -> None:
    with pytest.raises(ValueError, match="one generator per prompt"):
        sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "full"}, STEPS), SCALE, STEPS, _generators([0]))
    with pytest.raises(ValueError, match="schedule has 8 steps"):
        sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "full"}, 8), SCALE, STEPS, _generators())
    pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)  # SD 1.x's scheduler
    with pytest.raises(ValueError, match="calls the UNet 11 times for 10 steps.*scheduler='DDIMScheduler'"):
        sample_stable_diffusion(pipe, PROMPTS, build_schedule({"kind": "full"}, STEPS), SCALE, STEPS, _generators())


def test_scheduler_override(sd_folder: Path) -> None:
    pipe, facts = load_stable_diffusion(sd_folder, scheduler="EulerAncestralDiscreteScheduler")
    assert type(pipe.scheduler).__name__ == facts["scheduler_class"] == "EulerAncestralDiscreteScheduler"
    assert facts["folder_scheduler_class"] == "DDIMScheduler" and pipe.scheduler.config.beta_end == 0.012
    with pytest.raises(ValueError, match="unknown diffusers scheduler"):
        load_stable_diffusion(sd_folder, scheduler="NoSuchScheduler")


def _broken_copy(sd_folder: Path, tmp_path: Path, remove: str) -> Path:
    folder = tmp_path / "sd"
    shutil.copytree(sd_folder, folder)
    target = folder / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return folder


def test_missing_folder_names_the_layout_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_stable_diffusion(tmp_path / "nowhere")
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message and "folder not found" in message
    assert "model_index.json" in message and "huggingface-cli download" in message and "--local-dir" in message


@pytest.mark.parametrize("remove, named", [
    ("model_index.json", "model_index.json"),
    ("unet", "unet"),
    ("text_encoder", "text_encoder"),
    ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors"),
    ("scheduler/scheduler_config.json", "scheduler/scheduler_config.json"),
])
def test_incomplete_folder_names_the_missing_file(sd_folder: Path, tmp_path: Path, remove: str, named: str) -> None:
    folder = _broken_copy(sd_folder, tmp_path, remove)
    with pytest.raises(PipelineLayoutError) as error:
        load_stable_diffusion(folder)
    message = str(error.value)
    assert f"path: {folder / named}" in message and "huggingface-cli download" in message
    assert isinstance(error.value, FileNotFoundError)


def test_other_pipeline_classes_are_refused(sd_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sd"
    shutil.copytree(sd_folder, folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableUnCLIPPipeline"}))
    with pytest.raises(ValueError, match="StableUnCLIPPipeline"):
        load_stable_diffusion(folder)
