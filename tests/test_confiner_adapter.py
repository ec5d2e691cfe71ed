"""The ``ConFiner`` adapter end to end on tiny random experts (AnimateDiff-Lightning from a single file, SD 1.5,
ModelScope; and the pixel kinds): every mode's NFE per video equals ``nfe_per_video``, outputs are uint8
[B, F, H, W, 3], a video depends on its seed only (not its batch), coordinated refinement with identical experts and
``noise="predicted"`` equals a DDIM loop (diffusers' ``DDIMScheduler.step``) from the re-noised structure, the
single-expert baselines are the expert's own sampler, ConFiner-Long's frame count and NFE, and the errors."""
from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from confiner_fixture import write_latent_experts, write_pixel_image_ddpm, write_pixel_video  # noqa: E402

from bench.methods.confiner.schedules import nfe_per_video  # noqa: E402
from bench.registry import METHODS  # noqa: E402

FAST = dict(frames=2, control_steps=2, refine_steps=2, t_e=100)
PROMPTS = {"prompt": ["a cat", "a dog"]}
SEEDS = torch.tensor([11, 12])


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("confiner")
    specs = write_latent_experts(root)
    specs.pop("animatediff_folder")
    return specs


def build(specs, **kwargs):
    method = METHODS.build(dict(type="ConFiner", experts=specs, **{**FAST, **kwargs}))
    method.setup(torch.device("cpu"))
    return method


@pytest.mark.parametrize("mode", ["spatial", "temporal", "coordinated"])
def test_each_mode_end_to_end(specs, mode):
    method = build(specs, mode=mode)
    out = method.predict(PROMPTS, SEEDS)
    # tiny control expert at CFG 1 (Lightning), spatial CFG 7.5 and temporal CFG 9: both doubled
    expected = nfe_per_video(mode, 2, 2, control_guided=False, spatial_guided=True, temporal_guided=True)
    assert out["nfe"].tolist() == [expected["total"]] * 2
    assert {**method.totals["nfe_per_video"], "spatial": method.totals["nfe_per_video"].get("spatial", 0),
            "temporal": method.totals["nfe_per_video"].get("temporal", 0)} == expected
    assert method.expected_nfe() == expected
    assert out["video"].shape == (2, 2, 16, 16, 3) and out["video"].dtype == torch.uint8
    assert out["wall_s"].dtype == torch.float64 and bool((out["wall_s"] > 0).all())
    facts = method.provenance()
    assert facts["settings"]["mode"] == mode and facts["settings"]["t_e"] == 100
    assert facts["experts"]["control"]["motion_adapter_format"] == "single_file"
    assert set(facts["seconds_per_stage_rank"]) == {"control", "refine", "decode"}
    if mode == "coordinated":  # 4 + 5 → 19 calls in the paper's setting; here 2 + 2 → 2 + 3·2 calls
        assert facts["calls_per_video"] == {"control": 2, "spatial": 4, "temporal": 2}


def test_a_video_depends_on_its_seed_only(specs):
    method = build(specs, mode="coordinated")
    both = method.predict(PROMPTS, SEEDS)
    again = method.predict(PROMPTS, SEEDS)
    alone = method.predict({"prompt": ["a dog"]}, SEEDS[1:])
    assert torch.equal(both["video"], again["video"])
    assert (both["video"][1].int() - alone["video"][0].int()).abs().max() <= 1  # float batch-size rounding at most
    other = method.predict({"prompt": ["a dog"]}, torch.tensor([13]))
    assert (other["video"][0].int() - alone["video"][0].int()).abs().max() > 10


def test_coordinated_with_identical_experts_is_a_ddim_loop(specs):
    from diffusers import DDIMScheduler

    same = {**specs, "temporal": specs["spatial"]}
    coordinated = build(same, mode="coordinated", noise="predicted")
    latents, meter = coordinated.generate(["a cat"], [5])
    assert meter.calls == {"control": 2, "spatial": 4, "temporal": 2}
    # the same chain by hand: the control structure from seed 5's generator, then T_e = 100 re-noising with the
    # generator's next draw and two DDIM steps 100 → 50 → 0 of the spatial expert (diffusers' step function)
    spatial, control = coordinated.loaded["spatial"], coordinated.loaded["control"]
    generator = torch.Generator().manual_seed(5)
    v0 = control.sample(torch.randn((1, 4, 2, 8, 8), generator=generator), control.encode(["a cat"]), 2)
    noise = torch.randn((1, 4, 2, 8, 8), generator=generator)
    alpha = float(spatial.scheduler.alphas_cumprod[100])
    x = math.sqrt(alpha) * v0 + math.sqrt(1 - alpha) * noise
    ddim = DDIMScheduler.from_config(spatial.scheduler.config)
    ddim.set_timesteps(20)  # 1000 // 20 = 50: step() goes t → t − 50
    text = spatial.encode(["a cat"])
    for t in (100, 50):
        eps = spatial.unet_eps(x.permute(0, 2, 1, 3, 4).reshape(2, 4, 8, 8), t, text)
        x = ddim.step(eps, t, x.permute(0, 2, 1, 3, 4).reshape(2, 4, 8, 8)).prev_sample.reshape(1, 2, 4, 8, 8)
        x = x.permute(0, 2, 1, 3, 4)
    assert torch.allclose(latents, x, atol=1e-4, rtol=1e-4)
    spatial_only = build(same, mode="spatial").generate(["a cat"], [5])[0]  # one call per step, same chain
    assert torch.allclose(latents, spatial_only, atol=1e-4, rtol=1e-4)


