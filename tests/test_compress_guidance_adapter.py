"""``CompressGuidanceSampler`` end to end on tiny local models: classifier guidance on a diffusers UNet with a noisy
ADM classifier it trains, CFG with an unconditional ADM model and with DiT's null class, Stable Diffusion through
the generation runner, cost columns, batch independence and errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from bench.config import load_config  # noqa: E402
from bench.tasks.generation.extractors.base import ImageFeatureExtractor  # noqa: E402
from bench.methods.compress_guidance.metrics import SamplingCost  # noqa: E402
from bench.methods.compress_guidance import CompressGuidanceSampler  # noqa: E402
from bench.methods.diffusion.adm import build_adm  # noqa: E402
from bench.registry import EXTRACTORS  # noqa: E402
from bench.runner import evaluate  # noqa: E402

CLASSIFIER_FLAGS = dict(kind="classifier", image_size=8, in_channels=1, model_channels=32, out_channels=3,
                        num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2), num_head_channels=16,
                        use_scale_shift_norm=True, resblock_updown=True, pool="attention")
ADM_FLAGS = dict(kind="diffusion", image_size=8, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
                 attention_resolutions=(2,), channel_mult=(1, 2), num_head_channels=16, use_scale_shift_norm=True,
                 resblock_updown=True, num_classes=None)
ADM_PROCESS = dict(steps=1000, noise_schedule="cosine", learn_sigma=True)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory, tiny_ddpm_folder) -> Path:
    """The adapter's own train stage: the noisy ADM classifier on x_t of the DDPM's process, one short epoch."""
    images = torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    train_set = [{"image": images[i], "target": i % 3} for i in range(24)]
    sampler = CompressGuidanceSampler(backbone=dict(type="diffusers_unet", model=str(tiny_ddpm_folder)),
                                      guidance=dict(type="none"), classifier=dict(flags=CLASSIFIER_FLAGS))
    return sampler.fit(train_set, None, tmp_path_factory.mktemp("classifier"), torch.device("cpu"), epochs=1,
                       batch_size=8, lr=1e-3)


def test_classifier_training_does_not_depend_on_the_global_rng(tmp_path, tiny_ddpm_folder):
    """The train stage seeds once, but resolving the backbone may train (and draw from) the RNG first."""
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    train_set = [{"image": images[i], "target": i % 3} for i in range(8)]
    sampler = CompressGuidanceSampler(backbone=dict(type="diffusers_unet", model=str(tiny_ddpm_folder)),
                                      guidance=dict(type="none"), classifier=dict(flags=CLASSIFIER_FLAGS))
    files = []
    for run in range(2):
        torch.manual_seed(run)  # a different global RNG state before each fit
        files.append(sampler.fit(train_set, None, tmp_path / str(run), torch.device("cpu"), epochs=1,
                                 batch_size=4, lr=1e-3, seed=5))
    first, second = (torch.load(f, weights_only=True) for f in files)
    assert all(torch.equal(first[key], second[key]) for key in first)


def _sampler(tiny_ddpm_folder, classifier, schedule, **guidance):
    sampler = CompressGuidanceSampler(
        backbone=dict(type="diffusers_unet", model=str(tiny_ddpm_folder)), respacing="20",
        classifier=dict(flags=CLASSIFIER_FLAGS, checkpoint=str(classifier)),
        guidance=dict(type="classifier", scale=3.0, schedule=schedule, **guidance))
    sampler.setup(torch.device("cpu"))
    return sampler


def _batch(labels):
    return {"class_label": torch.tensor(labels)}


def test_fit_writes_an_official_layout_classifier(trained_classifier):
    from bench.methods.diffusion.adm import load_adm

    assert trained_classifier.name == "noisy_classifier.pt"
    model, facts = load_adm(trained_classifier, flags=CLASSIFIER_FLAGS)  # a raw state dict, loaded strictly
    assert facts["kind"] == "classifier" and len(facts["sha256"]) == 64
    assert tuple(model(torch.zeros(2, 1, 8, 8), torch.tensor([0, 999])).shape) == (2, 3)


def test_classifier_guidance_columns_costs_and_batch_independence(tiny_ddpm_folder, trained_classifier):
    sampler = _sampler(tiny_ddpm_folder, trained_classifier, dict(kind="compress", skip=5, k=2))
    out = sampler.predict(_batch([0, 1, 2]), torch.tensor([11, 12, 13]))
    assert out["image"].dtype == torch.uint8 and tuple(out["image"].shape) == (3, 8, 8, 1)
    counts = sampler.schedule.counts
    guided = sum(1 for c in counts if c > 0)
    assert out["guided_steps"].tolist() == [guided] * 3 and out["classifier_backwards"].tolist() == [guided] * 3
    assert out["forced_steps"].tolist() == [2] * 3 and out["model_forwards"].tolist() == [20] * 3
    assert out["extra_forwards"].tolist() == [0] * 3 and tuple(out["guide_prediction"].shape) == (3,)
    alone = sampler.predict(_batch([1]), torch.tensor([12]))
    assert torch.equal(alone["image"][0], out["image"][1])
    unguided = _sampler(tiny_ddpm_folder, trained_classifier, dict(kind="none"))
    plain = unguided.predict(_batch([0, 1, 2]), torch.tensor([11, 12, 13]))
    assert plain["classifier_backwards"].tolist() == [0] * 3
    assert not torch.equal(plain["image"], out["image"])  # guidance moved the samples
    provenance = sampler.provenance()
    assert provenance["schedule"]["guided_steps"] == guided and provenance["respaced_steps"] == 20
    assert provenance["classifier"]["sha256"] and provenance["backbone"]["type"] == "diffusers_unet"
    cost = SamplingCost(per_samples=100).compute(out)
    assert cost["guided steps"] == guided and cost["slot steps"] == guided - 2 and "GPU-h" not in cost


def test_cfg_with_a_separate_unconditional_adm_model(tmp_path):
    torch.manual_seed(3)
    conditional = build_adm({**ADM_FLAGS, "num_classes": 4})
    unconditional = build_adm(ADM_FLAGS)
    torch.save(conditional.state_dict(), tmp_path / "cond.pt")
    torch.save(unconditional.state_dict(), tmp_path / "uncond.pt")
    calls = []
    sampler = CompressGuidanceSampler(
        backbone=dict(type="adm", checkpoint=str(tmp_path / "cond.pt"), flags={**ADM_FLAGS, "num_classes": 4},
                      diffusion=ADM_PROCESS), respacing="10",
        guidance=dict(type="cfg", scale=1.1, combine="x0", schedule=dict(kind="compress", skip=2, k=2),
                      unconditional=dict(type="adm", checkpoint=str(tmp_path / "uncond.pt"), flags=ADM_FLAGS,
                                         diffusion=ADM_PROCESS)))
    sampler.setup(torch.device("cpu"))
    sampler.backbone.modules[1].register_forward_hook(lambda m, args, out: calls.append(int(args[1][0])))
    out = sampler.predict(_batch([0, 3]), torch.tensor([5, 6]))
    guided = [i for i in reversed(range(10)) if sampler.schedule.counts[i] > 0]
    assert calls == [int(sampler.backbone.diffusion.timestep_map[i]) for i in guided]
    assert out["extra_forwards"].tolist() == [len(guided)] * 2 and tuple(out["image"].shape) == (2, 8, 8, 3)
    assert sampler.provenance()["backbone"]["unconditional"]["sha256"]


@pytest.fixture(scope="module")
def dit_folder(tmp_path_factory) -> Path:
    import diffusers
    from diffusers import AutoencoderKL

    cls = getattr(diffusers, "DiTTransformer2DModel", None) or diffusers.Transformer2DModel
    torch.manual_seed(0)
    transformer = cls(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1,
                      sample_size=4, patch_size=2, num_embeds_ada_norm=5, norm_type="ada_norm_zero")
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                        layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, sample_size=8)
    folder = tmp_path_factory.mktemp("tiny_dit")
    transformer.save_pretrained(folder / "transformer")
    vae.save_pretrained(folder / "vae")
    return folder


def test_dit_cfg_runs_the_null_class_only_at_guided_steps(dit_folder):
    sampler = CompressGuidanceSampler(
        backbone=dict(type="dit", model=str(dit_folder)), respacing="12", clip_denoised=False, rounding="dit",
        guidance=dict(type="cfg", scale=4.0, combine="output", channels=3, unconditional="null_class",
                      schedule=dict(kind="compress", skip=3, k=2, index_convention="dit_script")))
    sampler.setup(torch.device("cpu"))
    labels = []
    sampler.backbone.modules[0].register_forward_hook(
        lambda m, args, kwargs, out: labels.append(kwargs["class_labels"].tolist()), with_kwargs=True)
    out = sampler.predict(_batch([1, 2]), torch.tensor([0, 1]))
    assert sampler.backbone.null_class == 5 and tuple(out["image"].shape) == (2, 8, 8, 3)  # VAE x2
    timesteps = sampler.backbone.diffusion.timestep_map.tolist()
    guided = sampler.schedule.guided_indices(timesteps)
    assert labels.count([5, 5]) == len(guided) == out["extra_forwards"][0]
    assert labels.count([1, 2]) == 12
    assert sampler.provenance()["schedule"]["index_convention"] == "dit_script"


@EXTRACTORS.register_module(force=True)
class MeanIntensityFeatures(ImageFeatureExtractor):
    """Two numbers per image of any size, mean and spread (the SD test scores only the sampling cost)."""

    def to(self, device):
        return self

    def __call__(self, images):
        flat = images.float().flatten(1) / 255
        pool = torch.stack([flat.mean(1), flat.std(1)], 1)
        return {"pool": pool, "logits": pool}

    def describe(self):
        return {"name": "mean and spread", "weights_sha256": "none", "resize": "none"}


def test_stable_diffusion_through_the_generation_runner(tmp_path):
    pytest.importorskip("transformers")
    from sd_fixture import write_tiny_stable_diffusion

    folder = write_tiny_stable_diffusion(tmp_path / "sd_models")
    (tmp_path / "prompts.txt").write_text("a cat\na red dog\n")
    path = tmp_path / "sd.py"
    path.write_text(f"""
