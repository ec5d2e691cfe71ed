"""The FusionSAM method adapter end to end on tiny in-test RGB-thermal items: fit (VQ -> fusion -> SAM) and
prompt-free predict, the baselines, reuse of trained VQ/fusion weights, the split-leak option and the configs."""

import pytest
import torch
from torch.utils.data import Dataset

from bench.checkpoint import load_checkpoint_file
from bench.config import load_config, to_plain
from bench.methods.fusionsam.adapter import FusionSAM, training_images

pytest.importorskip("segment_anything")
pytest.importorskip("diffusers")

SAM = dict(tiny=dict(img_size=32, patch_size=4, embed_dim=16, depth=1, num_heads=2, out_chans=16, window_size=4))
VQ = dict(block_out_channels=(8, 8), norm_num_groups=4, latent_channels=2, num_vq_embeddings=16,
          mid_block_add_attention=False)
FUSION = dict(embed_dim=8, depths=(1, 1, 1), num_heads=(2, 2, 2), window_size=8)
ONE_EPOCH = dict(epochs=1, batch_size=4, lr=1e-3, checkpoint_every=10)
TRAIN = dict(seed=0, vq=ONE_EPOCH, fusion=ONE_EPOCH, sam=ONE_EPOCH)


class Pairs(Dataset):
    """RGB-thermal items as the readers give them: 3 classes, class 2 warm (thermal only)."""

    def __init__(self, count: int, offset: int = 0, size: tuple[int, int] = (16, 12)) -> None:
        self.count, self.offset, self.size = count, offset, size

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.offset + index)
        label = torch.randint(0, 3, self.size, generator=g).to(torch.uint8)
        image = (torch.rand(3, *self.size, generator=g) * 120 + 60 * (label == 1)).to(torch.uint8)
        thermal = (torch.rand(1, *self.size, generator=g) * 60 + 150 * (label == 2)).to(torch.uint8)
        return {"image": image, "thermal": thermal, "gt_seg_map": label, "img_path": f"pair{self.offset + index}"}


def method(**overrides) -> FusionSAM:
    return FusionSAM(**{"num_classes": 3, "sam": SAM, "vq": VQ, "vq_size": 16, "fusion": FUSION,
                        "freeze_image_encoder": False, **overrides})


def test_fit_then_predict_prompt_free_histograms_and_reload(tmp_path):
    torch.manual_seed(0)
    fused = method()
    path = fused.fit(Pairs(6), None, tmp_path / "fused", torch.device("cpu"), **TRAIN)
    assert path == tmp_path / "fused" / "fusionsam.pth"
    assert sorted(p.name for p in (tmp_path / "fused").iterdir() if p.is_dir()) == \
        ["fusion", "sam", "vq_infrared", "vq_visible"]
    saved = load_checkpoint_file(path)
    assert sorted(saved["state_dict"]) == ["fusion", "sam", "vq_infrared", "vq_visible"]
    assert saved["meta"]["train_images"] == 6 and saved["meta"]["train_includes_test"] is False
    assert any(key.startswith("adapter.") for key in saved["state_dict"]["sam"])
    batch = fused.collate([Pairs(2, offset=100)[i] for i in range(2)])
    columns = fused.predict(batch, torch.zeros(2))
    assert set(columns) == {"area_intersect", "area_union", "area_pred_label", "area_label"}
    assert columns["area_label"].shape == (2, 3) and columns["area_label"].sum(1).tolist() == [192, 192]
    assert columns["area_pred_label"].sum(1).tolist() == [192, 192]  # resized back to the label's 16 x 12
    reloaded = method()
    reloaded.use_checkpoint(path)
    reloaded.setup(torch.device("cpu"))
    again = reloaded.predict(batch, torch.zeros(2))
    assert all(torch.equal(columns[k], again[k]) for k in columns)
    assert reloaded.provenance()["smoke"] is True and "tiny" in reloaded.smoke_reason
    assert fused.fit(Pairs(6), None, tmp_path / "fused", torch.device("cpu"), **TRAIN) == path  # done: reused

    ablation = method(adapter=False, fusion_checkpoint=str(path))  # VQ + fusion reused, only SAM trains
    second = ablation.fit(Pairs(6), None, tmp_path / "ablation", torch.device("cpu"), **TRAIN)
    assert sorted(p.name for p in (tmp_path / "ablation").iterdir() if p.is_dir()) == ["sam"]
    state = load_checkpoint_file(second)["state_dict"]
    assert all(torch.equal(state["fusion"][k], saved["state_dict"]["fusion"][k]) for k in state["fusion"])
    assert not any(key.startswith("adapter.") for key in state["sam"])


def test_baselines_train_no_vq_or_fusion(tmp_path):
    for name in ("rgb", "thermal"):
        torch.manual_seed(0)
        baseline = method(input=name, adapter=False)
        path = baseline.fit(Pairs(4), None, tmp_path / name, torch.device("cpu"), **TRAIN)
        assert sorted(load_checkpoint_file(path)["state_dict"]) == ["sam"]
        assert [p.name for p in (tmp_path / name).iterdir() if p.is_dir()] == ["sam"]
        baseline.use_checkpoint(path)
        baseline.setup(torch.device("cpu"))
        assert baseline.vq_visible is None and baseline.fusion is None
        batch = baseline.collate([Pairs(1, offset=50)[0]])
        assert baseline.predict(batch, torch.zeros(1))["area_label"].sum().item() == 192


