"""VSSD through the harness: ImageNet-1K configs, EMA-key choice, an end-to-end run on an ImageFolder fixture."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import bench.methods.vssd  # noqa: F401 - registers the vssd_* timm entrypoints (run alone, nothing else imports it)
from bench.config import configs_root, load_config, to_plain
from bench.methods.classifier import TimmClassifier
from bench.results import read_results
from bench.runner import evaluate

SMALL = dict(embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], d_state=16)


def test_every_vssd_config_loads_and_names_a_registered_variant():
    import timm

    paths = sorted((configs_root() / "vssd").glob("in1k_*.py"))
    assert [p.stem for p in paths] == ["in1k_vssd_base", "in1k_vssd_base_mesa", "in1k_vssd_micro", "in1k_vssd_small",
                                       "in1k_vssd_small_mesa", "in1k_vssd_tiny", "in1k_vssd_tiny_mesa"]
    for path in paths:
        cfg = load_config(path)
        assert timm.is_model(cfg.method.model_name) and cfg.dataset.interpolation == "bicubic"
        assert cfg.method.checkpoint_keys == ["model_ema", "model"] and cfg.paper.table == "in1k"


@pytest.fixture()
def official_style_checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module, torch.nn.Module]:
    import timm

    raw = timm.create_model("vssd_micro", num_classes=3, **SMALL)
    ema = timm.create_model("vssd_micro", num_classes=3, **SMALL)
    path = tmp_path / "vssd_micro_best_ema.pth"
    torch.save({"model": raw.state_dict(), "model_ema": ema.state_dict(), "epoch": 299, "max_accuracy": 82.5},
               path)
    return path, raw, ema


def test_checkpoint_keys_choose_ema_or_raw_weights(official_style_checkpoint):
    path, raw, ema = official_style_checkpoint
    images = torch.rand(2, 3, 64, 64)
    for keys, reference in ((["model_ema", "model"], ema), (["model"], raw)):
        method = TimmClassifier("vssd_micro", 3, checkpoint=str(path), checkpoint_keys=keys, model_kwargs=SMALL)
        method.setup(torch.device("cpu"))
        assert method.weights["state_dict_key"] == keys[0]
        with torch.inference_mode():
            assert torch.allclose(method.model(images), reference.eval()(images), atol=1e-6)


def test_in1k_config_runs_end_to_end_on_an_imagefolder_fixture(tmp_path, official_style_checkpoint):
    path, _, _ = official_style_checkpoint
    for c, wnid in enumerate(("n01440764", "n01443537", "n01484850")):
        folder = tmp_path / "imagenet" / "val" / wnid
        folder.mkdir(parents=True)
        for i in range(2):
            gen = torch.Generator().manual_seed(10 * c + i)
            pixels = (torch.rand(40, 50, 3, generator=gen) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / f"ILSVRC2012_val_{10 * c + i + 1:08d}.JPEG")
    cfg = load_config("vssd/in1k_vssd_micro", {
        "dataset.root": str(tmp_path / "imagenet"), "dataset.resize": 73, "dataset.crop_size": 64,
        "dataset.classes": ["n01440764", "n01443537", "n01484850"],  # a 3-class subset of the known wnids
        "method.num_classes": 3, "method.checkpoint": str(path), "method.model_kwargs": SMALL,
        "run.work_dir": str(tmp_path / "run"), "run.num_workers": 0, "run.batch_size": 4})
    run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
    results = read_results(run_dir)
    assert {"accuracy", "top5", "nll", "ece_15"} <= set(results["metrics"]) and results["metrics"]["top5"] == 1.0
    assert results["cells"][0]["metric"] == "top-1" and results["cells"][0]["setting"]["model"] == "VSSD-Micro"
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["method"]["checkpoint"]["state_dict_key"] == "model_ema"
    assert to_plain(cfg.method)["model_kwargs"] == SMALL


def test_ade20k_configs_name_reported_cells_and_the_repo_protocol():
    from bench.config import to_plain
    from bench.reported import cell_key, load_report
    from bench.results import paper_cells

    reported = {entry.key for entry in load_report("vssd").entries}
    paths = sorted((configs_root() / "vssd").glob("ade20k_*.py"))
    assert [p.stem for p in paths] == ["ade20k_upernet_vssd_micro", "ade20k_upernet_vssd_micro_ms",
                                       "ade20k_upernet_vssd_small", "ade20k_upernet_vssd_tiny",
                                       "ade20k_upernet_vssd_tiny_ms"]
    filled = set()
    for path in paths:
        cfg = load_config(path)
        method = to_plain(cfg.method)
        assert method["test_pipeline"][1] == {"type": "Resize", "scale": [2048, 512], "keep_ratio": True}
        assert method["tta"] == path.stem.endswith("_ms") and method["model"]["test_cfg"] == {"mode": "whole"}
        assert cfg.dataset.type == "ADE20K" and cfg.task.type == "segmentation"
        for cell in paper_cells(to_plain(cfg.paper), {"mIoU": 0.5, "mAcc": 0.5, "aAcc": 0.5}):
            key = cell_key(cell["table"], cell["setting"], cell["metric"])
            assert key in reported, key
            filled.add(key)
    # SS and MS for Micro and Tiny; Small has no reported number
    assert len(filled) == 4
    scales = [view["scale"] for view in to_plain(load_config(paths[-1]).method)["tta_pipeline"][1]["transforms"][0]]
    assert scales == [[int(2048 * r), int(512 * r)] for r in (0.75, 1.0, 1.25)]


@pytest.mark.parametrize(("vssd", "peers", "phrase"), [
    (0.978, {"convnext": 0.95}, "2.8 points ahead of the best same-size peer (ConvNeXt 95.0%)"),
    (0.968, {"convnext": 0.972, "vit": 0.40}, "on par with the best same-size peer (ConvNeXt 97.2%)"),
    (0.90, {"convnext": 0.95, "vit": 0.97}, "7.0 points behind the best same-size peer (ViT 97.0%): the paper's"),
])
def test_demo_summary_compares_vssd_with_the_best_peer(vssd, peers, phrase):
    from bench.methods.vssd.demo import summarize

    runs = {"vssd_micro_shaped": {"metrics": {"accuracy": vssd}}}
    runs |= {f"vssd_peer_{peer}": {"metrics": {"accuracy": value}} for peer, value in peers.items()}
    summary = summarize(runs)
    assert phrase in summary.sentence and f"reaches {vssd:.1%}" in summary.sentence
    assert summary.headline["VSSD accuracy"] == vssd and len(summary.headline) == 1 + len(peers)


def test_quick_demo_trains_the_full_demos_models_for_fewer_epochs():
    quick = {p.stem: load_config(p) for p in (configs_root() / "demo").glob("vssd_*.py")}
    full = {p.stem: load_config(p) for p in (configs_root() / "demo" / "full").glob("vssd_*.py")}
    assert set(quick) == {"vssd_micro_shaped", "vssd_peer_convnext"} and set(full) == set(quick) | {"vssd_peer_vit"}
    for stem, cfg in quick.items():
        assert to_plain(cfg.method) == to_plain(full[stem].method) and cfg.train.epochs < full[stem].train.epochs


def test_a_config_naming_vssd_micro_builds_without_importing_the_paper_first():
    """Adapters import lazily, so TimmClassifier itself finds the module registering the timm entrypoint."""
    import subprocess
    import sys

    code = ("import sys; from bench.methods.classifier import TimmClassifier; "
            "assert 'bench.methods.vssd' not in sys.modules; "
            "m = TimmClassifier('vssd_micro', 10, in_chans=1, model_kwargs=dict(embed_dim=16, depths=[1, 1, 2, 1], "
            "num_heads=[1, 2, 4, 8], d_state=16)).create_model(); "
            "print(type(m).__name__, sum(p.numel() for p in m.parameters()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "VSSD" and int(out[1]) > 0