dataset = dict(type="GenerationRequests", num_samples=4, prompts_file={str(tmp_path / 'prompts.txt')!r},
               samples_per_prompt=2)
method = dict(type="CompressGuidanceSampler", respacing="6", rounding="nearest",
              backbone=dict(type="stable_diffusion", model={str(folder)!r}),
              guidance=dict(type="cfg", scale=5.0, schedule=dict(kind="compress", skip=3, k=2)))
task = dict(type="generation", extractor=dict(type="MeanIntensityFeatures"), image_format=None,
            reference=dict(dataset=dict(type="Digits", split="train"), limit=20),
            reference_cache={str(tmp_path / 'references')!r}, metrics=[dict(type="SamplingCost", per_samples=4)])
run = dict(device="cpu", batch_size=3)
""")
    run_dir = evaluate(load_config(path, {"run.work_dir": str(tmp_path / "run")}), wandb_mode="disabled",
                       progress=False)
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert metrics["guided steps"] == 4 and metrics["slot steps"] == 2 and metrics["model forwards"] == 6
    assert metrics["extra forwards"] == 4


def test_errors(tiny_ddpm_folder):
    with pytest.raises(ValueError, match="guidance.type"):
        CompressGuidanceSampler(backbone=dict(type="adm"), guidance=dict(type="clip"))
    with pytest.raises(ValueError, match="needs 'classifier'"):
        CompressGuidanceSampler(backbone=dict(type="adm"), guidance=dict(type="classifier", scale=1.0))
    sampler = CompressGuidanceSampler(backbone=dict(type="diffusers_unet", model=str(tiny_ddpm_folder)),
                                      guidance=dict(type="none"))
    with pytest.raises(ValueError, match="trains a classifier given by 'flags'"):
        sampler.fit([], None, Path("unused"), torch.device("cpu"), epochs=1)
    typo = CompressGuidanceSampler(backbone=dict(type="diffusers_unet", model=str(tiny_ddpm_folder)),
                                   guidance=dict(type="cfg", scale=2.0, unconditional="null_class", varient="x"))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['varient'\]"):
        typo.setup(torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown backbone type"):
        CompressGuidanceSampler(backbone=dict(type="glide"), guidance=dict(type="none")).setup(torch.device("cpu"))
