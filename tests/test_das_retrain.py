"""The LDS ground truth's retraining (bench.tasks.attribution.retrain, bench.methods.das.retrain): every missing
(subset, seed) entry trained once with a real (1-step) train_ddpm, resume after an interruption, refusal of changed
subsets, and LDSGroundTruth's train stage (whole, and split by ``subsets`` over a shared artefact)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from bench.datasets.digits import Digits2  # noqa: E402
from bench.methods.das.retrain import LDSGroundTruth  # noqa: E402
from bench.metrics.attribution import RetrainedLossSpread  # noqa: E402
from bench.methods.diffusion.training import train_ddpm  # noqa: E402
from bench.registry import TASKS  # noqa: E402
from bench.store import StoreError  # noqa: E402
from bench.tasks.attribution.ground_truth import RetrainedLosses  # noqa: E402
from bench.tasks.attribution.retrain import entry_dir, retrain_subsets  # noqa: E402
from bench.tasks.attribution.subsets import sample_subsets  # noqa: E402

UNET = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
            down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
            norm_num_groups=4)
SCHEDULE = dict(num_train_timesteps=10, beta_schedule="linear", beta_start=1e-2, beta_end=0.5)
PROTOCOL = dict(timesteps=10, noise_seeds=[0], batch_size=256)
DIGITS = dict(type="Digits2", size=8, train_size=8, val_size=4)
CPU = torch.device("cpu")


def digits(split: str) -> Digits2:
    return Digits2(split=split, size=8, train_size=8, val_size=4)


class Trainer:
    """The callable retrain_subsets takes: a real 1-step train_ddpm (4 images, batch 8), counting its calls and
    keeping the models it returned; ``fail_at`` raises on that call (1-based), as a killed run would stop."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.models: list[torch.nn.Module] = []
        self.fail_at = fail_at

    def __call__(self, subset, seed: int, work_dir: Path):
        from diffusers import DDPMScheduler

        from bench.methods.diffusion.unet import load_unet

        self.calls.append((len(subset), seed))
        if self.fail_at == len(self.calls):
            raise KeyboardInterrupt("stopped during the entry's training")
        torch.manual_seed(seed)
        unet, _ = load_unet(train_ddpm(UNET, SCHEDULE, subset, work_dir, CPU, epochs=1, batch_size=8, lr=1e-3,
                                       seed=seed))
        self.models.append(unet)
        return unet, DDPMScheduler(**SCHEDULE)


def make_artefact(folder: Path, num_subsets: int = 3, seeds=(0, 1)) -> tuple[RetrainedLosses, Digits2, Digits2]:
    train, val = digits("train"), digits("val")
    masks = sample_subsets(len(train), num_subsets, 0.5, 42, labels=train.targets.numpy())
    artefact = RetrainedLosses.create(folder, masks=masks, seeds=seeds, alpha=0.5,
                                      train_fingerprint=train.fingerprint(), training_config_sha256="tiny",
                                      query_sets={"val": {"sample_ids": [val.sample_id(i) for i in range(len(val))]}},
                                      protocol=PROTOCOL)
    return artefact, train, val


def test_retrain_subsets_trains_exactly_the_missing_entries(tmp_path: Path):
    artefact, train, val = make_artefact(tmp_path / "gt")
    artefact.write(1, 0, {"val": [1.0, 2.0, 3.0, 4.0]})  # an entry already computed (e.g. by another worker)
    trainer = Trainer()
    summary = retrain_subsets(artefact, train, {"val": val}, trainer, tmp_path / "work", progress=False)
    assert [(e["subset"], e["seed"]) for e in summary["trained"]] == [(0, 0), (0, 1), (1, 1), (2, 0), (2, 1)]
    assert summary["skipped"] == 1 and summary["remaining"] == 0
    assert trainer.calls == [(4, 0), (4, 1), (4, 1), (4, 0), (4, 1)]  # half of 8 training images each
    losses = artefact.losses("val")
    assert artefact.complete()["val"].all()
    np.testing.assert_array_equal(losses[1, 0], [1.0, 2.0, 3.0, 4.0])  # never retrained
    # each stored entry is its model's loss on the queries in the artefact's order
    ids, images = artefact.query_ids("val"), val.images
    assert ids == [val.sample_id(i) for i in range(len(val))]
    np.testing.assert_allclose(losses[2, 1], artefact.model_losses(trainer.models[-1], trainer_scheduler(), images))
    assert not (tmp_path / "work").exists()  # model folders go once their losses are stored
    assert retrain_subsets(artefact, train, {"val": val}, Trainer(), tmp_path / "work", progress=False) == {
        "trained": [], "skipped": 6, "remaining": 0}


def trainer_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE)