def test_native_resize_policy_runs_each_expert_at_its_own_size(specs):
    method = build(specs, mode="coordinated", resize="native", size=8)  # 8 px frames: a 4x4 working latent
    sizes: dict[str, set] = {role: set() for role in ("control", "spatial", "temporal")}
    for role, expert in method.loaded.items():
        expert.unet.register_forward_pre_hook(
            lambda module, args, role=role: sizes[role].add(tuple(args[0].shape[-2:])))
    out = method.predict({"prompt": ["a cat"]}, SEEDS[:1])
    assert method.settings()["latent_size"] == [4, 4] and out["video"].shape == (1, 2, 8, 8, 3)
    # control at the working size; the refinement experts at their UNets' sample_size (8), x̂0 resized at the hinge
    assert sizes == {"control": {(4, 4)}, "spatial": {(8, 8)}, "temporal": {(8, 8)}}


def test_single_expert_baselines(specs):
    temporal = build(specs, single="temporal", steps=3)
    assert set(temporal.loaded) == {"temporal"}
    out = temporal.predict(PROMPTS, SEEDS)
    assert out["nfe"].tolist() == [6, 6] and temporal.expected_nfe() == {"temporal": 6, "total": 6}
    expert = temporal.loaded["temporal"]
    noise = torch.randn((4, 2, 8, 8), generator=torch.Generator().manual_seed(11))[None]
    direct = expert.codec().decode(expert.sample(noise, expert.encode(["a cat"]), 3))
    assert (out["video"][0].int() - direct[0].int()).abs().max() <= 1
    control = build(specs, single="control", steps=4)
    assert control.predict(PROMPTS, SEEDS)["nfe"].tolist() == [4, 4]  # Lightning at CFG 1
    assert control.provenance()["settings"]["steps"] == 4


def test_confiner_long(specs):
    method = build(specs, mode="coordinated", control_steps=1, refine_steps=1,
                   long=dict(segment_length=2, num_segments=3, gamma=0.05))
    out = method.predict({"prompt": ["a cat"]}, SEEDS[:1])
    # 3 segments of 2 frames; control 3 × 1 calls; staggered refinement over 4 windows × 3 calls (2 CFG-doubled)
    assert out["video"].shape == (1, 6, 16, 16, 3)
    assert method.expected_nfe() == {"control": 3, "spatial": 16, "temporal": 8, "total": 27}
    assert out["nfe"].tolist() == [27] and method.totals["calls_per_video"] == {"control": 3, "spatial": 8,
                                                                                 "temporal": 4}
    plain = build(specs, mode="coordinated", control_steps=1, refine_steps=1,
                  long=dict(segment_length=2, num_segments=3, staggered=False))
    # 3 segments refined on their own: 3 windows × (2 spatial calls × 2 + 1 temporal call × 2)
    assert plain.predict({"prompt": ["a cat"]}, SEEDS[:1])["nfe"].tolist() == [3 + 3 * (2 * 2 + 1 * 2)]


def test_pixel_experts_chain(tmp_path):
    video = dict(kind="pixel_video", model=str(write_pixel_video(tmp_path)))
    image = dict(kind="pixel_image", model=str(write_pixel_image_ddpm(tmp_path)))
    method = build({"control": dict(video, guidance_scale=1.0), "spatial": image, "temporal": video},
                   mode="coordinated")
    out = method.predict(PROMPTS, SEEDS)
    # control: the video toy at CFG 1; coordinated: 2 steps × (2 unconditional DDPM calls + 1 toy call at CFG 9)
    assert out["video"].shape == (2, 2, 8, 8, 3) and out["nfe"].tolist() == [2 + 2 * 2 + 2 * 2] * 2
    assert method.provenance()["experts"]["spatial"]["unet_class"] == "UNet2DModel"


def test_errors(specs, tmp_path):
    with pytest.raises(ValueError, match=r"experts.temporal is missing \(this mode needs"):
        METHODS.build(dict(type="ConFiner", experts={k: specs[k] for k in ("control", "spatial")}))
    with pytest.raises(ValueError, match="a single-expert baseline takes single=<one of"):
        METHODS.build(dict(type="ConFiner", experts=specs, single="temporal", steps=10, mode="spatial"))
    with pytest.raises(ValueError, match="steps is the single-expert baseline's"):
        METHODS.build(dict(type="ConFiner", experts=specs, steps=10))
    with pytest.raises(ValueError, match="resize must be one of"):
        METHODS.build(dict(type="ConFiner", experts=specs, resize="stretch"))
    with pytest.raises(ValueError, match="mode must be one of"):
        METHODS.build(dict(type="ConFiner", experts=specs, mode="alternate"))
    with pytest.raises(ValueError, match="refinement needs 1 ≤ T_i2 ≤ T_e"):
        METHODS.build(dict(type="ConFiner", experts=specs, t_e=3, refine_steps=5))
    image = dict(kind="pixel_image", model=str(write_pixel_image_ddpm(tmp_path)))
    with pytest.raises(ValueError, match=r"share one latent space; latent channels per role: \{'control': 4"):
        build({**specs, "spatial": image})
    with pytest.raises(ValueError, match="must be a multiple of the VAE factor 2"):
        build(specs, single="temporal", steps=1, size=15).predict(PROMPTS, SEEDS)