def test_split_leak_option_changes_only_the_training_list(tmp_path):
    train, test = Pairs(4), Pairs(3, offset=100)
    assert training_images(train, test, False) is train
    leaked = training_images(train, test, True)
    assert len(leaked) == 7 and len(test) == 3
    assert torch.equal(leaked[4]["image"], test[0]["image"]) and torch.equal(leaked[3]["image"], train[3]["image"])
    with pytest.raises(ValueError, match="train_includes_test=True appends the test split.*train.val_dataset"):
        training_images(train, None, True)
    counts = {}
    for leak in (False, True):
        torch.manual_seed(0)
        baseline = method(input="rgb", adapter=False)
        path = baseline.fit(train, test, tmp_path / str(leak), torch.device("cpu"), train_includes_test=leak, **TRAIN)
        counts[leak] = load_checkpoint_file(path)["meta"]["train_images"]
    assert counts == {False: 4, True: 7}


def test_bad_settings_and_missing_weights_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="FusionSAM input 'ir'; choose from"):
        method(input="ir")
    with pytest.raises(ValueError, match=r"prompt: unknown keys \['points'\]"):
        method(prompt={"points": 5})
    with pytest.raises(ValueError, match="prompt.dropout must be a probability"):
        method(prompt={"dropout": 2})
    with pytest.raises(ValueError, match="vq_input_scaling 'auto'"):
        method(vq_input_scaling="auto")
    with pytest.raises(FileNotFoundError, match="FusionSAM checkpoint not found: None. No trained FusionSAM"):
        method().setup(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"train: unknown keys \['epochs'\]"):
        method().fit(Pairs(2), None, tmp_path, torch.device("cpu"), epochs=3, **TRAIN)

    class RGBOnly(Pairs):
        def __getitem__(self, index):
            item = super().__getitem__(index)
            item.pop("thermal")
            return item

    with pytest.raises(ValueError, match=r"items lack \['thermal'\].*FMB, MFNet, GeneratedRGBTScenes"):
        method().fit(RGBOnly(2), None, tmp_path, torch.device("cpu"), **TRAIN)
    with pytest.raises(FileNotFoundError, match="fusion_checkpoint not found: 'nope.pth'"):
        method(fusion_checkpoint="nope.pth").fit(Pairs(2), None, tmp_path, torch.device("cpu"), **TRAIN)


@pytest.mark.parametrize("dataset, classes", [("fmb", 15), ("mfnet", 9)])
def test_benchmark_configs_are_the_official_recipe_with_the_baselines(dataset, classes):
    expected = {"fusionsam": ("fused", True), "sam_rgb": ("rgb", False), "sam_thermal": ("thermal", False),
                "no_adapter": ("fused", False)}
    methods = set()
    for name, (view, adapter) in expected.items():
        cfg = load_config(f"fusionsam/{dataset}_{name}")
        m, train = to_plain(cfg.method), to_plain(cfg.train)
        assert (m["input"], m["adapter"], m["num_classes"]) == (view, adapter, classes)
        assert m["sam"] == {"model_type": "vit_h", "checkpoint": "checkpoints/fusionsam/sam_vit_h_4b8939.pth"}
        assert m["freeze_image_encoder"] is True and m["prompt"]["points_per_class"] == 10
        assert train["train_includes_test"] is False and train["val_dataset"]["split"] == "test"
        assert train["sam"] == {"epochs": 100, "batch_size": 2, "lr": 1e-4, "weight_decay": 1e-3,
                                "lr_schedule": "constant"}
        assert cfg.paper.setting["dataset"] == dataset.replace("fmb", "FMB").replace("mfnet", "MFNet")
        methods.add(cfg.paper.setting["method"])
    assert len(methods) == 4
    assert load_config(f"fusionsam/{dataset}_no_adapter").upstream.fusion.config == f"fusionsam/{dataset}_fusionsam"


def test_demo_configs_differ_only_in_what_sam_sees():
    cfgs = {name: to_plain(load_config(f"demo/fusionsam_{name}").method) for name in ("fused", "rgb", "thermal")}
    assert [(c["input"], c["adapter"]) for c in cfgs.values()] == [("fused", True), ("rgb", False), ("thermal", False)]
    for c in cfgs.values():
        c.pop("input"), c.pop("adapter")
    assert cfgs["fused"] == cfgs["rgb"] == cfgs["thermal"]
    assert cfgs["fused"]["freeze_image_encoder"] is False  # tiny SAM: no weights to keep frozen
    full = load_config("demo/full/fusionsam_no_adapter")
    assert full.upstream.fusion.config == "demo/full/fusionsam_fused" and full.method.adapter is False


def test_demo_config_runs_through_the_runner_and_repeats_exactly(tmp_path):
    """The fused demo config end to end (train stage, per-sample store, MeanIoU), shrunk to seconds; needs the
    RGB-thermal reader (bench.datasets.rgbt_segmentation)."""
    from bench.registry import DATASETS, UnknownNameError
    from bench.results import read_results
    from bench.runner import evaluate

    try:
        DATASETS.get("GeneratedRGBTScenes")
    except UnknownNameError:
        pytest.skip("GeneratedRGBTScenes (bench.datasets.rgbt_segmentation) is not in this checkout")
    small = {"dataset.num_images": 2, "train.dataset.num_images": 4, "train.vq.epochs": 1, "train.fusion.epochs": 1,
             "train.sam.epochs": 1}
    metrics = []
    for name in ("first", "second"):
        cfg = load_config("demo/fusionsam_fused", {**small, "run.work_dir": str(tmp_path / name)})
        results = read_results(evaluate(cfg, progress=False, wandb_mode="disabled"))
        assert results["smoke"] is True and {"mIoU", "IoU.warm2", "IoU.cool1"} <= set(results["metrics"])
        metrics.append(results["metrics"])
    assert metrics[0] == metrics[1]
