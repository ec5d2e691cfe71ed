"""DPMs-ANT's method adapters end to end on tiny models: stage 1 (DpmsAntClassifier) and stages 2-3 plus sampling
(DpmsAnt) for every ablation row, the artefacts they write, batch-independent sampling, the digits domain readers
and the IntraLPIPS metric against a direct computation."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel  # noqa: E402

from bench.checkpoint import CheckpointError  # noqa: E402
from bench.datasets.digits import Digits, DigitsDomain  # noqa: E402
from bench.datasets.fewshot import DomainPair  # noqa: E402
from bench.methods.dpms_ant.adapter import ADAPTORS, ADAPTORS_EMA, FINETUNED, DpmsAnt, DpmsAntClassifier  # noqa: E402
from bench.methods.dpms_ant.sampling import sample, sample_per_seed  # noqa: E402
from bench.metrics.intra_lpips import IntraLPIPS, intra_cluster_distance  # noqa: E402

CPU = torch.device("cpu")
NETWORK = {"flags": {"image_size": 8, "in_channels": 1, "model_channels": 32, "out_channels": 2,
                     "num_res_blocks": 1, "attention_resolutions": (), "channel_mult": (1, 2), "pool": "adaptive"}}
SHOTS = {"type": "DigitsDomain", "split": "train", "transform": "rot180", "num_images": 10, "shot_seed": 0}
TINY_SETTINGS = {"iterations": 3, "schedule_iterations": 3, "warmup_iterations": 1, "batch_size": 10, "fp16": False,
                 "checkpoint_every": 2, "lr": 1e-3}


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random UNet2DModel saved as the train stage saves a digits DDPM (pipeline folder, linear betas)."""
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4)
    folder = tmp_path_factory.mktemp("source") / "model"
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def classifier_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    method = DpmsAntClassifier(network=NETWORK, source={"type": "Digits", "split": "val"},
                               settings={"iterations": 4, "warmup_iterations": 1, "fp16": False,
                                         "checkpoint_every": 2})
    work = tmp_path_factory.mktemp("classifier")
    return method.fit(DigitsDomain(**{k: v for k, v in SHOTS.items() if k != "type"}), None, work, CPU, seed=3)


def _shots() -> DigitsDomain:
    return DigitsDomain(**{k: v for k, v in SHOTS.items() if k != "type"})


def test_digits_domain_transforms_and_shot_selection():
    plain = Digits("train")
    turned = DigitsDomain("train", "rot180")
    assert torch.equal(turned.images, plain.images.flip(-1, -2))
    assert torch.equal(DigitsDomain("train", "invert").images, 1 - plain.images)
    shots, again = _shots(), _shots()
    assert len(shots) == 10 and torch.equal(shots.images, again.images)
    assert shots.sample_id(0).endswith("-rot180")
    assert set(shots.original_index.tolist()) <= set(plain.original_index.tolist())
    other = DigitsDomain("train", "rot180", num_images=10, shot_seed=1)
    assert not torch.equal(other.images, shots.images)
    with pytest.raises(ValueError, match="transform must be one of"):
        DigitsDomain("train", "mirror")
    with pytest.raises(ValueError, match="num_images must be in 1..1000"):
        DigitsDomain("train", num_images=0)


def test_domain_pair_labels_source_1_target_0():
    pair = DomainPair(source={"type": "Digits", "split": "test"}, target=SHOTS)
    n_source = len(Digits("test"))
    assert len(pair) == n_source + 10
    assert int(pair[0]["target"]) == 1 and int(pair[n_source]["target"]) == 0
    assert pair.sample_id(n_source).startswith("target/digits-")
    assert torch.equal(pair[n_source]["image"], _shots()[0]["image"])
    with pytest.raises(IndexError, match="out of range"):
        pair[len(pair)]


