"""D-TRAK's generated ArtBench queries (methods/das/generation.py): the LoRA sampler seeds each image by its index as
D-TRAK's gen_text_to_image_lora.py does, a generation run's prompts come back as the queries' captions
(GeneratedImages), the ground truth's gen losses are the caption-conditioned latent losses, and the ArtBench gen
configs follow D-TRAK and keep the upstream graph acyclic."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("peft")

from sd_fixture import write_tiny_artbench, write_tiny_stable_diffusion  # noqa: E402

from bench.methods.das.generation import LoRATextToImageSampler  # noqa: E402

CPU = torch.device("cpu")
PROMPTS = ["a ukiyo e painting", "a post impressionism painting"]
LORA_FAST = dict(epochs=1, batch_size=4, lr=3e-3, lr_schedule="constant", warmup_fraction=0.0)


@pytest.fixture(scope="module")
def sd_lora(tmp_path_factory):
    """A tiny Stable Diffusion folder and a rank-4 LoRA folder (peft keys, safetensors) whose ``lora_B`` are non-zero,
    so the adapters change what is sampled."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    from bench.methods.das.latent_model import load_latent_model

    root = tmp_path_factory.mktemp("sd")
    sd = write_tiny_stable_diffusion(root)
    model = load_latent_model(sd, lora_rank=4, lora_seed=1)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.unet.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
    folder = root / "lora"
    folder.mkdir()
    save_file({f"unet.{k}": v.contiguous() for k, v in get_peft_model_state_dict(model.unet).items()},
              str(folder / "pytorch_lora_weights.safetensors"))
    return sd, folder


def _sampler(sd: Path, lora: Path | None, **overrides) -> LoRATextToImageSampler:
    settings = dict(model=str(sd), lora_weights=None if lora is None else str(lora), lora_rank=4,
                    num_inference_steps=3, resolution=16, dtype="fp32")
    return LoRATextToImageSampler(**{**settings, **overrides})


def test_image_i_is_dtraks_pipeline_call_seeded_index_seeds_plus_i_whatever_the_batch(sd_lora):
    sd, lora = sd_lora
    sampler = _sampler(sd, lora, index_seeds=1000)  # D-TRAK's gen_seed 1: image i seeded 1 * 1000 + i
    sampler.setup(CPU)
    prompts = [PROMPTS[0], PROMPTS[0], PROMPTS[1]]
    out = sampler.predict({"prompt": prompts, "index": torch.arange(3)}, torch.zeros(3))
    assert out["image"].shape == (3, 16, 16, 3) and out["image"].dtype == torch.uint8 and out["prompt"] == prompts
    alone = sampler.predict({"prompt": [PROMPTS[1]], "index": torch.tensor([2])}, torch.zeros(1))
    assert torch.equal(alone["image"][0], out["image"][2])  # the same image in a batch of 3 and alone
    assert not torch.equal(out["image"][0], out["image"][1])  # same prompt, another seed
    # D-TRAK's call on the same weights: a CPU generator per image, eta 0, the default guidance, PIL output
    reference = sampler.pipe([PROMPTS[1]], height=16, width=16, num_inference_steps=3, eta=0.0,
                             generator=[torch.Generator("cpu").manual_seed(1 * 1000 + 2)]).images[0]
    assert np.array_equal(np.asarray(reference), out["image"][2].numpy())
    assert sampler.provenance()["noise_seeds"] == "index_seeds + dataset index (1000 + i), CPU generator"
    assert sampler.provenance()["lora"]["lora_sha256"] and sampler.provenance()["guidance_scale"] == 7.5

    base = _sampler(sd, None, index_seeds=1000)
    base.setup_untrained(CPU)  # the adapters as initialised (lora_B = 0): the base model, not the fine-tune
    untrained = base.predict({"prompt": prompts, "index": torch.arange(3)}, torch.zeros(3))
    assert not torch.equal(untrained["image"], out["image"])
    with pytest.raises(ValueError, match="needs a prompt per request: use GenerationRequests with prompts="):
        sampler.predict({"index": torch.arange(1)}, torch.zeros(1))
    with pytest.raises(RuntimeError, match="no LoRA weights; run the config's train stage"):
        _sampler(sd, None).setup(CPU)
    with pytest.raises(ValueError, match="resolution must be a positive multiple of 8"):
        _sampler(sd, lora, resolution=250)


@pytest.fixture(scope="module")
def gen_run(sd_lora, tmp_path_factory):
    """A finished generation run of 4 images (2 per prompt, D-TRAK's blocks) from the tiny LoRA, in batches of 3."""
    from bench.config import load_config
    from bench.runner import evaluate

    sd, lora = sd_lora
    root = tmp_path_factory.mktemp("gen")
    path = root / "gen.py"
    path.write_text(
        f"dataset = dict(type='GenerationRequests', num_samples=4, prompts={PROMPTS!r}, samples_per_prompt=2)\n"
        f"method = dict(type='LoRATextToImageSampler', model={str(sd)!r}, lora_weights={str(lora)!r}, lora_rank=4,\n"
        "              num_inference_steps=3, resolution=16, dtype='fp32', index_seeds=0)\n"
        "task = dict(type='generation', extractor=dict(type='PixelCorrelationFeatures'), metrics=[],\n"
        "            image_format='png')\n"
        "run = dict(device='cpu', batch_size=3)\n")
    return evaluate(load_config(path, {"run.work_dir": str(root / "run")}), wandb_mode="disabled", progress=False)


