"""The DataAttribution adapter: its scores are the scores module's on directly computed features, λ is the held-out
argmax, the feature store resumes across setups, bad input is a clear error, the configs validate, and the demo
summary says which method wins."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.methods.das.adapter import DataAttribution
from bench.methods.das.features import build_projector, per_sample_features, select_parameters, train_residuals
from bench.methods.das.scores import attribution_scores
from bench.registry import DATASETS, EXTRACTORS
from bench.tasks.attribution.ground_truth import RetrainedLosses
from bench.tasks.attribution.lds import linear_datamodel_score
from bench.tasks.attribution.subsets import sample_subsets

SPLIT = dict(type="Digits2", train_size=12, val_size=6)  # 12 training digits, 6 val, the rest test
HELDOUT = dict(type="Digits2", train_size=12, val_size=12, split="val")  # minus the 6 eval digits: held out
SMALL_SPLIT = "train_size=12, val_size=6"  # the same split, written into a config file
SMALL = dict(num_timesteps=2, k=32, residual_timesteps=4, chunk_size=4, batch_size=4)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny UNet2DModel pipeline folder (1 channel, 16 px, one attention block), as train_ddpm writes them."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4)
    folder = tmp_path_factory.mktemp("das_model") / "model"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)
    return folder


def _images(spec):
    dataset = DATASETS.build(spec)
    return dataset, torch.stack([dataset[i]["image"] for i in range(len(dataset))])


def _adapter(model_dir, tmp_path, **kwargs):
    options = {"method": "das1", "lam": 0.5, **SMALL, **kwargs}
    return DataAttribution(train_set={**SPLIT, "split": "train"}, model=str(model_dir),
                           feature_cache=str(tmp_path / "cache"), **options)


def _direct_features(adapter, images, normalize, output, noise_batch):
    """Features computed without the store: per_sample_features, then a fresh projector of the same seed."""
    grads = per_sample_features(adapter.unet, adapter.scheduler, images, timesteps=[0, 500], output=output,
                                normalize=normalize, noise_batch=noise_batch)
    dim = sum(p.numel() for p in select_parameters(adapter.unet).values())
    return build_projector(dim, 32, seed=42, backend="basic").project(grads)


@pytest.mark.parametrize("method, output, normalize, noise_batch", [
    ("trak", "mse", False, 52), ("dtrak", "mean-squared-l2-norm", False, 52), ("das0", "mean", True, 16)])
def test_predict_equals_attribution_scores_on_direct_features(model_dir, tmp_path, method, output, normalize,
                                                              noise_batch):
    adapter = _adapter(model_dir, tmp_path, method=method)
    assert (adapter.settings.output, adapter.settings.normalize, adapter.settings.noise_batch) == \
        (output, normalize, noise_batch)  # each method's code defaults
    adapter.setup(torch.device("cpu"))
    _, train = _images({**SPLIT, "split": "train"})
    _, val = _images({**SPLIT, "split": "val"})
    with torch.inference_mode():  # as the runner predicts
        out = adapter.predict({"image": val[:4], "index": torch.arange(4)}, torch.zeros(4))
    phi = _direct_features(adapter, train, normalize, output, noise_batch)
    queries = _direct_features(adapter, val[:4], normalize, output, noise_batch)
    residuals = train_residuals(adapter.unet, adapter.scheduler, train, num_timesteps=4) \
        if method.startswith("das") else None
    expected = attribution_scores(queries, phi, method, 0.5, residuals)
    assert out["scores"].dtype == torch.float32 and out["scores"].shape == (4, 12)
    torch.testing.assert_close(out["scores"].double(), expected, rtol=2e-4, atol=1e-5)
    assert out["lambda"].tolist() == [0.5] * 4
    provenance = adapter.provenance()
    assert provenance["features"]["complete"] and provenance["settings"]["k"] == 32
    assert provenance["lambda_selection"] == "fixed" and provenance["residual_timesteps"] == (
        4 if method.startswith("das") else None)


def _ground_truth(folder, train, query_sets):
    """A RetrainedLosses artefact with 8 subsets × 1 seed: each query's loss falls with the number of its
    class-mates a subset keeps, plus seeded noise (a linear datamodel with a known signal)."""
    masks = sample_subsets(len(train), 8, alpha=0.5, seed=42, labels=train.targets.numpy())
    specs = {name: {"sample_ids": [ds.sample_id(i) for i in range(len(ds))]} for name, ds in query_sets.items()}
    artefact = RetrainedLosses.create(folder, masks=masks, seeds=[0], alpha=0.5, train_fingerprint=train.fingerprint(),
                                      query_sets=specs, training_config_sha256="test")
    rng = np.random.default_rng(0)
    same = {name: (ds.targets.numpy()[None, :] == train.targets.numpy()[:, None]).astype(float)
            for name, ds in query_sets.items()}
    for s in range(8):
        artefact.write(s, 0, {name: -(masks[s] @ same[name]) * 0.01 + rng.normal(0, 0.01, len(ds))
                              for name, ds in query_sets.items()})
    return artefact


def test_lambda_selection_picks_the_heldout_argmax_and_records_best_over_grid(model_dir, tmp_path):
    train, train_images = _images({**SPLIT, "split": "train"})
    val, val_images = _images({**SPLIT, "split": "val"})
    wide, wide_images = _images(HELDOUT)
    eval_ids = {val.sample_id(i) for i in range(len(val))}
    keep = [i for i in range(len(wide)) if wide.sample_id(i) not in eval_ids]
    artefact = _ground_truth(tmp_path / "gt", train, {"val": val, "wide": wide})
    grid = (0.01, 1.0, 100.0, 1e4)
    adapter = _adapter(model_dir, tmp_path, method="dtrak", lam=None, lambda_selection=dict(
        retrained_losses=str(artefact.folder), query_set="wide", queries=HELDOUT, exclude={**SPLIT, "split": "val"},
        grid=grid, test=dict(query_set="val", queries={**SPLIT, "split": "val"})))
    adapter.setup(torch.device("cpu"))

    phi = _direct_features(adapter, train_images, False, "mean-squared-l2-norm", 52)
    masks = artefact.masks()

    def lds_table(features, columns, name):
        losses = artefact.mean_losses(name)[:, columns]
        return [float(np.nanmean(linear_datamodel_score(attribution_scores(features, phi, "dtrak", lam).numpy(),
                                                        masks, losses))) * 100 for lam in grid]

    # the held-out queries' noise rows are their positions in the filtered set (0..5), as the store computes them
    table = lds_table(_direct_features(adapter, wide_images[keep], False, "mean-squared-l2-norm", 52), keep, "wide")
    chosen = adapter.lambda_facts["selected"]
    assert chosen["label"] == "selected on held-out queries" and chosen["num_queries"] == len(keep) == 6
    assert [row[1] for row in chosen["table"]] == pytest.approx(table, abs=1e-3)
    assert adapter.lam == grid[int(np.argmax(table))] == chosen["lambda"]
    test_table = lds_table(_direct_features(adapter, val_images, False, "mean-squared-l2-norm", 52),
                           list(range(len(val))), "val")
    best = adapter.lambda_facts["best_over_grid"]
    assert best["label"] == "selected on test, as published"
    assert best["LDS"] == pytest.approx(max(test_table), abs=1e-3)
    fitted = adapter.fitted_values()
    assert set(fitted) == {"lambda", "LDS_heldout", "LDS_best_over_grid", "lambda_best_over_grid"}
    assert fitted["lambda"] == adapter.lam and fitted["LDS_heldout"] == pytest.approx(max(table), abs=1e-3)
    assert all(math.isfinite(v) for v in fitted.values())


def test_feature_store_resumes_across_two_setups(model_dir, tmp_path, monkeypatch):
    from bench.methods.das import features

    original = features.FeatureStore._project
    calls = []

    def interrupted(self, images, start):
        calls.append(start)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second chunk
        return original(self, images, start)

    monkeypatch.setattr(features.FeatureStore, "_project", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _adapter(model_dir, tmp_path, method="trak").setup(torch.device("cpu"))
    assert calls == [0, 4]
    calls.clear()
    monkeypatch.setattr(features.FeatureStore, "_project", lambda self, images, start: (
        calls.append(start), original(self, images, start))[1])
    resumed = _adapter(model_dir, tmp_path, method="trak")
    resumed.setup(torch.device("cpu"))
    assert calls == [4, 8]  # the first chunk is not recomputed
    fresh = _adapter(model_dir, tmp_path / "other", method="trak")
    fresh.setup(torch.device("cpu"))
    torch.testing.assert_close(resumed.kernel.features, fresh.kernel.features)
    calls.clear()
    _adapter(model_dir, tmp_path, method="dtrak", output="mse", noise_batch=52).setup(torch.device("cpu"))
    assert calls == []  # the same features under another score method: read from the store
    assert resumed.provenance()["features"]["key"] == fresh.provenance()["features"]["key"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(method="das2"), ValueError, r"method 'das2' is not one of \['trak', .*\]\. Did you mean"),
    (dict(lam=None), ValueError, r"give exactly one of 'lam' .* and 'lambda_selection'"),
    (dict(lambda_selection=dict(retrained_losses="x", query_set="val")), ValueError, r"give exactly one of 'lam'"),
    (dict(lam=None, lambda_selection=dict(retrained_losses="x", query_set="val")), ValueError,
     r"lambda_selection needs \['queries'\]"),
    (dict(lam=None, lambda_selection=dict(retrained_losses="x", query_set="v", queries={}, gird=[1.0])), ValueError,
     r"unknown key\(s\) \['gird'\].*Did you mean 'grid'"),
    (dict(parameters="unet"), ValueError, r"parameters must be one of \['all', 'lora'\], got 'unet'"),
    (dict(lam=-1.0), ValueError, r"lam must be a finite λ > 0, got -1\.0"),
    (dict(output="mean-squared"), ValueError, r"model output 'mean-squared' is not one of"),
    (dict(compression=dict(top=0, extractor=dict(type="CLIPScoreFeatures"))), ValueError,
     r"compression\.top must be a positive number of training samples ranked per query .* got 0"),
    (dict(compression=dict(top=True, extractor=dict(type="CLIPScoreFeatures"))), ValueError,
     r"compression\.top must be a positive number .* got True"),
    (dict(compression=dict(top=5)), ValueError, r"compression\.extractor must be an image extractor spec"),
    (dict(compression=dict(top=5, extractor=dict(type="CLIPScoreFeatures"), tpo=3)), ValueError,
     r"compression has unknown key\(s\) \['tpo'\].*Did you mean 'top'"),
])
def test_bad_settings_are_clear_errors(tmp_path, kwargs, error, message):
    options = {"method": "das1", "lam": 1.0, **kwargs}
    with pytest.raises(error, match=message):
        DataAttribution(train_set={**SPLIT, "split": "train"}, model=str(tmp_path), **options)


def test_missing_model_folder_and_foreign_ground_truth_are_clear_errors(model_dir, tmp_path):
    from bench.methods.diffusion.unet import ModelLayoutError

    missing = DataAttribution(train_set={**SPLIT, "split": "train"}, model=str(tmp_path / "nowhere"), lam=1.0)
    with pytest.raises(ModelLayoutError, match=r"model folder not found\n  path: .*nowhere"):
        missing.setup(torch.device("cpu"))
    other, _ = _images({"type": "Digits2", "train_size": 12, "val_size": 6, "split_seed": 1, "split": "train"})
    val, _ = _images({**SPLIT, "split": "val"})
    artefact = _ground_truth(tmp_path / "gt", other, {"val": val})
    adapter = _adapter(model_dir, tmp_path, method="trak", lam=None, lambda_selection=dict(
        retrained_losses=str(artefact.folder), query_set="val", queries={**SPLIT, "split": "val"}))
    with pytest.raises(ValueError, match=r"retrained losses in .*gt were computed for another training set"):
        adapter.setup(torch.device("cpu"))


def test_configs_load_build_and_fill_the_rerun_cells():
    from bench.catalogue import config_cells
    from bench.config import configs_root, load_config, to_plain
    from bench.registry import METHODS, TASKS
    from bench.reported import cell_key

    paths = sorted((configs_root() / "das").glob("*.py")) + sorted(configs_root().glob("demo/full/das_1_*.py"))
    assert len(paths) == 51
    gains = [path for path in paths if path.name.endswith("_gain.py")]  # their own test below
    ground_truths = [path for path in paths if path.name.endswith("_groundtruth.py")]
    assert [path.name for path in ground_truths] == [f"lds_{d}_groundtruth.py" for d in (
        "artbench2", "artbench5", "celeba", "cifar10", "cifar2")]
    # built in the CIFAR / CelebA chain test and in test_das_generation (the ArtBench LoRA and its gen queries)
    models = [path for path in paths if path.name.endswith(("_model.py", "_gen.py")) and "lds_" not in path.name]
    counterfactuals = [path for path in paths if path.name.startswith("counterfactual_")]  # test_das_counterfactual
    assert [path.name for path in models + counterfactuals] == [
        "artbench2_gen.py", "artbench5_gen.py", "celeba_model.py", "cifar10_model.py", "cifar2_model.py",
        "counterfactual_cifar2_das.py",
        "counterfactual_cifar2_dtrak.py"]
    built = {}
    for path in sorted(set(paths) - set(ground_truths) - set(models) - set(counterfactuals) - set(gains)):
        cfg = load_config(path)
        built[path.name, path.parent.name] = METHODS.build(to_plain(cfg.method))
        TASKS.build(to_plain(cfg.task))
    assert {m.method for m in built.values()} == {"trak", "dtrak", "das1"}
    assert built["lds_cifar2_dtrak.py", "das"].settings.k == 32768
    assert built["das_1_das.py", "full"].settings.k == 512
    for data in ("cifar2", "cifar10", "celeba", "artbench2", "artbench5"):
        trak, dtrak, das = (built[f"lds_{data}_{m}.py", "das"] for m in ("trak", "dtrak", "das"))
        assert {m.settings.k for m in (trak, dtrak, das)} == {32768}
        assert (trak.settings.output, dtrak.settings.output, das.settings.output) == (
            "mse", "mean-squared-l2-norm", "mean")
        # the noise pattern of each dataset's official grad batch: D-TRAK CIFAR 52, CelebA 16, ArtBench 32
        assert trak.settings.noise_batch == dtrak.settings.noise_batch == {
            "cifar2": 52, "cifar10": 52, "celeba": 16}.get(data, 32)
        latent = data.startswith("artbench")
        assert {(m.pipeline, m.parameters) for m in (trak, dtrak, das)} == {
            ("stable_diffusion", "lora") if latent else ("ddpm", "all")}
        readers = {"cifar2": "CIFAR2", "cifar10": "CIFAR10Attribution", "celeba": "CelebA"}
        assert das.train_set_spec["type"] == readers.get(data, "ArtBench")
    assert built["lds_artbench5_das.py", "das"].train_set_spec["subset"] == "artbench5"
    assert built["lds_artbench2_das.py", "das"].lora_weights == "upstream:model"  # artbench2_gen trains the LoRA
    for m in ("das", "dtrak"):  # the timestep ablations sweep the full demo's run
        assert to_plain(load_config(configs_root() / f"das/ablation_digits2_{m}.py").sweep) == {
            "grid": {"method.num_timesteps": [1, 10, 100]}}
    compressed = built["lds_cifar2_das_clip1000.py", "das"]  # Table 7's knob on the CIFAR-2 DAS config, no cell
    assert compressed.compression["top"] == 1000 and compressed.compression["extractor"]["model_name"] == "ViT-B-32"
    assert compressed.method == "das1" and compressed.settings == built["lds_cifar2_das.py", "das"].settings
    cells = config_cells("das")
    for data, dataset in (("cifar2", "CIFAR-2"), ("artbench2", "ArtBench-2")):
        for method in ("TRAK", "D-TRAK", "DAS"):
            key = cell_key("lds_rerun_ltw", {"dataset": dataset, "method": method}, "LDS")
            assert cells[key] == (f"das/lds_{data}_{method.lower().replace('-', '')}.py",)
    for split in ("val", "gen"):  # the SNR-LDS README's 100-query "Full LDS": DAS on the full query set
        for data, dataset in (("cifar2", "CIFAR-2"), ("artbench2", "ArtBench-2")):
            key = cell_key("lds_snr_readme", {"dataset": dataset, "split": split}, "LDS")
            assert cells[key] == (f"das/lds_{data}_das{'_gen' if split == 'gen' else ''}_snr_readme.py",)
    for method in ("DAS", "D-TRAK"):
        setting = {"dataset": "CIFAR-2", "method": method, "setting": "remove top-1000 influencers, retrain"}
        for metric in ("L2 change", "CLIP similarity"):
            assert cells[cell_key("counterfactual_cifar2", setting, metric)] == (
                f"das/counterfactual_cifar2_{method.lower().replace('-', '')}.py",)
    for data, dataset in (("cifar2", "CIFAR-2"), ("artbench2", "ArtBench-2"), ("celeba", "CelebA"),
                          ("cifar10", "CIFAR-10"), ("artbench5", "ArtBench-5")):  # DAS's run minus D-TRAK's
        key = cell_key("lds_gain_vs_dtrak", {"dataset": dataset, "split": "val", "method": "DAS"},
                       "LDS gain over D-TRAK")
        assert cells[key] == (f"das/lds_{data}_das_gain.py",)
        cfg = load_config(configs_root() / f"das/lds_{data}_das_gain.py")
        assert to_plain(cfg.upstream.dtrak) == {"config": f"das/lds_{data}_dtrak", "product": "run"}
        assert to_plain(cfg.method) == to_plain(load_config(configs_root() / f"das/lds_{data}_das.py").method)
        TASKS.build(to_plain(cfg.task))
    assert len(cells) == 19  # all but the toy correlation check's two (too vaguely described to configure)


# D-TRAK's recipe (sail-sg/D-TRAK CIFAR2/scripts/run_train.sh + train_unconditional.py), as configs/das/_base_/
# ddpm_recipe.py writes it
DTRAK_RECIPE = dict(epochs=200, batch_size=128, lr=1e-4, lr_schedule="cosine", warmup_fraction=0.1, weight_decay=1e-6,
                    adam_betas=[0.95, 0.999], adam_epsilon=1e-8, max_grad_norm=1.0, random_flip=True, dropout=0.1,
                    seed=42, checkpoint_every=5)


@pytest.mark.parametrize("data,reader,seeds", [("cifar2", "CIFAR2", [0, 1, 2]), ("cifar10", "CIFAR10Attribution", [1]),
                                               ("celeba", "CelebA", [0, 1, 2])])
def test_cifar_and_celeba_chains_train_their_model_and_ground_truth_in_the_harness(data, reader, seeds):
    """The full-data DDPM is <data>_model's train stage (D-TRAK's recipe), whose run samples the 1,000 gen queries;
    the ground truth retrains that UNet by that recipe on 64 half subsets; every attribution config reads both
    through upstreams, and no graph has a cycle."""
    from bench.config import configs_root, load_config, to_plain
    from bench.registry import METHODS, TASKS
    from bench.upstream import check_graph

    model = load_config(configs_root() / f"das/{data}_model.py")
    sampler = METHODS.build(to_plain(model.method))
    assert (type(sampler).__name__, sampler.num_inference_steps, sampler.index_seeds) == ("DiffusionSampler", 50, 0)
    assert to_plain(model.method.scheduler) == {"type": "DDIMScheduler", "clip_sample": True}
    assert model.dataset.num_samples == 1000 and model.task.image_format == "png"
    recipe = {k: v for k, v in to_plain(model.train).items() if k != "dataset"}
    assert recipe == DTRAK_RECIPE and model.train.dataset.type == reader
    assert model.method.unet_config.resnet_time_scale_shift == "scale_shift"  # set by D-TRAK's train script
    assert model.method.unet_config.sample_size == (64 if data == "celeba" else 32)
    truth = load_config(configs_root() / f"das/lds_{data}_groundtruth.py")
    method = METHODS.build(to_plain(truth.method))
    TASKS.build(to_plain(truth.task))
    assert to_plain(truth.method.unet) == to_plain(model.method.unet_config)  # the full model's UNet and schedule
    assert to_plain(truth.method.scheduler) == to_plain(model.method.train_scheduler)
    assert to_plain(truth.train) == to_plain(model.train)  # and recipe (each entry replaces the seed by its own)
    assert (method.num_subsets, method.alpha, method.subset_seed, method.seeds) == (64, 0.5, 42, seeds)
    assert method.stratify_key == (None if data == "celeba" else "target")
    assert method.protocol == {"timesteps": 1000, "noise_seeds": [0], "batch_size": 256}
    assert method.artefact_dir == f"attribution/{data}_lds"
    assert sorted(method.query_set_specs) == ["gen", "heldout", "val"]
    assert method.query_set_specs["gen"] == {"type": "GeneratedImages", "run_dir": "upstream:gen"}
    assert to_plain(truth.upstream) == {"gen": {"config": f"das/{data}_model", "product": "run"}}
    check_graph(truth, truth.name)
    heldout = method.query_set_specs["heldout"]
    for m in ("trak", "dtrak", "das") + (("das_clip1000", "trak_gen", "dtrak_gen", "das_gen") if data == "cifar2"
                                         else ()):
        cfg = load_config(configs_root() / f"das/lds_{data}_{m}.py")
        check_graph(cfg, cfg.name)
        assert cfg.get("train") is None and cfg.method.model == "upstream:model"
        expected = {"model": {"config": f"das/{data}_model", "product": "checkpoint"},
                    "groundtruth": {"config": f"das/lds_{data}_groundtruth", "product": "checkpoint"}}
        if m.endswith("_gen"):
            expected["gen"] = {"config": f"das/{data}_model", "product": "run"}
        assert to_plain(cfg.upstream) == expected
        selection = to_plain(cfg.method.lambda_selection)
        assert selection["retrained_losses"] == "upstream:groundtruth" and selection["query_set"] == "heldout"
        assert selection["queries"] == heldout  # λ on the ground truth's held-out images not in val
        assert selection["exclude"] == to_plain(truth.method.query_sets.val)
        query_set = "gen" if m.endswith("_gen") else "val"
        assert to_plain(cfg.task.metrics) == [dict(type="LDS", retrained_losses="upstream:groundtruth",
                                                   query_set=query_set)]
        assert selection["test"]["query_set"] == query_set
        assert to_plain(cfg.dataset) == to_plain(truth.method.query_sets[query_set])


def test_cifar2_validate_names_the_missing_data_folder_and_the_untrained_model(tmp_path, monkeypatch):
    from bench.config import configs_root, load_config
    from bench.data import DatasetLayoutError
    from bench.runner import validate
    from bench.upstream import UpstreamError

    monkeypatch.chdir(tmp_path)  # the configs' relative data paths: nothing there
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    with pytest.raises(DatasetLayoutError, match=r"CIFAR10: missing directory\n  path: data/cifar10/cifar-10-batches"):
        validate(load_config(configs_root() / "das/cifar2_model.py"))
    with pytest.raises(UpstreamError, match=r"upstream 'gen': no finished run of 'das/cifar2_model' .* produce it with "
                                            r"`bench run das/cifar2_model`"):
        validate(load_config(configs_root() / "das/lds_cifar2_groundtruth.py"))
    with pytest.raises(UpstreamError, match=r"upstream 'model': 'das/cifar2_model' is not trained yet .* produce it "
                                            r"with `bench train das/cifar2_model`"):
        validate(load_config(configs_root() / "das/lds_cifar2_das_gen.py"))


def test_the_quick_demo_is_the_full_one_against_a_four_subset_ground_truth():
    from bench.config import configs_root, load_config, to_plain

    quick = sorted(p.name for p in configs_root().glob("demo/das_*.py"))
    assert quick == ["das_0_groundtruth.py", "das_1_das.py", "das_1_dtrak.py"]  # TRAK: full profile only
    assert load_config(configs_root() / "demo/das_0_groundtruth.py").method.num_subsets == 4
    assert load_config(configs_root() / "demo/full/das_0_groundtruth.py").method.num_subsets == 64  # the benchmark's
    for m in ("dtrak", "das"):
        fast, full = (load_config(configs_root() / f"demo/{where}das_1_{m}.py") for where in ("", "full/"))
        assert to_plain(fast.method) == {**to_plain(full.method), "num_timesteps": 1}
        assert to_plain(fast.task) == to_plain(full.task)
        assert to_plain(fast.upstream) == {  # one full-data model for both profiles (the train stage's cache)
            "model": {"config": "demo/full/das_0_model", "product": "checkpoint"},
            "groundtruth": {"config": "demo/das_0_groundtruth", "product": "checkpoint"}}

def test_demo_configs_attribute_the_model_of_das_0_model_without_training():
    """One full-data model for every attribution config (upstream model: das_0_model's checkpoint), whose run also
    samples the gen queries the gen configs and the ground truth read (upstream gen: its run): no cycle."""
    from bench.config import configs_root, load_config, to_plain
    from bench.upstream import check_graph

    names = [f"das_{step}_{m}{tail}" for step, tail in ((1, ""), (2, "_gen")) for m in ("trak", "dtrak", "das")]
    for name in names:
        cfg = load_config(configs_root() / f"demo/full/{name}.py")
        assert cfg.get("train") is None and cfg.method.model == "upstream:model"
        assert to_plain(cfg.upstream.model) == {"config": "demo/full/das_0_model", "product": "checkpoint"}
        check_graph(cfg, name)
        gen = name.endswith("_gen")
        assert cfg.task.metrics[0].query_set == ("gen" if gen else "val")
        assert cfg.method.lambda_selection.query_set == "test"  # λ on held-out real digits for both query sets
        assert to_plain(cfg.dataset) == (dict(type="GeneratedImages", run_dir="upstream:gen") if gen
                                         else dict(type="Digits2", split="val", size=8))
    truth = load_config(configs_root() / "demo/full/das_0_groundtruth.py")
    assert sorted(truth.method.query_sets) == ["gen", "test", "val"]
    assert to_plain(truth.upstream.gen) == {"config": "demo/full/das_0_model", "product": "run"}
    model = load_config(configs_root() / "demo/full/das_0_model.py")
    assert model.method.num_inference_steps == 50 and model.method.index_seeds == 0
    assert to_plain(model.method.unet_config) == to_plain(truth.method.unet)  # the ground truth's recipe
    assert to_plain(model.method.train_scheduler) == to_plain(truth.method.scheduler)
    assert {k: v for k, v in to_plain(model.train).items() if k != "seed"} == to_plain(truth.train)


def _runs(trak, dtrak, das, se=1.0, best=None, gen=(5.0, 6.0, 7.0)):
    def run(value):
        metrics = {"LDS": value, "LDS_stderr": se}
        if best is not None:
            metrics["LDS_best_over_grid"] = value + best
        return {"metrics": metrics}
    runs = {"das_1_trak": run(trak), "das_1_dtrak": run(dtrak), "das_1_das": run(das)}
    runs.update({f"das_2_{m}_gen": {"metrics": {"LDS": v, "LDS_stderr": 1.0}}
                 for m, v in zip(("trak", "dtrak", "das"), gen, strict=True)})
    return runs


def test_demo_summary_names_the_winner_and_the_paper_verdict():
    from bench.methods.das.demo import summarize

    summary = summarize(_runs(10.0, 15.0, 25.0, best=2.0))
    assert summary.headline == {"val LDS DAS": 25.0, "val DAS − D-TRAK": 10.0, "gen LDS DAS": 7.0,
                                "gen DAS − D-TRAK": 1.0}
    assert ("Gen LDS (%, λ chosen on held-out digits): DAS 7.0 ± 1.0, D-TRAK 6.0 ± 1.0, TRAK 5.0 ± 1.0; DAS leads "
            "D-TRAK by 1.0 points (within the noise of ±2.8)") in summary.sentence
    assert "DAS leads D-TRAK by 10.0 points (beyond the noise of ±2.8)" in summary.sentence
    assert "DAS beats D-TRAK as the paper reports" in summary.sentence
    assert "as published) DAS 27.0, D-TRAK 17.0, TRAK 12.0" in summary.sentence
    tie = summarize(_runs(10.0, 20.0, 21.0, se=2.0))
    assert "within the noise" in tie.sentence and "do not differ beyond noise" in tie.sentence
    assert "as published" not in tie.sentence
    loss = summarize(_runs(10.0, 30.0, 20.0, se=1.0))
    assert loss.sentence.startswith("Val LDS (%, λ chosen on held-out digits): D-TRAK 30.0")
    assert "DAS loses to D-TRAK here, unlike the paper" in loss.sentence
    with pytest.raises(ValueError, match=r"run 'das_1_dtrak' lacks \['LDS', 'LDS_stderr'\]"):
        summarize({"das_1_trak": {"metrics": {"LDS": 1.0, "LDS_stderr": 0.1}}})
    quick = {k: v for k, v in _runs(10.0, 15.0, 25.0).items() if k in ("das_1_dtrak", "das_1_das")}
    summary = summarize(quick)  # the quick profile: DAS and D-TRAK only
    assert summary.headline == {"val LDS D-TRAK": 15.0, "val LDS DAS": 25.0, "val DAS − D-TRAK": 10.0}
    assert "Val LDS (%, λ chosen on held-out digits): DAS 25.0 ± 1.0, D-TRAK 15.0 ± 1.0;" in summary.sentence
    no_gen = {k: v for k, v in _runs(1.0, 2.0, 3.0).items() if k != "das_2_das_gen"}
    with pytest.raises(ValueError, match=r"run 'das_2_das_gen' lacks \['LDS', 'LDS_stderr'\]"):
        summarize(no_gen)


def test_artbench_configs_attribute_one_lora_and_read_their_ground_truth():
    """The TRAK, D-TRAK and DAS configs of an ArtBench set attribute one LoRA, the train stage of artbench<n>_gen
    (D-TRAK's recipe, which also samples the gen queries from it), and read the ground truth of
    lds_artbench<n>_groundtruth, which retrains LoRAs by that same recipe."""
    from bench.config import configs_root, load_config, to_plain
    from bench.methods.das.lora_train import LORA_RECIPE, lora_recipe
    from bench.registry import METHODS, TASKS

    for n in ("2", "5"):
        configs = {m: load_config(configs_root() / f"das/lds_artbench{n}_{m}.py") for m in ("trak", "dtrak", "das")}
        gen = load_config(configs_root() / f"das/artbench{n}_gen.py")
        recipe = {k: v for k, v in to_plain(gen.train).items() if k != "dataset"}
        assert lora_recipe(recipe) == lora_recipe({**LORA_RECIPE, "seed": 42})  # D-TRAK's, full-data seed 42
        assert gen.train.dataset.subset == f"artbench{n}"
        for cfg in configs.values():
            assert not cfg.get("train") and cfg.method.lora_weights == "upstream:model"
            assert to_plain(cfg.upstream) == {
                "groundtruth": {"config": f"das/lds_artbench{n}_groundtruth", "product": "checkpoint"},
                "model": {"config": f"das/artbench{n}_gen", "product": "checkpoint"}}
            assert cfg.method.model == gen.method.model and cfg.method.lora_rank == gen.method.lora_rank
        assert configs["das"].task.metrics[0].retrained_losses == "upstream:groundtruth"
        truth = load_config(configs_root() / f"das/lds_artbench{n}_groundtruth.py")
        method = METHODS.build(to_plain(truth.method))
        TASKS.build(to_plain(truth.task))
        assert (method.pipeline, method.model, method.lora_rank) == (
            "stable_diffusion", configs["das"].method.model, 128)
        assert (method.num_subsets, method.alpha, method.subset_seed, method.seeds) == (64, 0.5, 42, [0, 1, 2])
        assert method.protocol == {"timesteps": 1000, "noise_seeds": [0], "batch_size": 256}
        assert method.artefact_dir == f"attribution/artbench{n}_lds"  # shared by the workers of a sweep
        assert sorted(method.query_set_specs) == ["gen", "heldout", "val"]
        assert {k: v for k, v in to_plain(truth.train).items() if k != "seed"} == {
            k: v for k, v in to_plain(gen.train).items() if k != "seed"}
        assert not truth.get("paper")


def test_artbench_validate_names_the_missing_gen_run(tmp_path, monkeypatch):
    """The ground truth holds the gen queries, so validate names their run (which trains the attributed LoRA) first;
    the data and SD-folder errors of that run: tests/test_das_generation.py."""
    from bench.config import configs_root, load_config
    from bench.runner import validate
    from bench.upstream import UpstreamError

    monkeypatch.chdir(tmp_path)  # the configs' relative data and checkpoint paths: nothing there
    for name in ("lds_artbench2_groundtruth", "lds_artbench2_das"):
        with pytest.raises(UpstreamError, match=r"upstream 'gen': no finished run of 'das/artbench2_gen' .* "
                                                r"`bench run das/artbench2_gen`"):
            validate(load_config(configs_root() / f"das/{name}.py"))


def test_demo_config_passes_the_runner_validate_path_with_its_untrained_model(tmp_path):
    """``bench validate`` of the demo's base with a fixed λ, a local artefact path instead of the upstream ground
    truth and das_0_model's UNet trained by its own train stage instead of the upstream model (the untrained UNet is
    attributed), shrunk to seconds (12 training digits)."""
    from bench.config import configs_root, load_config, to_plain
    from bench.runner import validate

    model = load_config(configs_root() / "demo/full/das_0_model.py")
    train = {**to_plain(model.train), "dataset": "_"}
    config = tmp_path / "das_validate.py"
    config.write_text(
        f'_base_ = ["{configs_root() / "das/_base_/demo_digits2.py"}"]\n'
        f'dataset = dict({SMALL_SPLIT}, split="val")\n'
        f'train = {train!r}\n'.replace("'_'", f'dict(type="Digits2", size=8, {SMALL_SPLIT}, split="train")') +
        f'method = dict(train_set=dict({SMALL_SPLIT}, split="train"), method="das1", lambda_selection=None, lam=1.0,\n'
        f'              model=None, unet_config={to_plain(model.method.unet_config)!r},\n'
        f'              train_scheduler={to_plain(model.method.train_scheduler)!r},\n'
        '              num_timesteps=1, k=16, residual_timesteps=2,\n'
        f'              feature_cache="{tmp_path / "cache"}")\n'
        'upstream = dict(_delete_=True)\n'
        f'task = dict(_delete_=True, type="data_attribution", retrained_losses="{tmp_path / "gt"}", query_set="val")\n'
        'run = dict(batch_size=3, device="cpu")\n')
    report = validate(load_config(config))
    assert report["outputs"] == {"scores": (3, 12), "lambda": (3,)}
    assert report["train_samples"] == 12 and report["weights"].startswith("untrained")
    assert not (tmp_path / "cache").exists()  # features of the untrained model are not cached


def test_residuals_are_computed_once_and_read_back(model_dir, tmp_path, monkeypatch):
    from bench.methods.das import features

    first = _adapter(model_dir, tmp_path, method="das1")
    first.setup(torch.device("cpu"))
    (stored,) = (tmp_path / "cache" / "residuals").glob("*/residuals.npy")
    assert np.load(stored).shape == (12,) and torch.equal(torch.from_numpy(np.load(stored)), first.residuals)

    def refuse(*args, **kwargs):
        raise AssertionError("residuals recomputed")

    monkeypatch.setattr(features, "train_residuals", refuse)
    second = _adapter(model_dir, tmp_path, method="das1_sq")
    second.setup(torch.device("cpu"))
    assert torch.equal(second.residuals, first.residuals)
    with pytest.raises(AssertionError, match="recomputed"):  # other residual settings: another key
        _adapter(model_dir, tmp_path, method="das1", residual_timesteps=5).setup(torch.device("cpu"))


# ----------------------------------------------------------------------------- LoRA on a local Stable Diffusion folder
@pytest.fixture(scope="module")
def artbench_sd(tmp_path_factory):
    """A tiny Stable Diffusion folder (tests/sd_fixture.py) and an ArtBench-2 root in the official layout (CSV +
    16 px JPEGs; 6 train and 3 test images per style)."""
    from sd_fixture import write_tiny_artbench, write_tiny_stable_diffusion

    root = write_tiny_artbench(tmp_path_factory.mktemp("artbench"))
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd")), root


def test_stable_diffusion_lora_attribution_equals_the_direct_computation(artbench_sd, tmp_path):
    from bench.methods.das.features import encode_latent_batch, lora_only

    sd_folder, root = artbench_sd
    data = dict(type="ArtBench", root=str(root), subset="artbench2", size=16, train_size=6, val_size=2)
    adapter = DataAttribution(train_set={**data, "split": "train"}, model=str(sd_folder), pipeline="stable_diffusion",
                              lora_rank=4, method="das1", lam=0.5, feature_cache=str(tmp_path / "cache"), **SMALL)
    assert adapter.parameters == "lora"
    adapter.setup(torch.device("cpu"))
    train, val = DATASETS.build({**data, "split": "train"}), DATASETS.build({**data, "split": "val"})
    model = adapter.latent_model

    def inputs(dataset):
        items = [dataset[i] for i in range(len(dataset))]
        images = torch.stack([item["image"] for item in items])
        captions = [item["caption"] for item in items]
        return images, captions, encode_latent_batch(model.vae, model.tokenizer, model.text_encoder, images, captions)

    _, _, train_batch = inputs(train)
    val_images, val_captions, val_batch = inputs(val)
    assert set(val_captions) <= {"a post impressionism painting", "a ukiyo e painting"}
    with torch.inference_mode():  # as the runner predicts
        out = adapter.predict({"image": val_images, "caption": val_captions, "index": torch.arange(2)},
                              torch.zeros(2))

    def features(batch):
        grads = per_sample_features(adapter.unet, adapter.scheduler, batch, timesteps=[0, 500], output="mean",
                                    normalize=True, parameters=lora_only)
        return build_projector(grads.shape[1], 32, seed=42, backend="basic").project(grads)

    residuals = train_residuals(adapter.unet, adapter.scheduler, train_batch, num_timesteps=4)
    expected = attribution_scores(features(val_batch), features(train_batch), "das1", 0.5, residuals)
    assert out["scores"].shape == (2, 6)
    torch.testing.assert_close(out["scores"].double(), expected, rtol=2e-4, atol=1e-5)
    names = adapter.store.describe()["parameter_names"]
    assert names and all("lora_" in name for name in names)
    assert adapter.provenance()["pipeline"] == "stable_diffusion"
    assert adapter.provenance()["model"]["lora_rank"] == 4
    with pytest.raises(ValueError, match="must carry a 'caption' string each"):
        adapter.predict({"image": val_images, "index": torch.arange(2)}, torch.zeros(2))


def test_stable_diffusion_validate_attributes_the_untrained_lora_without_caching(artbench_sd, tmp_path):
    """``bench validate`` before the train stage: the seeded adapters (no weights file), a temporary feature cache,
    λ = 1 instead of a selection whose ground truth does not exist yet; the configured values come back after."""
    sd_folder, root = artbench_sd
    data = dict(type="ArtBench", root=str(root), subset="artbench2", size=16, train_size=6, val_size=2)
    selection = dict(retrained_losses=str(tmp_path / "no_gt"), query_set="heldout", queries={**data, "split": "test"})
    adapter = DataAttribution(train_set={**data, "split": "train"}, model=str(sd_folder), pipeline="stable_diffusion",
                              lora_rank=4, lora_weights=str(tmp_path / "no_lora"), method="das1",
                              lambda_selection=selection, feature_cache=str(tmp_path / "cache"), **SMALL)
    adapter.setup_untrained(torch.device("cpu"))
    assert adapter.facts["lora_weights"] is None and adapter.lam == 1.0 and adapter.kernel is not None
    assert adapter.lora_weights == str(tmp_path / "no_lora") and adapter.selection == selection
    assert not (tmp_path / "cache").exists()


def test_stable_diffusion_options_are_checked():
    train_set = dict(type="ArtBench", root="data/artbench", subset="artbench2", split="train")
    with pytest.raises(ValueError, match="give model=<SD folder> .* and parameters='lora'"):
        DataAttribution(train_set=train_set, model="sd", pipeline="stable_diffusion", parameters="all", lam=1.0)
    with pytest.raises(ValueError, match="lora_weights is for pipeline='stable_diffusion'"):
        DataAttribution(train_set=train_set, model="ddpm", lora_weights="lora", lam=1.0)
    with pytest.raises(ValueError, match="pipeline must be one of .*Did you mean 'stable_diffusion'"):
        DataAttribution(train_set=train_set, model="sd", pipeline="stable_diffusio", lam=1.0)


# ----------------------------------------------------------------------------- dataset compression (top-k by CLIP)
@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    from clip_fixture import write_tiny_clip

    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "open_clip_pytorch_model.bin")


def _compression(checkpoint, top):
    from clip_fixture import TINY

    return dict(top=top, extractor=dict(type="CLIPScoreFeatures", checkpoint=str(checkpoint), model_cfg=TINY))


def test_compression_scores_only_the_clip_nearest_training_samples(model_dir, tmp_path, clip_checkpoint,
                                                                   monkeypatch):
    from clip_fixture import reference_embeddings

    from bench.methods.das import compression

    _, train = _images({**SPLIT, "split": "train"})
    _, val = _images({**SPLIT, "split": "val"})
    batch = {"image": val[:4], "index": torch.arange(4)}
    results = {}
    for top in (None, 12, 5):  # das0: the leverage column factor too; 12 = N: every sample is a candidate
        adapter = _adapter(model_dir, tmp_path, method="das0",
                           **({} if top is None else {"compression": _compression(clip_checkpoint, top)}))
        adapter.setup(torch.device("cpu"))
        with torch.inference_mode():
            results[top] = adapter.predict(batch, torch.zeros(4))["scores"]
    assert torch.equal(results[12], results[None])
    # the candidates by hand: cosine of the tiny CLIP's embeddings, computed as D-TRAK's CLIP notebook does
    cosine = reference_embeddings(val[:4]) @ reference_embeddings(train).T
    nearest = cosine.argsort(dim=1, descending=True)[:, :5]
    assert (cosine.sort(dim=1, descending=True).values[:, 4] > cosine.sort(dim=1, descending=True).values[:, 5]).all()
    chosen = torch.zeros(4, 12, dtype=torch.bool).scatter_(1, nearest, True)
    assert (results[5][~chosen] == 0).all() and (results[None][~chosen] != 0).all()
    assert torch.equal(results[5][chosen], results[None][chosen])  # same kernel, rescale and r / (1 - h)
    facts = adapter.provenance()["compression"]
    assert facts["top"] == 5 and facts["non_candidate_score"] == 0.0 and facts["embeddings"]["num_train"] == 12
    # the training embeddings were computed once (the top=12 setup) and are read back, keyed by the extractor
    (stored,) = (tmp_path / "cache" / "clip_embeddings").glob("*/clip_embeddings.npy")
    assert np.load(stored).shape == (12, 16)
    monkeypatch.setattr(compression, "embed_images", lambda *a, **k: pytest.fail("embeddings recomputed"))
    again = _adapter(model_dir, tmp_path, method="trak", compression=_compression(clip_checkpoint, 3))
    again.clip = EXTRACTORS.build(again.compression["extractor"])
    assert torch.equal(again._train_embeddings(DATASETS.build({**SPLIT, "split": "train"})),
                       torch.from_numpy(np.load(stored)))


def test_compression_with_a_missing_checkpoint_fails_before_any_feature(model_dir, tmp_path):
    adapter = _adapter(model_dir, tmp_path, compression=_compression(tmp_path / "missing.bin", 5))
    with pytest.raises(FileNotFoundError, match=r"CLIP checkpoint not found: .*missing\.bin.* pass the local file"):
        adapter.setup(torch.device("cpu"))
    assert not (tmp_path / "cache").exists()


def test_lambda_selection_scores_the_heldout_queries_with_the_same_compression(model_dir, tmp_path, clip_checkpoint):
    train, _ = _images({**SPLIT, "split": "train"})
    val, _ = _images({**SPLIT, "split": "val"})
    artefact = _ground_truth(tmp_path / "gt", train, {"val": val})
    selection = dict(retrained_losses=str(artefact.folder), query_set="val", queries={**SPLIT, "split": "val"},
                     grid=(0.01, 1.0, 100.0))
    tables = {}
    for top in (None, 12, 3):
        adapter = _adapter(model_dir, tmp_path, method="dtrak", lam=None, lambda_selection=selection,
                           **({} if top is None else {"compression": _compression(clip_checkpoint, top)}))
        adapter.setup(torch.device("cpu"))
        tables[top] = adapter.lambda_facts["selected"]["table"]
    assert tables[12] == tables[None]  # every sample a candidate: the same LDS for every λ
    assert tables[3] != tables[None]  # 3 candidates per query: another prediction of the subsets' losses