def test_classifier_stage_writes_its_artefact_and_predicts_per_seed(classifier_checkpoint: Path):
    saved = torch.load(classifier_checkpoint, weights_only=False)
    assert saved["meta"]["settings"]["seed"] == 3 and len(saved["meta"]["losses"]) == 4
    method = DpmsAntClassifier(network=NETWORK, source={"type": "Digits", "split": "val"})
    method.use_checkpoint(classifier_checkpoint)
    method.setup(CPU)
    batch = {"image": _shots().images[:4], "target": torch.zeros(4, dtype=torch.int64)}
    first = method.predict(batch, torch.tensor([1, 2, 3, 4]))
    second = method.predict({k: v[[2, 3]] for k, v in batch.items()}, torch.tensor([3, 4]))
    assert first["logits"].shape == (4, 2)
    torch.testing.assert_close(first["logits"][2:], second["logits"])  # noise and t follow the sample's seed
    assert torch.equal(first["timestep"][2:], second["timestep"])
    with pytest.raises(ValueError, match="takes only 'dataset' and 'seed'"):
        method.fit(_shots(), None, Path("unused"), CPU, epochs=3)


@pytest.mark.parametrize("ablation", ["adaptor_only", "ant_no_an", "ant", "full_finetune"])
def test_each_ablation_trains_writes_its_product_and_samples(ablation, source_folder, classifier_checkpoint,
                                                             tmp_path):
    method = DpmsAnt(source=str(source_folder), ablation=ablation,
                     classifier={"network": NETWORK, "checkpoint": str(classifier_checkpoint)},
                     objective={"ascent_steps": 2}, settings=TINY_SETTINGS, adaptor={"dim": 4}, sample_steps=10)
    product = method.fit(_shots(), None, tmp_path, CPU, seed=0)
    assert product.name == (FINETUNED if ablation == "full_finetune" else ADAPTORS)
    saved = torch.load(product, weights_only=False)
    facts = saved["facts"]
    assert facts["ablation"] == ablation and len(facts["losses"]) == 3 and facts["target_images"] == 10
    if ablation == "full_finetune":
        assert facts["trainable_share"] == 1.0
    else:
        assert 0 < facts["trainable_share"] < 1 and (tmp_path / ADAPTORS_EMA).is_file()
        assert all(".adaptor." in k or k.startswith("end_adaptor.") for k in saved["state_dict"])
    assert method.fit(_shots(), None, tmp_path, CPU, seed=0) == product  # a finished product is reused
    method.use_checkpoint(product)
    method.setup(CPU)
    out = method.predict({"class_label": torch.zeros(3, dtype=torch.int64)}, torch.tensor([5, 6, 7]))
    assert out["image"].shape == (3, 8, 8, 1) and out["image"].dtype == torch.uint8
    again = method.predict({"class_label": torch.zeros(1, dtype=torch.int64)}, torch.tensor([6]))
    assert torch.equal(out["image"][1:2], again["image"])  # an image depends on its seed only


def test_ema_weights_differ_from_raw_and_are_selectable(source_folder, tmp_path):
    method = DpmsAnt(source=str(source_folder), ablation="adaptor_only", settings=TINY_SETTINGS,
                     adaptor={"dim": 4}, sample_steps=10)
    product = method.fit(_shots(), None, tmp_path, CPU)
    raw, ema = (torch.load(p, weights_only=False)["state_dict"] for p in (product, tmp_path / ADAPTORS_EMA))
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    method_ema = DpmsAnt(source=str(source_folder), ablation="adaptor_only", settings=TINY_SETTINGS,
                         adaptor={"dim": 4}, sample_steps=10, use_ema=True)
    method_ema.use_checkpoint(product)
    method_ema.setup(CPU)
    assert method_ema.provenance()["weights"] == "ema"


