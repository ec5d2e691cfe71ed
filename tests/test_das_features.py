"""Per-sample gradient features, projection, residuals and the resumable feature store (methods/das/features.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bench.methods.das.features import (
    MODEL_OUTPUTS, FeatureSettings, FeatureStore, LatentBatch, attribution_timesteps, build_projector,
    encode_latent_batch, lora_only, output_weights, per_sample_features, timestep_losses, timestep_noise,
    train_residuals)
from bench.store import StoreError


def _tiny_unet(seed: int = 0):
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=8)


@pytest.fixture(scope="module")
def unet():
    return _tiny_unet()


@pytest.fixture(scope="module")
def scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")


@pytest.fixture(scope="module")
def images():
    return torch.rand((6, 3, 8, 8), generator=torch.Generator().manual_seed(3))


def _loop_features(unet, scheduler, images, timesteps, output, noise_batch=16):
    """The reference: one ordinary forward + backward per sample and timestep (default attention processor)."""
    params = [p for p in unet.parameters() if p.requires_grad]
    weights = output_weights(scheduler, output, timesteps)
    rows = []
    for i in range(len(images)):
        x0 = images[i:i + 1] * 2 - 1
        total = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
        for t, w in zip(timesteps, weights, strict=True):
            noise = timestep_noise(t, torch.tensor([i]), x0.shape[1:], e_seed=0, noise_batch=noise_batch)
            tt = torch.tensor([t])
            unet.zero_grad()
            pred = unet(scheduler.add_noise(x0, noise, tt), tt).sample
            MODEL_OUTPUTS[output](pred[0], noise[0]).backward()
            total += torch.cat([p.grad.reshape(-1) for p in params]).double() * w
        rows.append(total / len(timesteps))
    unet.zero_grad(set_to_none=True)
    return torch.stack(rows)


def test_timestep_strategies_exact():
    assert attribution_timesteps("uniform", 10) == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert attribution_timesteps("uniform", 1) == [0]
    assert attribution_timesteps("uniform", 3) == [0, 333, 666, 999]  # the code's range: 4 steps for n = 3
    assert attribution_timesteps("cumulative", 4) == [0, 1, 2, 3]
    assert attribution_timesteps("uniform", 4, num_train_timesteps=100) == [0, 25, 50, 75]
    with pytest.raises(ValueError, match=r"timestep strategy 'unifrom' is not one of .* Did you mean 'uniform'"):
        attribution_timesteps("unifrom", 10)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        attribution_timesteps("uniform", 0)
    with pytest.raises(ValueError, match="n = 1001 timesteps exceeds the 1000 training timesteps"):
        attribution_timesteps("cumulative", 1001)


def test_output_names_and_weights(scheduler):
    assert sorted(MODEL_OUTPUTS) == sorted(["mean", "mse", "weighted-mse", "mean-squared-l2-norm", "l1-norm",
                                            "l2-norm", "linf-norm"])
    pred, target = torch.tensor([[3.0, -4.0]]), torch.tensor([[1.0, 0.0]])
    values = {name: float(fn(pred, target)) for name, fn in MODEL_OUTPUTS.items()}
    assert values == {"mean": -0.5, "mse": 10.0, "weighted-mse": 10.0, "mean-squared-l2-norm": 12.5,
                      "l1-norm": 7.0, "l2-norm": 5.0, "linf-norm": 4.0}
    # w_t = β_t / (2 α_t (1 − ᾱ_t)) in float32 as the code has it; at t = 0, ᾱ_0 = α_0 = 1 − β_0 (β_0 = 1e-4), so
    # w_0 = 1 / (2 (1 − 1e-4)) up to float32's cancellation in 1 − ᾱ_0 (relative 1e-3 at most)
    b, a, abar = scheduler.betas[500], scheduler.alphas[500], scheduler.alphas_cumprod[500]
    w0, w500 = output_weights(scheduler, "weighted-mse", [0, 500])
    assert w0 == pytest.approx(1 / (2 * (1 - 1e-4)), rel=1e-3) and w500 == float(b / (2 * a * (1 - abar)))
    assert output_weights(scheduler, "mse", [0, 5]) == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"model output 'msee' is not one of .* Did you mean 'mse'"):
        output_weights(scheduler, "msee", [0])


def test_noise_is_keyed_by_position_and_repeats_like_the_code():
    shape = (3, 8, 8)
    block = torch.randn((16, *shape), generator=torch.Generator().manual_seed(2 * 1000 + 40))
    got = timestep_noise(40, torch.tensor([0, 5, 16, 21]), shape, e_seed=2, noise_batch=16)
    assert torch.equal(got, block[[0, 5, 0, 5]])  # the code's batch of 16 repeats its noise every 16 samples
    assert not torch.equal(timestep_noise(41, torch.tensor([0]), shape, e_seed=2, noise_batch=16), block[:1])
    with pytest.raises(ValueError, match="noise_batch must be a positive integer"):
        timestep_noise(0, torch.tensor([0]), shape, e_seed=0, noise_batch=0)


@pytest.mark.parametrize("output", sorted(MODEL_OUTPUTS))
def test_vmap_gradients_equal_a_backward_loop(unet, scheduler, images, output):
    timesteps = [10, 600]
    got = per_sample_features(unet, scheduler, images[:2], timesteps=timesteps, output=output, normalize=False)
    want = _loop_features(unet, scheduler, images[:2], timesteps, output)
    assert got.dtype == torch.float32 and got.shape == want.shape == (2, sum(p.numel() for p in unet.parameters()))
    # float32 sums over at most a few thousand terms per entry: rounding is ~1e-6 of the gradient's scale
    for row, ref in zip(got.double(), want, strict=True):
        assert ref.norm() > 0
        assert (row - ref).abs().max() <= 1e-5 * ref.norm()


def test_per_t_normalisation_and_average(unet, scheduler, images):
    raw = per_sample_features(unet, scheduler, images[:2], timesteps=[300], normalize=False)
    unit = per_sample_features(unet, scheduler, images[:2], timesteps=[300], normalize=True)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(unit, raw / raw.norm(dim=1, keepdim=True), atol=1e-7, rtol=1e-5)
    other = per_sample_features(unet, scheduler, images[:2], timesteps=[700], normalize=True)
    both = per_sample_features(unet, scheduler, images[:2], timesteps=[300, 700], normalize=True)
    torch.testing.assert_close(both, (unit + other) / 2, atol=1e-7, rtol=1e-5)
    # a per-t constant weight cancels under normalisation: weighted-mse == mse there
    weighted = per_sample_features(unet, scheduler, images[:2], timesteps=[300], output="weighted-mse")
    torch.testing.assert_close(weighted, per_sample_features(unet, scheduler, images[:2], timesteps=[300],
                                                             output="mse"), atol=1e-7, rtol=1e-5)


def test_features_do_not_depend_on_batching(unet, scheduler, images):
    full = per_sample_features(unet, scheduler, images[:4], timesteps=[0, 500], chunk=4)
    split = per_sample_features(unet, scheduler, images[:4], timesteps=[0, 500], chunk=1)
    torch.testing.assert_close(split, full, atol=1e-7, rtol=1e-5)
    tail = per_sample_features(unet, scheduler, images[2:4], timesteps=[0, 500], positions=torch.arange(2, 4))
    torch.testing.assert_close(tail, full[2:], atol=1e-7, rtol=1e-5)
    assert not torch.allclose(per_sample_features(unet, scheduler, images[2:4], timesteps=[0, 500]), full[2:])


def test_parameter_selection_and_lora(scheduler, images):
    from peft import LoraConfig, inject_adapter_in_model

    unet = _tiny_unet()
    names = [n for n, _ in unet.named_parameters()]
    full = per_sample_features(unet, scheduler, images[:2], timesteps=[100], normalize=False)
    sizes = [p.numel() for p in unet.parameters()]
    start = sum(sizes[:names.index("conv_out.weight")])
    only = per_sample_features(unet, scheduler, images[:2], timesteps=[100], normalize=False,
                               parameters=lambda n: n.startswith("conv_out."))
    assert only.shape == (2, sum(p.numel() for n, p in unet.named_parameters() if n.startswith("conv_out.")))
    torch.testing.assert_close(only, full[:, start:start + only.shape[1]], atol=1e-7, rtol=1e-5)
    with pytest.raises(ValueError, match="no trainable parameter selected"):
        per_sample_features(unet, scheduler, images[:1], timesteps=[0], parameters=lora_only)

    unet.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"]), unet)
    lora = {n: p for n, p in unet.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    feats = per_sample_features(unet, scheduler, images[:2], timesteps=[100], normalize=False, parameters=lora_only)
    assert feats.shape == (2, sum(p.numel() for p in lora.values()))
    assert feats.abs().sum() > 0


def test_projector_determinism_and_traker_parity():
    from trak.projectors import BasicProjector, ProjectionType

    grads = torch.randn((5, 300), generator=torch.Generator().manual_seed(0))
    ours = build_projector(300, 256, seed=42)
    assert ours.implementation == "trak.BasicProjector" and "device is cpu" in ours.note
    first = ours.project(grads)
    assert first.shape == (5, 256) and torch.equal(first, build_projector(300, 256, seed=42).project(grads))
    assert not torch.allclose(first, build_projector(300, 256, seed=43).project(grads))
    reference = BasicProjector(grad_dim=300, proj_dim=256, seed=42, proj_type=ProjectionType.normal,
                               device=torch.device("cpu")).project(grads.clone(), model_id=0)
    assert torch.equal(first, reference)
    # the blocks are drawn once and kept (traker redraws all of them per call): the same projection either way
    assert ours.blocks is not None and [b.shape[1] for b in ours.blocks] == [100, 100, 56]
    redrawn = build_projector(300, 256, seed=42)
    redrawn.blocks = None
    assert not redrawn.cache_blocks(max_bytes=300 * 300 * 4 - 1) and redrawn.blocks is None  # too big: traker's path
    assert torch.equal(redrawn.project(grads), first)
    other_model = build_projector(300, 256, seed=42, model_id=3)
    assert torch.equal(other_model.project(grads), BasicProjector(
        grad_dim=300, proj_dim=256, seed=42, proj_type=ProjectionType.normal, device=torch.device("cpu"),
        model_id=3).project(grads.clone(), model_id=3))
    rademacher = build_projector(300, 256, seed=42, proj_type="rademacher").project(grads)
    assert torch.equal(rademacher, BasicProjector(grad_dim=300, proj_dim=256, seed=42,
                                                  proj_type=ProjectionType.rademacher,
                                                  device=torch.device("cpu")).project(grads.clone(), model_id=0))
    with pytest.raises(ValueError, match="CudaProjector unavailable: the device is cpu, not cuda.*traker\\[fast\\]"):
        build_projector(300, 256, backend="cuda")
    with pytest.raises(ValueError, match=r"projector expects gradients \[B, 300\], got \(5, 299\)"):
        ours.project(grads[:, :299])


def test_residuals_follow_the_codes_reduction(unet, scheduler, images):
    steps = attribution_timesteps("uniform", 10)
    losses = timestep_losses(unet, scheduler, images[:3], timesteps=steps, batch_size=2)
    noise = timestep_noise(steps[4], torch.tensor([1]), (3, 8, 8), e_seed=0, noise_batch=256)
    x0, t = images[1:2] * 2 - 1, torch.tensor([steps[4]])
    with torch.no_grad():
        manual = torch.nn.functional.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise)
    assert losses.shape == (3, 10)
    assert float(losses[1, 4]) == pytest.approx(float(manual), rel=1e-5)
    r = train_residuals(unet, scheduler, images[:3], num_timesteps=10, batch_size=2)
    roots = losses.double().sqrt()
    torch.testing.assert_close(r.double(), (roots / (roots.norm(dim=1, keepdim=True) + 1e-8)).mean(1), rtol=1e-6,
                               atol=0)
    assert bool(((r > 0) & (r <= 1 / math.sqrt(10) + 1e-7)).all())  # mean of a unit vector's entries


def test_bad_images_are_named(unet, scheduler, images):
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\].*got range \[-0.99"):
        per_sample_features(unet, scheduler, images[:1] * 2 - 1, timesteps=[0])
    with pytest.raises(ValueError, match=r"timesteps must be a non-empty list in \[0, 1000\)"):
        per_sample_features(unet, scheduler, images[:1], timesteps=[1000])


def _store(tmp, unet, scheduler, **overrides):
    settings = dict(output="mean", timestep_strategy="uniform", num_timesteps=2, k=32)
    chunking = {key: overrides.pop(key) for key in ("chunk_size", "batch_size") if key in overrides}
    fingerprint = overrides.pop("dataset_fingerprint", "toy-6")
    settings.update(overrides)
    return FeatureStore(tmp, unet, scheduler, FeatureSettings(**settings), dataset_fingerprint=fingerprint,
                        num_samples=6, **{"chunk_size": 2, "batch_size": 2, **chunking})


def test_feature_store_resumes_to_the_uninterrupted_result(tmp_path, unet, scheduler, images):
    whole = np.array(_store(tmp_path / "a", unet, scheduler).compute(images))
    assert whole.shape == (6, 32) and whole.dtype == np.float32 and np.abs(whole).sum() > 0

    store = _store(tmp_path / "b", unet, scheduler)
    assert store.key == _store(tmp_path / "a", unet, scheduler).key

    def stop_after_first(index):
        raise KeyboardInterrupt(f"killed after chunk {index}")

    with pytest.raises(KeyboardInterrupt, match="killed after chunk 0"):
        store.compute(images, on_chunk=stop_after_first)
    assert store.progress()["chunks_done"] == [0] and not store.progress()["complete"]
    with pytest.raises(StoreError, match="resume with those values"):
        _store(tmp_path / "b", unet, scheduler, chunk_size=3).compute(images)

    loaded = []

    def load(start, stop):
        loaded.append((start, stop))
        return images[start:stop]

    resumed = store.compute(load)
    assert loaded == [(2, 4), (4, 6)]  # chunk 0 was not recomputed
    assert np.array_equal(np.array(resumed), whole)
    assert store.describe()["complete"] and store.describe()["chunks_done"] == 3

    def refuse(start, stop):
        raise AssertionError("a finished store must not recompute")

    assert np.array_equal(np.array(store.compute(refuse)), whole)
    recorded = json.loads((store.folder / "settings.json").read_text())
    assert recorded["settings"]["output"] == "mean" and recorded["timesteps"] == [0, 500]
    assert recorded["projector"]["implementation"] == "trak.BasicProjector" and recorded["key"] == store.key
    assert recorded["complete"] and recorded["chunk_size"] == 2 and recorded["num_samples"] == 6


def test_feature_store_key_covers_every_setting(tmp_path, unet, scheduler):
    base = _store(tmp_path, unet, scheduler).key
    variants = [dict(output="mse"), dict(num_timesteps=3), dict(timestep_strategy="cumulative"), dict(e_seed=1),
                dict(normalize=False), dict(k=64), dict(projector_seed=1), dict(proj_type="rademacher"),
                dict(noise_batch=52), dict(dataset_fingerprint="toy-6b")]
    keys = {_store(tmp_path, unet, scheduler, **v).key for v in variants}
    assert len(keys) == len(variants) and base not in keys
    other = _tiny_unet()
    with torch.no_grad():
        other.conv_out.bias += 1e-3
    assert _store(tmp_path, other, scheduler).key != base
    assert FeatureStore(tmp_path, unet, scheduler, FeatureSettings(k=32, num_timesteps=2), dataset_fingerprint="toy-6",
                        num_samples=6, parameters=lambda n: n.startswith("conv_out.")).key != base
    with pytest.raises(ValueError, match="model output 'avg' is not one of"):
        FeatureSettings(output="avg")
    with pytest.raises(ValueError, match="dataset_fingerprint must be a non-empty string"):
        FeatureStore(tmp_path, unet, scheduler, FeatureSettings(), dataset_fingerprint="", num_samples=1)


def test_feature_pass_restores_attention_and_mode(scheduler, images):
    from diffusers.models.attention_processor import Attention

    unet = _tiny_unet().train()
    before = [type(m.processor).__name__ for m in unet.modules() if isinstance(m, Attention)]
    per_sample_features(unet, scheduler, images[:1], timesteps=[0])
    assert before == ["AttnProcessor2_0"] * 4
    assert [type(m.processor).__name__ for m in unet.modules() if isinstance(m, Attention)] == before
    assert unet.training


# ----------------------------------------------------------------------------- text-conditional latent model (LoRA)
@pytest.fixture(scope="module")
def latent_model(tmp_path_factory):
    """tests/sd_fixture.py's tiny Stable Diffusion with rank-4 LoRA adapters whose lora_B is perturbed (peft's
    gaussian init leaves it 0, which would zero the lora_A gradients)."""
    from sd_fixture import write_tiny_stable_diffusion

    from bench.methods.das.latent_model import load_latent_model

    model = load_latent_model(write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd")), lora_rank=4, lora_seed=0)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(5)
        for name, parameter in model.unet.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


def _latent_inputs(model, n=2):
    images = torch.rand((n, 3, 16, 16), generator=torch.Generator().manual_seed(7))
    captions = ["a cat painting", "a bat painting", "a tat painting"][:n]
    return images, captions, encode_latent_batch(model.vae, model.tokenizer, model.text_encoder, images, captions)


def test_latent_inputs_follow_dtrak(latent_model):
    images, captions, batch = _latent_inputs(latent_model)
    with torch.no_grad():
        mean = latent_model.vae.encode(images * 2 - 1).latent_dist.mean * latent_model.vae.config.scaling_factor
        ids = latent_model.tokenizer(captions, max_length=16, padding="max_length", truncation=True,
                                     return_tensors="pt").input_ids
        states = latent_model.text_encoder(ids)[0]
    assert batch.latents.shape == (2, 4, 8, 8) and batch.encoder_hidden_states.shape == (2, 16, 32)
    torch.testing.assert_close(batch.latents, mean, atol=0, rtol=0)
    torch.testing.assert_close(batch.encoder_hidden_states, states, atol=0, rtol=0)
    assert not torch.equal(batch.encoder_hidden_states[0], batch.encoder_hidden_states[1])
    assert len(batch[1:]) == 1 and torch.equal(batch[1:].latents, batch.latents[1:])
    with pytest.raises(ValueError, match="one caption string per image"):
        encode_latent_batch(latent_model.vae, latent_model.tokenizer, latent_model.text_encoder, images, ["a cat"])
    with pytest.raises(ValueError, match="same B"):
        LatentBatch(batch.latents, batch.encoder_hidden_states[:1])


def test_lora_features_of_a_text_conditional_unet_equal_a_backward_loop(latent_model):
    unet, scheduler = latent_model.unet, latent_model.scheduler
    _, _, batch = _latent_inputs(latent_model)
    timesteps = [10, 600]
    got = per_sample_features(unet, scheduler, batch, timesteps=timesteps, output="mse", normalize=False,
                              parameters=lora_only)
    lora = [p for n, p in unet.named_parameters() if "lora_" in n]
    frozen = [p for n, p in unet.named_parameters() if "lora_" not in n]
    assert all(p.requires_grad for p in lora) and not any(p.requires_grad for p in frozen)
    rows = []
    for i in range(len(batch)):
        total = torch.zeros(sum(p.numel() for p in lora), dtype=torch.float64)
        for t in timesteps:
            noise = timestep_noise(t, torch.tensor([i]), batch.latents.shape[1:], e_seed=0, noise_batch=16)
            tt = torch.tensor([t])
            unet.zero_grad(set_to_none=True)
            pred = unet(scheduler.add_noise(batch.latents[i:i + 1], noise, tt), tt,
                        encoder_hidden_states=batch.encoder_hidden_states[i:i + 1]).sample
            MODEL_OUTPUTS["mse"](pred[0], noise[0]).backward()
            assert all(p.grad is None for p in frozen)  # only the LoRA parameters get gradients
            total += torch.cat([p.grad.reshape(-1) for p in lora]).double()
        rows.append(total / len(timesteps))
    unet.zero_grad(set_to_none=True)
    want = torch.stack(rows)
    assert got.shape == want.shape == (2, sum(p.numel() for p in lora))
    for row, ref in zip(got.double(), want, strict=True):
        assert ref.norm() > 0
        assert (row - ref).abs().max() <= 1e-5 * ref.norm()
    # the prompt matters: the same latents under the other sample's embedding give another feature
    swapped = LatentBatch(batch.latents, batch.encoder_hidden_states.flip(0))
    assert not torch.allclose(per_sample_features(unet, scheduler, swapped, timesteps=timesteps, output="mse",
                                                  normalize=False, parameters=lora_only), got)


def test_latent_losses_are_the_conditional_diffusion_loss(latent_model):
    unet, scheduler = latent_model.unet, latent_model.scheduler
    _, _, batch = _latent_inputs(latent_model)
    losses = timestep_losses(unet, scheduler, batch, timesteps=[0, 500], noise_batch=256)
    with torch.no_grad():
        noise = timestep_noise(500, torch.arange(2), batch.latents.shape[1:], e_seed=0, noise_batch=256)
        tt = torch.full((2,), 500)
        pred = unet(scheduler.add_noise(batch.latents, noise, tt), tt,
                    encoder_hidden_states=batch.encoder_hidden_states).sample
    torch.testing.assert_close(losses[:, 1], (pred - noise).pow(2).flatten(1).mean(1), atol=1e-7, rtol=1e-5)