def test_a_generation_run_serves_its_prompts_as_the_queries_captions(gen_run, sd_lora):
    from bench.datasets.generation import GeneratedImages

    images = GeneratedImages(str(gen_run))
    assert [images.sample_id(i) for i in range(4)] == ["gen-0", "gen-1", "gen-2", "gen-3"]
    assert [images[i]["caption"] for i in range(4)] == [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]
    assert images.describe()["captions"] == sorted(PROMPTS)
    assert images.describe()["sampler"]["guidance_scale"] == 7.5
    sampler = _sampler(*sd_lora, index_seeds=0)
    sampler.setup(CPU)
    direct = sampler.predict({"prompt": [PROMPTS[1]], "index": torch.tensor([3])}, torch.zeros(1))["image"][0]
    assert torch.equal((images[3]["image"] * 255).round().to(torch.uint8).permute(1, 2, 0), direct)
    before = images.fingerprint()
    images.captions = [PROMPTS[1]] * 4  # the same pixels under other captions are another query set
    assert images.fingerprint() != before


def test_ground_truth_gen_losses_are_the_caption_conditioned_latent_losses(gen_run, sd_lora, tmp_path):
    from bench.datasets.generation import GeneratedImages
    from bench.methods.das.features import encode_latent_batch
    from bench.methods.das.latent_model import load_latent_model
    from bench.methods.das.retrain import LDSGroundTruth
    from bench.registry import DATASETS
    from bench.tasks.attribution.ground_truth import RetrainedLosses, diffusion_losses
    from bench.tasks.attribution.retrain import entry_dir

    sd, _ = sd_lora
    root = write_tiny_artbench(tmp_path / "artbench", train_per_style=4, test_per_style=2)
    data = dict(type="ArtBench", root=str(root), subset="artbench2", size=16, train_size=8, val_size=2)
    gen_spec = dict(type="GeneratedImages", run_dir=str(gen_run))
    method = LDSGroundTruth(pipeline="stable_diffusion", model=str(sd), lora_rank=4, num_subsets=1, seeds=(3,),
                            query_sets=dict(val={**data, "split": "val"}, gen=gen_spec),
                            protocol=dict(timesteps=10, batch_size=2), keep_models=True, query_set="gen")
    folder = method.fit(DATASETS.build({**data, "split": "train"}), None, tmp_path / "train", CPU, **LORA_FAST)
    artefact = RetrainedLosses.open(folder)
    gen = GeneratedImages(str(gen_run))
    assert artefact.query_ids("gen") == [f"gen-{i}" for i in range(4)] and artefact.losses("gen").shape == (1, 1, 4)
    assert artefact.manifest["query_sets"]["gen"]["fingerprint"] == gen.fingerprint()

    model = load_latent_model(sd, entry_dir(tmp_path / "train" / "entries", 0, 3) / "lora", lora_rank=4)
    images = torch.stack([gen[i]["image"] for i in range(len(gen))])

    def losses(captions: list[str]) -> np.ndarray:
        with torch.no_grad():
            batch = encode_latent_batch(model.vae, model.tokenizer, model.text_encoder, images, captions)
        return diffusion_losses(model.unet, model.scheduler, batch, timesteps=range(10), noise_seed=0, batch_size=2)

    np.testing.assert_allclose(artefact.losses("gen")[0, 0], losses([gen[i]["caption"] for i in range(4)]), rtol=1e-5)
    assert not np.allclose(artefact.losses("gen")[0, 0], losses([PROMPTS[0]] * 4))  # the caption conditions it
    method.use_checkpoint(folder)
    method.setup(CPU)
    out = method.predict({"sample_id": ["gen-3", "gen-0"]}, torch.zeros(2))
    np.testing.assert_allclose(out["loss_mean"].numpy(), artefact.mean_losses("gen")[:, [3, 0]].mean(axis=0))


# ------------------------------------------------------------------------------------------------------- configs
DTRAK_PROMPTS = {"2": ["a ukiyo e painting", "a post impressionism painting"],
                 "5": ["a ukiyo e painting", "a post impressionism painting", "a romanticism painting",
                       "a renaissance painting", "a baroque painting"]}


