"""``BrightEnding`` through the runner on a tiny Stable Diffusion folder and prompt files in the official layouts:
the per-prompt columns, seeds = gen_seed + row, the detection cells recomputed from the stored tracks, copy
similarity against the GT PNGs, the map export, and errors."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from sd_fixture import write_tiny_stable_diffusion  # noqa: E402

from bench.config import load_config  # noqa: E402
from bench.datasets.memorization import MemorizedPrompts, NonMemorizedPrompts  # noqa: E402
from bench.metrics.memorization import prompt_scores  # noqa: E402
from bench.methods.bright_ending.adapter import BrightEnding  # noqa: E402
from bench.runner import evaluate  # noqa: E402
from bench.store import SampleStore  # noqa: E402


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd"), cross_attention_first=True)


def write_config(tmp_path, sd_folder, method_extra: str = "", metrics: str | None = None):  # noqa: ANN201
    memorized = MemorizedPrompts.write_example(tmp_path / "data", variant="repeated", num_prompts=3,
                                               gt_per_prompt=(1, 2, 0))
    lexica = NonMemorizedPrompts.write_example(tmp_path / "data", num_prompts=3)
    metrics = metrics or """[dict(type="MemorizationDetection", signal="text_noise_norm", budget="first_step", n_gens=1,
                     prefix="Wen first step n=1 "),
                dict(type="MemorizationDetection", signal="masked_noise_norm", budget="all_steps", n_gens=2,
                     prefix="BE all steps n=2 "),
                dict(type="CopySimilarity", prefix="pixel similarity ")]"""
    path = tmp_path / "be.py"
    path.write_text(f"""
dataset = dict(type="DetectionPrompts",
               memorized=dict(type="MemorizedPrompts", prompts_file={str(memorized)!r}),
               nonmemorized=dict(type="NonMemorizedPrompts", prompts_file={str(lexica)!r}, name="lexica"))
method = dict(type="BrightEnding", model={str(sd_folder)!r}, num_images=2, gen_seed=7,
              sampling=dict(num_inference_steps=3){method_extra})
task = dict(type="text_to_image_memorization", similarity=dict(type="PixelCorrelationFeatures"), export_maps=2,
            metrics={metrics})