def test_retrain_subsets_resumes_after_an_interruption_without_retraining(tmp_path: Path):
    artefact, train, val = make_artefact(tmp_path / "gt", num_subsets=2, seeds=(0,))
    stopped = Trainer(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        retrain_subsets(artefact, train, {"val": val}, stopped, tmp_path / "work", progress=False)
    assert artefact.complete()["val"].tolist() == [[True], [False]]  # the first entry was stored at once
    first = artefact.losses("val")[0, 0].copy()
    resumed = Trainer()
    summary = retrain_subsets(artefact, train, {"val": val}, resumed, tmp_path / "work", keep_models=True,
                              progress=False)
    assert len(resumed.calls) == 1 and [e["subset"] for e in summary["trained"]] == [1]
    np.testing.assert_array_equal(artefact.losses("val")[0, 0], first)
    assert (entry_dir(tmp_path / "work", 1, 0) / "model" / "model_index.json").is_file()  # keep_models


def test_retrain_subsets_refuses_changed_subsets_and_mismatched_inputs(tmp_path: Path):
    artefact, train, val = make_artefact(tmp_path / "gt")
    other = sample_subsets(len(train), 3, 0.5, 7)  # other draws into the same folder
    with pytest.raises(StoreError, match=r"manifest.json: the folder holds retrained losses for another setting "
                                         r"\(different subsets_sha256\)"):
        RetrainedLosses.create(tmp_path / "gt", masks=other, seeds=(0, 1), alpha=0.5,
                               train_fingerprint=train.fingerprint(), training_config_sha256="tiny",
                               query_sets={"val": {"sample_ids": [val.sample_id(i) for i in range(len(val))]}},
                               protocol=PROTOCOL)
    np.save(tmp_path / "gt" / "subsets.npy", other)  # the masks file replaced behind the manifest's back
    trainer = Trainer()
    with pytest.raises(StoreError, match="subsets.npy: its subsets differ"):
        retrain_subsets(RetrainedLosses.open(tmp_path / "gt"), train, {"val": val}, trainer, tmp_path / "w")
    artefact, train, val = make_artefact(tmp_path / "gt2")
    with pytest.raises(ValueError, match="cover 8 training samples but the training set has 7"):
        retrain_subsets(artefact, torch.utils.data.Subset(train, range(7)), {"val": val}, trainer, tmp_path / "w")
    with pytest.raises(ValueError, match=r"no dataset for query set\(s\) \['val'\]"):
        retrain_subsets(artefact, train, {}, trainer, tmp_path / "w")
    with pytest.raises(ValueError, match="queries of set 'val' are not in the dataset"):
        retrain_subsets(artefact, train, {"val": digits("test")}, trainer, tmp_path / "w")
    with pytest.raises(ValueError, match=r"subsets \[0, 3\] must be distinct values among the "
                                         r"artefact's subsets \(0\.\.2\); \[3\] are not among them"):
        retrain_subsets(artefact, train, {"val": val}, trainer, tmp_path / "w", subsets=[0, 3])
    assert trainer.calls == []


def ground_truth(**overrides) -> LDSGroundTruth:
    settings = dict(unet=UNET, scheduler=SCHEDULE, query_sets=dict(val=dict(DIGITS, split="val")), num_subsets=3,
                    protocol=dict(noise_seeds=[0, 1]))
    return LDSGroundTruth(**{**settings, **overrides})


def test_lds_ground_truth_fit_fills_the_artefact_and_reports_its_spread(tmp_path: Path):
    method = ground_truth()
    folder = method.fit(digits("train"), None, tmp_path / "train", CPU, epochs=1, batch_size=8, lr=1e-3, seed=5)
    assert folder == tmp_path / "train" / "retrained_losses"
    artefact = RetrainedLosses.open(folder)
    assert artefact.complete()["val"].tolist() == [[True]] * 3
    assert artefact.manifest["protocol"] == {"timesteps": 10, "noise_seeds": [0, 1], "batch_size": 256}
    labels = digits("train").targets.numpy()
    np.testing.assert_array_equal(artefact.masks(), sample_subsets(8, 3, 0.5, 42, labels=labels))
    summary = (tmp_path / "train" / "retrain_summary.json").read_text()
    record = json.loads(summary)
    assert [(e["subset"], e["seed"]) for e in record["trained"]] == [(0, 0), (1, 0), (2, 0)]
    assert record["remaining"] == 0 and record["total_seconds"] > 0
    assert record["mean_seconds"] == pytest.approx(record["mean_train_seconds"] + record["mean_loss_seconds"],
                                                   abs=1e-3)
    assert method.fit(digits("train"), None, tmp_path / "train", CPU, epochs=1, batch_size=8, lr=1e-3) == folder
    assert (tmp_path / "train" / "retrain_summary.json").read_text() == summary  # complete: nothing retrained
    with pytest.raises(StoreError, match="different training_config_sha256"):  # another recipe, same folder
        method.fit(digits("train"), None, tmp_path / "train", CPU, epochs=2, batch_size=8, lr=1e-3)

    method.use_checkpoint(folder)
    method.setup(CPU)
    val = digits("val")
    batch = {"sample_id": [val.sample_id(i) for i in (3, 0)]}
    out = method.predict(batch, torch.zeros(2))
    losses = artefact.mean_losses("val")
    np.testing.assert_allclose(out["loss_mean"].numpy(), losses[:, [3, 0]].mean(axis=0))
    np.testing.assert_allclose(out["loss_std"].numpy(), losses[:, [3, 0]].std(axis=0, ddof=1))
    assert (out["loss_std"] > 0).all()
    task = TASKS.build(dict(type="lds_ground_truth"))
    assert task.evaluate(out) == pytest.approx(RetrainedLossSpread().compute(out))
    with pytest.raises(ValueError, match="1 samples are not queries of set 'val'"):
        method.predict({"sample_id": ["digits-9999"]}, torch.zeros(1))


def test_subsets_option_writes_only_its_entries_into_the_shared_artefact(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    with pytest.raises(ValueError, match="set 'artefact_dir' to the folder the other workers share"):
        ground_truth(subsets=[1])
    with pytest.raises(ValueError, match=r"stratify_key 'label' is not a key of the training items \(they hold "
                                         r"\['image', 'target'\]\)"):
        ground_truth(stratify_key="label").fit(digits("train"), None, tmp_path / "w0", CPU, epochs=1)
    worker = ground_truth(subsets=1, artefact_dir="lds/tiny")
    folder = worker.fit(digits("train"), None, tmp_path / "w1", CPU, epochs=1, batch_size=8, lr=1e-3)
    assert folder == tmp_path / "results" / "lds" / "tiny"
    assert RetrainedLosses.open(folder).complete()["val"].ravel().tolist() == [False, True, False]
    worker.use_checkpoint(folder)
    with pytest.raises(StoreError, match=r"2 of 3 \(subset, seed\) entries of query set 'val' are not computed"):
        worker.setup(CPU)  # no spread over a partial ground truth
    ground_truth(subsets=[0, 2], artefact_dir=str(folder)).fit(digits("train"), None, tmp_path / "w2", CPU,
                                                                epochs=1, batch_size=8, lr=1e-3)
    assert RetrainedLosses.open(folder).complete()["val"].all()
    worker.setup(CPU)
    assert worker.predict({"sample_id": [digits("val").sample_id(0)]}, torch.zeros(1))["loss_mean"].shape == (1,)


def test_ground_truth_evaluates_the_retrained_models_on_generated_queries(tmp_path: Path, generated_images_run):
    """The "gen" query set: images a generation run stored (GeneratedImages, ids gen-<i>), scored by every retrained
    model with the same protocol as the val digits; the eval stage serves it as its query set."""
    from diffusers import DDPMScheduler

    from bench.datasets.generation import GeneratedImages
    from bench.methods.diffusion.unet import load_unet

    run_dir = str(generated_images_run(5, batch_size=2))
    gen_spec = dict(type="GeneratedImages", run_dir=run_dir)
    method = ground_truth(query_sets=dict(val=dict(DIGITS, split="val"), gen=gen_spec), keep_models=True,
                          query_set="gen")
    folder = method.fit(digits("train"), None, tmp_path / "train", CPU, epochs=1, batch_size=8, lr=1e-3)
    artefact = RetrainedLosses.open(folder)
    gen = GeneratedImages(run_dir)
    assert sorted(artefact.query_sets) == ["gen", "val"] and artefact.query_ids("gen") == [f"gen-{i}" for i in range(5)]
    assert artefact.complete()["gen"].all() and artefact.losses("gen").shape == (3, 1, 5)
    assert artefact.manifest["query_sets"]["gen"]["fingerprint"] == gen.fingerprint()
    unet, _ = load_unet(entry_dir(tmp_path / "train" / "entries", 1, 0) / "model")
    images = torch.stack([gen[i]["image"] for i in range(len(gen))])
    np.testing.assert_allclose(artefact.losses("gen")[1, 0],
                               artefact.model_losses(unet, DDPMScheduler(**SCHEDULE), images), rtol=1e-6)
    method.use_checkpoint(folder)
    method.setup(CPU)
    out = method.predict({"sample_id": ["gen-4", "gen-0"]}, torch.zeros(2))
    np.testing.assert_allclose(out["loss_mean"].numpy(), artefact.mean_losses("gen")[:, [4, 0]].mean(axis=0))


# ------------------------------------------------------------------------- ArtBench: LoRAs of a Stable Diffusion folder
LORA_FAST = dict(epochs=2, batch_size=4, lr=3e-3, lr_schedule="constant", warmup_fraction=0.0)


def test_stable_diffusion_ground_truth_retrains_the_lora_and_stores_latent_losses(tmp_path: Path):
    """Two subsets: each entry is a LoRA trained afresh from its seed on the subset, and its stored losses are the
    caption-conditioned latent losses of the queries recomputed directly from the saved adapters."""
    pytest.importorskip("peft")
    from sd_fixture import write_tiny_artbench, write_tiny_stable_diffusion

    from bench.methods.das.features import encode_latent_batch
    from bench.methods.das.latent_model import load_latent_model
    from bench.registry import DATASETS
    from bench.tasks.attribution.ground_truth import diffusion_losses

    sd = write_tiny_stable_diffusion(tmp_path / "sd_root")
    root = write_tiny_artbench(tmp_path / "artbench", train_per_style=4, test_per_style=2)
    data = dict(type="ArtBench", root=str(root), subset="artbench2", size=16, train_size=8, val_size=2)
    method = LDSGroundTruth(pipeline="stable_diffusion", model=str(sd), lora_rank=4, num_subsets=2, seeds=(3,),
                            query_sets=dict(val={**data, "split": "val"}, heldout={**data, "split": "test"}),
                            protocol=dict(timesteps=20, batch_size=2), keep_models=True)
    train = DATASETS.build({**data, "split": "train"})
    folder = method.fit(train, None, tmp_path / "train", CPU, **LORA_FAST, seed=99)
    artefact = RetrainedLosses.open(folder)
    assert artefact.losses("val").shape == (2, 1, 2) and artefact.losses("heldout").shape == (2, 1, 4)
    assert all(done.all() for done in artefact.complete().values())
    assert artefact.manifest["protocol"] == {"timesteps": 20, "noise_seeds": [0], "batch_size": 2}
    assert artefact.masks().sum(axis=1).tolist() == [4, 4]  # half of each style

    lora = entry_dir(tmp_path / "train" / "entries", 1, 3) / "lora"
    facts = json.loads((lora / "training.json").read_text())
    assert facts["num_train"] == 4 and facts["recipe"]["seed"] == 3 and facts["recipe"]["epochs"] == 2
    model = load_latent_model(sd, lora, lora_rank=4)
    val = DATASETS.build({**data, "split": "val"})
    items = [val[i] for i in range(len(val))]
    with torch.no_grad():
        batch = encode_latent_batch(model.vae, model.tokenizer, model.text_encoder,
                                    torch.stack([item["image"] for item in items]), [item["caption"] for item in items])
    assert artefact.query_ids("val") == [val.sample_id(i) for i in range(len(val))]
    direct = diffusion_losses(model.unet, model.scheduler, batch, timesteps=range(20), noise_seed=0, batch_size=2)
    np.testing.assert_allclose(artefact.losses("val")[1, 0], direct, rtol=1e-5)
    untrained = load_latent_model(sd, lora_rank=4)  # B = 0: the base model, whose losses the LoRA moved
    base = diffusion_losses(untrained.unet, untrained.scheduler, batch, timesteps=range(20), batch_size=2)
    assert not np.allclose(artefact.losses("val")[0, 0], base) and not np.allclose(artefact.losses("val")[1, 0], base)

    # another recipe is another artefact; the same one returns at once
    assert method.fit(train, None, tmp_path / "train", CPU, **LORA_FAST) == folder
    with pytest.raises(StoreError, match="different training_config_sha256"):
        method.fit(train, None, tmp_path / "train", CPU, **{**LORA_FAST, "epochs": 3})


def test_stable_diffusion_ground_truth_options_are_checked(tmp_path: Path):
    from bench.methods.diffusion.stable_diffusion import PipelineLayoutError

    queries = dict(val=dict(DIGITS, split="val"))
    with pytest.raises(ValueError, match="pipeline='stable_diffusion' retrains LoRA adapters .* give 'model'"):
        LDSGroundTruth(pipeline="stable_diffusion", query_sets=queries)
    with pytest.raises(ValueError, match="and neither 'unet' nor 'scheduler'"):
        LDSGroundTruth(pipeline="stable_diffusion", model="sd", unet=UNET, query_sets=queries)
    with pytest.raises(ValueError, match="pipeline='ddpm' retrains UNet2DModels: give 'unet'"):
        LDSGroundTruth(query_sets=queries)
    with pytest.raises(ValueError, match="Did you mean 'stable_diffusion'"):
        LDSGroundTruth(pipeline="stable-diffusion", model="sd", query_sets=queries)
    with pytest.raises(PipelineLayoutError, match=f"folder not found\n  path: {tmp_path / 'miniSD'}"):
        LDSGroundTruth(pipeline="stable_diffusion", model=str(tmp_path / "miniSD"),
                       query_sets=queries).setup_untrained(CPU)
