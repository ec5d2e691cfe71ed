"""The Counterfactual method: its train stage scores generated queries with the attribution method, removes each
query's top-k (and k random) training digits, retrains with the full model's recipe and seed, regenerates with the
query's noise seed, resumes without retraining, and its eval stage reads the L2 changes by query id."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.methods.das.counterfactual import Counterfactual
from bench.registry import DATASETS
from bench.seeding import sample_seed
from bench.tasks.attribution.counterfactual import CounterfactualEdits, random_removals, top_k_removals

TRAIN = dict(type="Digits2", split="train", size=8, train_size=12, val_size=6)
UNET = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
            down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
            norm_num_groups=4)
SCHEDULER = dict(num_train_timesteps=50, beta_schedule="linear", beta_start=1e-3, beta_end=0.2, clip_sample=False)
RECIPE = dict(epochs=1, batch_size=8, lr=1e-3, seed=4)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The full-data model as train_ddpm writes it (an untrained UNet here) with its recorded recipe."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cf_model") / "model"
    DDPMPipeline(unet=UNet2DModel(**UNET), scheduler=DDPMScheduler(**SCHEDULER)).save_pretrained(folder)
    (folder / "training.json").write_text(json.dumps({"checkpoint": "final.pt", **RECIPE}))
    return folder


def _method(model_dir, tmp_path, **overrides):
    attribution = dict(type="DataAttribution", train_set=TRAIN, unet_config=UNET, train_scheduler=SCHEDULER,
                       method="dtrak", lam=0.5, num_timesteps=2, k=16, chunk_size=12, batch_size=6,
                       feature_cache=str(tmp_path / "cache"))
    options = dict(k=3, num_queries=2, sampler=dict(type="DDIMScheduler"), num_inference_steps=3, **overrides)
    return Counterfactual(attribution=attribution, model=str(model_dir), **options)


def test_fit_removes_each_querys_top_k_and_random_digits_and_eval_reads_the_l2(model_dir, tmp_path, monkeypatch):
    import bench.methods.das.retrain as retrain

    train_set = DATASETS.build(TRAIN)
    method = _method(model_dir, tmp_path)
    seen = []
    real = retrain.train_seeded

    def recording(unet_config, scheduler_config, subset, seed, entry, device, **kwargs):
        seen.append((entry.name, list(subset.indices), seed, kwargs))
        return real(unet_config, scheduler_config, subset, seed, entry, device, **kwargs)

    monkeypatch.setattr(retrain, "train_seeded", recording)
    folder = method.fit(train_set, None, tmp_path / "work", torch.device("cpu"), **RECIPE)
    artefact = CounterfactualEdits.open(folder)
    summary = json.loads((tmp_path / "work" / "counterfactual_summary.json").read_text())
    assert artefact.kinds == ["dtrak", "random"] and summary["remaining"] == 0 and summary["lambda"] == 0.5
    assert (artefact.removals("dtrak") == top_k_removals(np.array(summary["scores"]), 3)).all()
    assert (artefact.removals("random") == random_removals(2, 12, 3, seed=0)).all()
    assert artefact.manifest["random_seed"] == 0 and artefact.manifest["train_seed"] == 4
    assert artefact.manifest["query_seeds"] == [sample_seed(0, "000000"), sample_seed(0, "000001")]  # a run's seeds
    assert [name for name, *_ in seen] == ["dtrak-0000", "dtrak-0001", "random-0000", "random-0001"]
    entries = [("dtrak", 0), ("dtrak", 1), ("random", 0), ("random", 1)]
    for (_, kept, seed, kwargs), (kind, query) in zip(seen, entries, strict=True):
        assert kept == sorted(set(range(12)) - set(artefact.removals(kind)[query].tolist())) and seed == 4
        assert kwargs == {"resume": True, "epochs": 1, "batch_size": 8, "lr": 1e-3}
    # a rerun resumes: nothing is retrained
    monkeypatch.setattr(retrain, "train_seeded", lambda *a, **k: pytest.fail("retrained a stored entry"))
    assert _method(model_dir, tmp_path).fit(train_set, None, tmp_path / "work", torch.device("cpu"), **RECIPE) == folder
    method.use_checkpoint(folder)
    method.setup(torch.device("cpu"))
    outputs = method.predict({"sample_id": ["000001", "000000"]}, torch.zeros(2))
    assert outputs["l2_topk"].tolist() == artefact.l2("dtrak")[[1, 0]].tolist()
    assert outputs["l2_random"].tolist() == artefact.l2("random")[[1, 0]].tolist()
    assert (artefact.l2("dtrak") > 0).all()  # one epoch of training moves the untrained model's samples
    with pytest.raises(ValueError, match=r"1 rows are not queries of .*GenerationRequests\(num_samples=2\)"):
        method.predict({"sample_id": ["000002"]}, torch.zeros(1))


def test_a_recipe_other_than_the_full_models_and_bad_settings_are_clear_errors(model_dir, tmp_path):
    train_set = DATASETS.build(TRAIN)
    with pytest.raises(ValueError, match=r"differs from the full model's recipe .*training.json\) in \['epochs'\]"):
        _method(model_dir, tmp_path).fit(train_set, None, tmp_path / "w", torch.device("cpu"),
                                         **{**RECIPE, "epochs": 2})
    with pytest.raises(ValueError, match="attribution must be a DataAttribution method section"):
        Counterfactual(attribution="upstream:attribution.method", model="m", k=3)
    with pytest.raises(ValueError, match=r"attribution section lacks \['unet_config', 'train_scheduler'\]"):
        Counterfactual(attribution=dict(type="DataAttribution", model="m"), model="m", k=3)
    with pytest.raises(ValueError, match=r"recipe section lacks \['train_scheduler'\].*upstream:<model>.method"):
        Counterfactual(attribution=dict(type="DataAttribution", model="m"), model="m", k=3,
                       recipe=dict(type="DiffusionSampler", unet_config=dict(sample_size=8)))
    # the recipe of a model config's DiffusionSampler section wins over the attribution section's
    recipe = dict(type="DiffusionSampler", unet_config=dict(sample_size=8), train_scheduler=dict(beta_end=0.2))
    built = Counterfactual(attribution=dict(type="DataAttribution", model="m", unet_config=dict(sample_size=16),
                                            train_scheduler=dict(beta_end=0.1)), model="m", k=3, recipe=recipe)
    assert built.recipe == {"unet_config": {"sample_size": 8}, "train_scheduler": {"beta_end": 0.2}}


def test_eval_with_clip_reports_the_cosine_of_original_and_regenerated_embeddings(model_dir, tmp_path):
    from clip_fixture import TINY, reference_embeddings, write_tiny_clip

    originals = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    moved = (originals + 0.4 * torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    artefact = CounterfactualEdits.create(
        tmp_path / "cf", originals=originals.numpy(), query_ids=["000000", "000001"], query_seeds=[1, 2],
        removals={"dtrak": [[0], [1]], "random": [[2], [3]]}, num_train=12, train_fingerprint="fp",
        training_config_sha256="x", random_seed=0)
    for q in range(2):
        artefact.write("dtrak", q, moved[q].numpy())
        artefact.write("random", q, originals[q].numpy())  # unchanged: similarity 1
    clip = dict(type="CLIPScoreFeatures", checkpoint=str(write_tiny_clip(tmp_path / "clip.bin")), model_cfg=TINY)
    method = _method(model_dir, tmp_path, clip=clip)
    method.setup_untrained(torch.device("cpu"))
    untrained = method.predict({"sample_id": ["000000"]}, torch.zeros(1))
    assert sorted(untrained) == ["clip_random", "clip_topk", "l2_random", "l2_topk"]
    method.use_checkpoint(artefact.folder)
    method.setup(torch.device("cpu"))
    outputs = method.predict({"sample_id": ["000001", "000000"]}, torch.zeros(2))
    expected = (reference_embeddings(moved) * reference_embeddings(originals)).sum(dim=1).double()
    assert torch.allclose(outputs["clip_topk"], expected[[1, 0]], atol=1e-6) and (expected < 0.9999).all()
    assert torch.allclose(outputs["clip_random"], torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert outputs["l2_random"].tolist() == [0.0, 0.0]
    assert method.provenance()["clip_similarity"]["weights_sha256"] == method.clip_facts["weights_sha256"]
    assert _method(model_dir, tmp_path).provenance()["clip_similarity"].startswith("not measured")
    missing = _method(model_dir, tmp_path, clip={**clip, "checkpoint": str(tmp_path / "none.bin")})
    missing.use_checkpoint(artefact.folder)
    with pytest.raises(FileNotFoundError, match=r"CLIP checkpoint not found: .*none\.bin"):
        missing.setup(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"clip must be an image extractor spec with a 'type'"):
        _method(model_dir, tmp_path, clip="ViT-B-32")


def test_demo_configs_share_the_artefact_and_differ_in_their_attribution():
    from bench.config import configs_root, load_config, to_plain
    from bench.upstream import validate_section

    configs = {m: load_config(configs_root() / f"demo/full/das_3_counterfactual_{m}.py") for m in ("das", "dtrak")}
    for name, cfg in configs.items():
        validate_section(cfg, name)
        assert to_plain(cfg.upstream) == {"attribution": {"config": f"demo/full/das_1_{name}", "product": "run"},
                                          "model": {"config": "demo/full/das_0_model", "product": "checkpoint"}}
        assert cfg.method.recipe == "upstream:model.method" and cfg.method.model == "upstream:model"
        assert cfg.method.k == 24 and cfg.method.num_queries == cfg.dataset.num_samples == 8
        assert cfg.task.type == "attribution_counterfactual" and cfg.train.epochs == 40
    assert configs["das"].method.artefact_dir == configs["dtrak"].method.artefact_dir


def test_cifar2_configs_fill_the_papers_cells_with_dtraks_protocol(model_dir):
    """CIFAR-2's counterfactual (D-TRAK's run_counter.sh): k = 1000 of 5000, 60 queries, DDIM 50 steps, the full
    model's recipe and seed (so the recipe check passes), CLIP ViT-B/32 similarity, and the L2 cell read at D-TRAK's
    [-1, 1] pixel scale; each builds once its upstream sections are substituted."""
    from bench.config import configs_root, load_config, to_plain
    from bench.registry import METHODS, TASKS
    from bench.results import paper_cells
    from bench.upstream import check_graph, validate_section

    model = load_config(configs_root() / "das/cifar2_model.py")
    configs = {m: load_config(configs_root() / f"das/counterfactual_cifar2_{m}.py") for m in ("das", "dtrak")}
    for name, cfg in configs.items():
        validate_section(cfg, name)
        check_graph(cfg, name)
        assert to_plain(cfg.upstream) == {"attribution": {"config": f"das/lds_cifar2_{name}", "product": "run"},
                                          "model": {"config": "das/cifar2_model", "product": "checkpoint"}}
        assert to_plain(cfg.train) == to_plain(model.train)  # the full model's recipe, seed 42 included
        assert (cfg.method.k, cfg.method.num_queries, cfg.dataset.num_samples) == (1000, 60, 60)
        assert (cfg.method.num_inference_steps, cfg.method.sampler.type) == (50, "DDIMScheduler")
        assert cfg.method.clip.model_name == "ViT-B-32" and cfg.method.clip.tag == "openai"
        attribution = load_config(configs_root() / f"das/lds_cifar2_{name}.py")
        method = METHODS.build({**to_plain(cfg.method), "attribution": to_plain(attribution.method),
                                "model": str(model_dir), "recipe": to_plain(model.method)})
        assert method.recipe == {"unet_config": to_plain(model.method.unet_config),
                                 "train_scheduler": to_plain(model.method.train_scheduler)}
        task = TASKS.build(to_plain(cfg.task))
        values = task.evaluate({"l2_topk": torch.tensor([5.0, 6.0]), "l2_random": torch.tensor([4.0, 4.0]),
                                "clip_topk": torch.tensor([0.7, 0.8]), "clip_random": torch.tensor([0.9, 0.9])})
        cells = {cell["metric"]: cell["value"] for cell in paper_cells(to_plain(cfg.paper), values)}
        assert cells == pytest.approx({"L2 change": 11.0, "CLIP similarity": 0.75})  # L2 over [-1, 1]: twice ours
    assert configs["das"].method.artefact_dir == configs["dtrak"].method.artefact_dir  # one random control


def test_demo_summary_adds_the_counterfactual_when_both_runs_exist():
    from bench.methods.das.demo import summarize

    lds = {stem.format(m): {"metrics": {"LDS": v, "LDS_stderr": 1.0}}
           for stem in ("das_1_{}", "das_2_{}_gen") for m, v in (("trak", 10), ("dtrak", 15), ("das", 25))}
    assert "Counterfactual" not in summarize(lds).sentence
    runs = {**lds, "das_3_counterfactual_das": {"metrics": {"l2_topk": 0.9, "l2_random": 0.5, "topk_beats_random": 1}},
            "das_3_counterfactual_dtrak": {"metrics": {"l2_topk": 0.7, "l2_random": 0.5, "topk_beats_random": 0.75}}}
    summary = summarize(runs)
    assert set(summary.headline) == {"val LDS DAS", "val DAS − D-TRAK", "gen LDS DAS", "gen DAS − D-TRAK"}
    assert ("L2 change DAS 0.900, D-TRAK 0.700, k random digits 0.500 (top-k beats random on 100% / 75% of the "
            "queries; paper, CIFAR-2: DAS 10.58, D-TRAK 8.97)") in summary.sentence