run = dict(device="cpu", batch_size=2)
""")
    return path


def test_detection_run_columns_metrics_and_exports(tmp_path, sd_folder):
    path = write_config(tmp_path, sd_folder)
    run_dir = evaluate(load_config(path, {"run.work_dir": str(tmp_path / "run")}), wandb_mode="disabled",
                       progress=False)
    results = json.loads((run_dir / "results.json").read_text())
    rows = SampleStore(run_dir, results["config_sha256"]).load()
    assert rows["sample_id"][:3] == [f"memorized-{1000003 + 7919 * i}" for i in range(3)]
    assert rows["label"].tolist() == [1, 1, 1, 0, 0, 0]
    assert rows["text_noise_norm"].shape == (6, 2, 3) and rows["masked_noise_norm"].shape == (6, 2, 3)
    assert rows["eos_map"].shape == (6, 2, 8, 8) and rows["eos_map"].dtype == torch.float16
    assert rows["image"].shape == (6, 2, 16, 16, 3) and rows["copy_similarity"].shape == (6, 2)
    assert bool(torch.isnan(rows["copy_similarity"][2]).all())  # the third memorized prompt has no GT image
    assert bool(torch.isnan(rows["copy_similarity"][3:]).all())  # non-memorized prompts have none
    metrics = results["metrics"]
    for prefix, column, budget, n in (("Wen first step n=1 ", "text_noise_norm", "first_step", 1),
                                      ("BE all steps n=2 ", "masked_noise_norm", "all_steps", 2)):
        from sklearn.metrics import roc_auc_score

        scores = prompt_scores(rows[column], n, budget)
        assert metrics[prefix + "AUC"] == pytest.approx(roc_auc_score(rows["label"].numpy(), scores.numpy()))
    assert metrics["pixel similarity prompts without GT"] == 1.0
    assert -1 <= metrics["pixel similarity max"] <= 1
    assert sorted(p.name for p in (run_dir / "maps").iterdir())[:2] == [
        "memorized-1000003_0.png", "memorized-1000003_1.png"]
    provenance = json.loads((run_dir / "provenance.json").read_text())
    method = provenance["method"] if "method" in provenance else provenance
    assert "gen_seed + row" in json.dumps(method)


def test_seeds_follow_the_row_and_batches_do_not_matter(tmp_path, sd_folder):
    method = BrightEnding(model=str(sd_folder), num_images=1, gen_seed=4, signals=("wen",),
                          sampling=dict(num_inference_steps=2))
    method.setup(torch.device("cpu"))
    batch = {"prompt": ["a cat", "a dog"], "row": torch.tensor([0, 5]), "label": torch.tensor([1, 0])}
    both = method.predict(batch, torch.zeros(2))
    alone = method.predict({"prompt": ["a dog"], "row": torch.tensor([5]), "label": torch.tensor([0])}, torch.zeros(1))
    assert torch.equal(both["image"][1], alone["image"][0])
    assert torch.equal(both["text_noise_norm"][1], alone["text_noise_norm"][0])
    moved = method.predict({"prompt": ["a dog"], "row": torch.tensor([0]), "label": torch.tensor([0])}, torch.zeros(1))
    assert not torch.equal(moved["image"][0], alone["image"][0])  # seed 4 + 0, not 4 + 5
    assert "eos_map" not in both and "masked_noise_norm" not in both  # signals=("wen",): no capture


def test_two_passes_equal_one(tmp_path, sd_folder):
    batch = {"prompt": ["a cat"], "row": torch.tensor([2]), "label": torch.tensor([1])}
    outs = []
    for passes in (1, 2):
        method = BrightEnding(model=str(sd_folder), num_images=2, passes=passes, sampling=dict(num_inference_steps=3))
        method.setup(torch.device("cpu"))
        outs.append(method.predict(batch, torch.zeros(1)))
    assert torch.equal(outs[0]["masked_noise_norm"], outs[1]["masked_noise_norm"])
    assert torch.equal(outs[0]["eos_map"], outs[1]["eos_map"])


def test_errors(tmp_path, sd_folder):
    with pytest.raises(ValueError, match=r"signals must be a non-empty subset of \('wen', 'be'\)"):
        BrightEnding(model="x", signals=("amg",))
    with pytest.raises(ValueError, match=r"passes must be 1"):
        BrightEnding(model="x", passes=3)
    with pytest.raises(ValueError, match=r"mitigation.type must be one of"):
        BrightEnding(model="x", mitigation=dict(type="rewrite"))
    with pytest.raises(RuntimeError, match=r"no model folder; set method.model"):
        BrightEnding().setup(torch.device("cpu"))
    method = BrightEnding(model=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"folder not found"):
        method.setup(torch.device("cpu"))
    plain_first = write_tiny_stable_diffusion(tmp_path / "plain")  # down_blocks.0 has no cross-attention
    with pytest.raises(ValueError, match=r"no cross-attention layer \(attn2\) under 'down_blocks.0'"):
        BrightEnding(model=str(plain_first)).setup(torch.device("cpu"))


@pytest.mark.parametrize("name", ["detection_lexica", "detection_wen_sanity", "localization", "mitigation_none"])
def test_the_paper_configs_run_on_fixtures_in_the_official_layout(tmp_path, sd_folder, name):
    """Each paper config with only its file paths (and the SSCD/CLIP weights, not here) swapped for fixtures, at 2
    DDIM steps: the configs are complete and their metrics compute."""
    from bench.config import configs_root

    memorized = MemorizedPrompts.write_example(tmp_path / "data", variant="repeated", num_prompts=3)
    lexica = NonMemorizedPrompts.write_example(tmp_path / "data", num_prompts=12)
    overrides = {"run.work_dir": str(tmp_path / "run"), "method.model": str(sd_folder),
                 "method.sampling.num_inference_steps": 2, "method.sampling.height": 16, "method.sampling.width": 16,
                 "run.device": "cpu"}
    if name.startswith("detection"):
        overrides["dataset.memorized.prompts_file"] = str(memorized)
        overrides["dataset.nonmemorized.prompts_file"] = str(lexica)
        overrides["dataset.nonmemorized.subset_size"] = 5
        overrides["method.num_images"] = 16 if name == "detection_lexica" else 4
        overrides["method.sampling.num_inference_steps"] = 10  # the "first 10 steps" budget needs 10
    else:
        overrides["dataset.prompts_file"] = str(memorized)
    cfg = load_config(configs_root() / "bright_ending" / f"{name}.py", overrides)
    if name == "detection_lexica":  # 5 subsets of 500 of 2,500 -> 5 subsets of 4 of 5
        for metric in cfg["task"]["metrics"]:
            metric["subset_size"] = 4
    if name == "mitigation_none":
        cfg["task"]["similarity"] = {"type": "PixelCorrelationFeatures"}
        cfg["task"]["clip"] = None
        cfg["task"]["metrics"] = [m for m in cfg["task"]["metrics"] if m["type"] != "MeanCLIPScore"]
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    if name == "detection_lexica":
        assert len([k for k in metrics if k.endswith(" AUC")]) == 18  # 2 signals x 3 budgets x 3 n_gens
        assert 0 <= metrics["BE first_10_steps n=16 AUC std"] <= 0.5  # over the 5 subsets
    if name == "detection_wen_sanity":
        assert {"Wen all_steps n=4 AUC", "Wen all_steps n=4 ACC", "Wen all_steps n=4 TPR@1%FPR"} <= set(metrics)
    if name == "localization":
        assert len(list((run_dir / "maps").iterdir())) == 3 * 4
    if name == "mitigation_none":
        assert metrics["SSCD prompts without GT"] == 1.0


@pytest.mark.parametrize("mitigation", [
    dict(type="prompt_optimization", loss="plain", lr=0.05, iters=3, target_loss=0.0, target_step=0),
    dict(type="prompt_optimization", loss="masked", lr=0.05, iters=3, target_loss=0.0, target_step=1),
    dict(type="prompt_augmentation", style="rand_numb_add", repeat_num=2),
    dict(type="prompt_augmentation", style="rand_word_repeat", repeat_num=2),
    dict(type="embedding_noise", std=0.5),
], ids=["wen", "be_step1", "rna", "cwr", "gni"])
def test_mitigations_change_the_generation_and_record_what_they_did(sd_folder, mitigation):
    batch = {"prompt": ["a cat"], "row": torch.tensor([1]), "label": torch.tensor([1])}
    plain = BrightEnding(model=str(sd_folder), num_images=2, sampling=dict(num_inference_steps=3))
    plain.setup(torch.device("cpu"))
    base = plain.predict(batch, torch.zeros(1))
    method = BrightEnding(model=str(sd_folder), num_images=2, sampling=dict(num_inference_steps=3),
                          mitigation=mitigation)
    method.setup(torch.device("cpu"))
    out = method.predict(batch, torch.zeros(1))
    if mitigation.get("style") != "rand_numb_add":  # the fixture tokenizer reads digits as <|endoftext|>, the pad
        assert not torch.equal(out["image"], base["image"])
    assert out["masked_noise_norm"].shape == out["text_noise_norm"].shape == (1, 2, 3)
    if mitigation["type"] == "prompt_optimization":
        assert out["optim_iterations"].tolist() == [[3.0, 3.0]]  # target 0 is never reached: every iteration runs
        assert bool(torch.isfinite(out["optim_final_loss"]).all())
        assert out["prompt"] == ["a cat"]
    elif mitigation["type"] == "prompt_augmentation":
        assert out["prompt"][0] != "a cat" and len(out["prompt"][0].split(" ")) == 4  # two words inserted
        again = method.predict(batch, torch.zeros(1))
        assert again["prompt"] == out["prompt"] and torch.equal(again["image"], out["image"])  # seeded per prompt
    else:
        assert out["prompt"] == ["a cat"]


def test_mitigation_knobs_fail_at_build_time():
    with pytest.raises(ValueError, match=r"mitigation.loss must be 'plain'"):
        BrightEnding(model="x", mitigation=dict(type="prompt_optimization", loss="global"))
    with pytest.raises(ValueError, match=r"prompt_augmentation takes style"):
        BrightEnding(model="x", mitigation=dict(type="prompt_augmentation", style="shuffle"))
    with pytest.raises(ValueError, match=r"embedding_noise takes std"):
        BrightEnding(model="x", mitigation=dict(type="embedding_noise", sigma=0.1))
    with pytest.raises(ValueError, match=r"lr"):
        BrightEnding(model="x", mitigation=dict(type="prompt_optimization", lr=-1.0))


def test_fit_trains_once_and_resumes_a_finished_model(tmp_path):
    from bench.datasets.memorization_digits import DigitsMemorizationTrain

    train_set = DigitsMemorizationTrain(size=8, motif_size=4, num_ordinary=16, copies=2, num_global=1, num_local=1)
    method = BrightEnding()
    folder = method.fit(train_set, None, tmp_path, torch.device("cpu"), steps=2, batch_size=4, seed=0,
                        show_progress=False)
    stamp = (folder / "toy.json").stat().st_mtime_ns
    again = method.fit(train_set, None, tmp_path, torch.device("cpu"), steps=2, batch_size=4, seed=0,
                       show_progress=False)
    assert again == folder and (folder / "toy.json").stat().st_mtime_ns == stamp  # not retrained
    retrained = method.fit(train_set, None, tmp_path, torch.device("cpu"), resume=False, steps=2, batch_size=4,
                           seed=0, show_progress=False)
    assert retrained == folder and (folder / "toy.json").stat().st_mtime_ns != stamp