def test_misconfigurations_are_clear_errors(source_folder, tmp_path):
    with pytest.raises(ValueError, match="uses similarity guidance"):
        DpmsAnt(source=str(source_folder), ablation="ant")
    with pytest.raises(ValueError, match="must divide num_train_timesteps"):
        DpmsAnt(source=str(source_folder), ablation="adaptor_only", sample_steps=300)
    with pytest.raises(ValueError, match="unknown DPMs-ANT ablation"):
        DpmsAnt(source=str(source_folder), ablation="lora")
    mismatched = DpmsAnt(source=str(source_folder), ablation="adaptor_only", num_train_timesteps=100,
                         sample_steps=10, settings=TINY_SETTINGS)
    with pytest.raises(ValueError, match="another noise schedule"):
        mismatched.fit(_shots(), None, tmp_path, CPU)
    wrong = DpmsAnt(source=str(source_folder), ablation="full_finetune", settings=TINY_SETTINGS)
    bogus = tmp_path / "bogus.pth"
    torch.save({"state_dict": {}}, bogus)
    wrong.use_checkpoint(bogus)
    with pytest.raises(CheckpointError, match="not a DPMs-ANT full fine-tuning file"):
        wrong.setup(CPU)


def _eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.5 * x + 0.1 * torch.cos(t.view(-1, 1, 1, 1).float() / 200)


def test_per_seed_sampling_equals_the_official_one_generator_loop_for_one_image():
    from bench.seeding import sample_generator

    batch = sample_per_seed(_eps, (1, 4, 4), [11, 12], sample_steps=20)
    alone = sample(_eps, (1, 1, 4, 4), sample_generator(12), sample_steps=20)
    torch.testing.assert_close(batch[1:2], alone, rtol=0, atol=1e-6)


def test_intra_lpips_feature_distance_matches_a_direct_computation(monkeypatch):
    """The metric featurises generated images and centres with the extractor, then runs CDC's clustering on the
    features with the L2 distance: the same numbers as intra_cluster_distance on those features by hand."""
    centres = _shots().images  # [10, 1, 8, 8] in [0, 1]
    generator = torch.Generator().manual_seed(0)
    noisy = (centres.repeat(6, 1, 1, 1) + 0.2 * torch.rand(60, 1, 8, 8, generator=generator)).clamp(0, 1)
    stored = (noisy * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    spec = {"type": "PixelCorrelationFeatures"}
    metric = IntraLPIPS(centres=SHOTS, distance={"type": "features", "extractor": spec}, cluster_size=None)
    values = metric.compute({"image": stored})
    from bench.registry import EXTRACTORS

    extractor = EXTRACTORS.build(dict(spec))

    def feats(images: torch.Tensor) -> torch.Tensor:
        return extractor((images * 255).round().to(torch.uint8).permute(0, 2, 3, 1))["pool"].double()

    direct = intra_cluster_distance(feats(stored.permute(0, 3, 1, 2).float() / 255), feats(centres),
                                    lambda x, y: (x - y).norm(dim=1), cluster_size=None)
    assert values["intra-cluster feature distance"] == pytest.approx(direct.value, rel=1e-12)
    assert values["skipped clusters"] == direct.skipped_clusters
    with pytest.raises(ValueError, match="differ in shape"):
        metric.compute({"image": torch.zeros(4, 16, 16, 1, dtype=torch.uint8)})
    with pytest.raises(ValueError, match="'lpips' or 'features'"):
        IntraLPIPS(centres=SHOTS, distance={"type": "ssim"})


def test_on_demand_source_images_train_exactly_like_the_tensor():
    """Stage 1 reads only the source rows each step draws (DatasetImages); the draws, and so the losses, are those
    of the whole set held as one tensor."""
    from bench.methods.dpms_ant.adapter import DatasetImages, build_classifier
    from bench.methods.dpms_ant.training import ClassifierSettings, train_domain_classifier

    source_set = Digits("val")
    target = _shots().images * 2 - 1
    settings = ClassifierSettings(iterations=3, warmup_iterations=1, fp16=False)
    losses = []
    for source in (source_set.images * 2 - 1, DatasetImages(source_set, CPU)):
        torch.manual_seed(0)
        model = build_classifier(NETWORK, CPU)
        losses.append(train_domain_classifier(model, source, target, settings).losses)
    assert losses[0] == losses[1]
    assert torch.equal(DatasetImages(source_set, CPU)[torch.tensor([2, 0])], source_set.images[[2, 0]] * 2 - 1)