def test_artbench_gen_configs_follow_dtrak_and_the_graph_has_no_cycle():
    """artbench<n>_gen trains the full-data LoRA (D-TRAK's recipe) and samples D-TRAK's 1,000 prompts and seeds; the
    ground truth holds its images as the "gen" set; every attribution config attributes that LoRA, the *_gen ones
    score the gen set with the val configs' settings."""
    from bench.config import load_config, to_plain
    from bench.methods.das.lora_train import LORA_RECIPE, lora_recipe
    from bench.registry import DATASETS, METHODS, TASKS
    from bench.upstream import check_graph

    for n, per_prompt in (("2", 500), ("5", 200)):
        gen = load_config(f"das/artbench{n}_gen")
        requests = DATASETS.build(to_plain(gen.dataset))
        assert len(requests) == 1000
        assert [requests[i]["prompt"] for i in range(0, 1000, per_prompt)] == DTRAK_PROMPTS[n]
        assert requests[per_prompt - 1]["prompt"] == DTRAK_PROMPTS[n][0]
        sampler = METHODS.build(to_plain(gen.method))
        assert (sampler.scheduler_name, sampler.num_inference_steps, sampler.guidance_scale, sampler.eta,
                sampler.resolution, sampler.dtype, sampler.index_seeds, sampler.lora_rank) == (
            "DDIMScheduler", 50, 7.5, 0.0, 256, "fp16", 0, 128)
        TASKS.build(to_plain(gen.task))
        recipe = {k: v for k, v in to_plain(gen.train).items() if k != "dataset"}
        assert lora_recipe(recipe) == lora_recipe({**LORA_RECIPE, "seed": 42})  # D-TRAK's, full-data seed 42
        assert gen.train.dataset.subset == f"artbench{n}" and gen.train.dataset.split == "train"

        truth = load_config(f"das/lds_artbench{n}_groundtruth")
        assert to_plain(truth.method.query_sets.gen) == {"type": "GeneratedImages", "run_dir": "upstream:gen"}
        assert to_plain(truth.upstream) == {"gen": {"config": f"das/artbench{n}_gen", "product": "run"}}
        assert sorted(METHODS.build(to_plain(truth.method)).query_set_specs) == ["gen", "heldout", "val"]
        check_graph(truth, f"das/lds_artbench{n}_groundtruth")
        for m in ("trak", "dtrak", "das"):
            val, on_gen = load_config(f"das/lds_artbench{n}_{m}"), load_config(f"das/lds_artbench{n}_{m}_gen")
            for cfg in (val, on_gen):
                assert cfg.method.lora_weights == "upstream:model" and not cfg.get("train")
                assert to_plain(cfg.upstream.model) == {"config": f"das/artbench{n}_gen", "product": "checkpoint"}
                check_graph(cfg, f"das/lds_artbench{n}_{m}")
            assert to_plain(on_gen.dataset) == {"type": "GeneratedImages", "run_dir": "upstream:gen"}
            assert to_plain(on_gen.task.metrics) == [
                {"type": "LDS", "retrained_losses": "upstream:groundtruth", "query_set": "gen"}]
            assert to_plain(on_gen.method.lambda_selection.test) == {"query_set": "gen", "queries": {
                "type": "GeneratedImages", "run_dir": "upstream:gen"}}
            same = {k: v for k, v in to_plain(val.method).items() if k != "lambda_selection"}
            assert {k: v for k, v in to_plain(on_gen.method).items() if k != "lambda_selection"} == same
            assert to_plain(on_gen.method.lambda_selection)["query_set"] == "heldout"  # λ on held-out real images
            assert not on_gen.get("paper")  # no reported gen cell matches this protocol


def test_validate_names_the_missing_gen_run_lora_and_sd_folder(tmp_path, monkeypatch):
    from bench.config import load_config
    from bench.data import DatasetLayoutError
    from bench.methods.diffusion.stable_diffusion import PipelineLayoutError
    from bench.runner import validate
    from bench.upstream import UpstreamError

    monkeypatch.chdir(tmp_path)  # the configs' relative data and checkpoint paths: nothing there
    with pytest.raises(UpstreamError, match=r"upstream 'gen': no finished run of 'das/artbench2_gen' .* produce it "
                                            r"with `bench run das/artbench2_gen`"):
        validate(load_config("das/lds_artbench2_groundtruth"))
    with pytest.raises(UpstreamError, match=r"upstream 'gen': no finished run of 'das/artbench5_gen'"):
        validate(load_config("das/lds_artbench5_das_gen"))  # the ground truth's own upstream comes first
    with pytest.raises(DatasetLayoutError, match=r"ArtBench-10.csv"):
        validate(load_config("das/artbench2_gen"))
    root = write_tiny_artbench(tmp_path / "data" / "artbench", train_per_style=2, test_per_style=1)
    small = {"dataset.num_samples": 2, "train.dataset.train_size": 4, "train.dataset.size": 16,
             "train.dataset.root": str(root), "run.device": "cpu"}
    with pytest.raises(PipelineLayoutError, match=r"folder not found\n  path: checkpoints/das/miniSD-diffusers"):
        validate(load_config("das/artbench2_gen", small))
