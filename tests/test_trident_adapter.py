"""The Trident adapter end to end through the runner: the smoke demo on generated scenes with tiny models."""
import json

import pytest
import torch

from bench.config import load_config, to_plain
from bench.datasets.segmentation import GeneratedScenes, PascalContext59, PascalContext60
from bench.methods.trident.adapter import (TridentSegmentor, build_clip, build_dino, build_sam, class_lines,
                                           resolve_class_file)
from bench.methods.trident.precision import STAGES
from bench.results import PROVENANCE_FILE, read_results
from bench.runner import evaluate

pytest.importorskip("open_clip")
pytest.importorskip("segment_anything")


def demo_method(**overrides) -> TridentSegmentor:
    cfg = to_plain(load_config("demo/trident_generated_scenes").method)
    cfg.pop("type")
    return TridentSegmentor(**{**cfg, **overrides})


def test_demo_runs_end_to_end_as_smoke_and_repeats_exactly(tmp_path):
    metrics = []
    for name in ("first", "second"):
        cfg = load_config("demo/trident_generated_scenes", {"run.work_dir": str(tmp_path / name)})
        results = read_results(evaluate(cfg, progress=False, wandb_mode="disabled"))
        assert results["smoke"] is True and set(results["metrics"]) == {"mIoU", "mAcc", "aAcc"}
        metrics.append(results["metrics"])
    assert metrics[0] == metrics[1] and 0.0 <= metrics[0]["mIoU"] <= 1.0


def test_refinement_changes_the_prediction():
    image = GeneratedScenes(num_images=1, size=(64, 96), num_classes=3)[0]["image"]
    refined, coarse = demo_method(), demo_method(refinement=None)
    for method in (refined, coarse):
        method.setup(torch.device("cpu"), seed=0)
    with_refinement, without = refined.predict_one(image), coarse.predict_one(image)
    assert with_refinement.shape == without.shape == (64, 96)
    assert not torch.equal(with_refinement, without)


def test_missing_weights_and_class_files_name_what_is_expected():
    with pytest.raises(FileNotFoundError, match="sam_vit_b_01ec64.pth"):
        build_sam({"model_type": "vit_b", "checkpoint": "nowhere/sam.pth"})
    with pytest.raises(FileNotFoundError, match="dino_vitbase16_pretrain.pth"):
        build_dino({"checkpoint": None})
    with pytest.raises(FileNotFoundError, match="one class per line"):
        resolve_class_file("trident/classes/cls_nowhere.txt")
    assert resolve_class_file("demo/trident_classes.txt").read_text().startswith("background; ")
    with pytest.raises(ValueError, match="exactly one of 'dataset' or 'classes'"):
        class_lines({"dataset": "PascalVOC", "classes": ["a"]})
    with pytest.raises(ValueError, match="declares no class names"):
        class_lines({"dataset": "GeneratedScenes"})


def test_clip_tag_sets_the_activation_open_clip_registers_for_those_weights():
    """OpenAI's ViT-B/16 needs QuickGELU; loading a file would silently build plain GELU without the tag."""
    import open_clip

    model, context_length = build_clip({"model_name": "ViT-B-16", "tag": "openai", "random_weights": True})
    assert context_length == 77
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert isinstance(model.transformer.resblocks[-1].mlp.gelu, open_clip.transformer.QuickGELU)
    with pytest.raises(ValueError, match="needs `tag`.*known: openai"):
        build_clip({"model_name": "ViT-B-16", "checkpoint": "open_clip_pytorch_model.bin"})
    for config, quick_gelu in (("trident/voc21", True), ("trident/vith14/voc21_proxyclip", False)):
        clip = load_config(config).method.clip
        assert bool(open_clip.get_pretrained_cfg(clip.model_name, clip.tag).get("quick_gelu")) is quick_gelu
    method = TridentSegmentor(class_names="demo/trident_classes.txt", clip={"model_name": "ViT-B-16", "tag": "openai",
                              "random_weights": True}, dino={"random_weights": True}, sam={"model_type": "vit_b",
                              "random_weights": True})
    assert method.smoke and method.smoke_reason.startswith("full-size CLIP, DINO, SAM with random weights")


def test_benchmark_vocabularies_word_the_classes_as_the_official_class_files():
    """Golden lines of each benchmark's prompt vocabulary (its official cls_<dataset>.txt, built from the dataset's
    class names: background words, renames, joined multi-word names)."""
    lines = {name: class_lines(to_plain(load_config(f"trident/{name}").method)["class_names"])
             for name in ("voc21", "voc20", "context60", "context59", "coco_object", "coco_stuff", "cityscapes",
                          "ade20k")}
    assert {name: len(value) for name, value in lines.items()} == {
        "voc21": 21, "voc20": 20, "context60": 60, "context59": 59, "coco_object": 81, "coco_stuff": 171,
        "cityscapes": 19, "ade20k": 150}
    background = lines["voc21"][0].split("; ")
    assert (len(background), background[:3], background[-1]) == (26, ["sky", "wall", "tree"], "fence")
    assert (lines["voc21"][4], lines["voc21"][11], lines["voc21"][16]) == ("ship", "table", "pottedplant")
    assert lines["voc20"] == lines["voc21"][1:]
    assert lines["context60"] == list(PascalContext60.classes) and lines["context59"] == list(PascalContext59.classes)
    background = lines["coco_object"][0].split("; ")
    assert (len(background), background[-3:]) == (17, ["floor", "hill", "rail"])
    assert (lines["coco_object"][10], lines["coco_stuff"][9]) == ("traffic light", "trafficlight")
    assert lines["coco_stuff"][84] == "building-other" and lines["cityscapes"][6:8] == ["trafficlight", "trafficsign"]
    assert lines["ade20k"][44] == "chestofdrawers"
    assert not any(" " in line for name in ("coco_stuff", "cityscapes", "ade20k") for line in lines[name])


def test_trailing_spaces_in_class_names_do_not_change_the_prompt_tokens():
    """Names are stored stripped; mmseg's ADE20K "bed " and the official Context60 "wood " tokenize the same."""
    import open_clip
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    for name in ("wood", "bed"):
        for template in OPENAI_IMAGENET_TEMPLATES:
            assert torch.equal(open_clip.tokenize([template(name + " ")]), open_clip.tokenize([template(name)]))


def test_benchmark_configs_fill_the_reported_cells():
    from bench.config import configs_root
    from bench.reported import cell_key, load_report
    from bench.results import paper_cells

    reported = {entry.key for entry in load_report("trident").entries}
    paths = sorted((configs_root() / "trident").glob("*.py")) + sorted((configs_root() / "trident").glob("vith14/*.py"))
    assert len(paths) == 32
    cells = set()
    for path in paths:
        cfg = load_config(path)
        (cell,) = paper_cells(to_plain(cfg.paper), {"mIoU": 0.5})
        key = cell_key(cell["table"], cell["setting"], cell["metric"])
        assert key in reported, key
        cells.add(key)
        assert class_lines(to_plain(cfg.method)["class_names"]) == class_lines(
            to_plain(load_config(f"trident/{path.stem.removesuffix('_proxyclip')}").method)["class_names"])
        proxy = path.stem.endswith("_proxyclip")
        assert (cfg.method.refinement is None) == proxy and cfg.method.settings.get("sam_aggregation", True) != proxy
    assert len(cells) == 32  # 8 benchmarks x (Trident, ProxyCLIP) x (ViT-B/16, ViT-H/14)
    assert load_config("trident/vith14/ade20k").method.clip.model_name == "ViT-H-14"
    city = load_config("trident/cityscapes").method
    assert city.settings.sam_per_half and city.settings.cos_fac == 3.0 and city.refinement.coarse_thresh == 0.1
    assert load_config("trident/voc20").method.settings.slide_stride == 112


def test_voc21_config_runs_on_a_voc_example_with_tiny_models(tmp_path):
    from bench.datasets.segmentation import PascalVOC

    root = PascalVOC.write_example(tmp_path / "VOC2012", size=(48, 40))
    demo = to_plain(load_config("demo/trident_generated_scenes").method)
    cfg = load_config("trident/voc21", {
        "dataset.data_root": str(root), "method.clip": demo["clip"],
        "method.dino": demo["dino"], "method.sam": demo["sam"], "method.precision": "fp32",
        "method.settings": {**demo["settings"], "prob_thd": 0.2}, "method.refinement.minimal_area": 4,
        "run.work_dir": str(tmp_path / "run"), "run.num_workers": 0})
    run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
    results = read_results(run_dir)
    assert results["smoke"] is True and results["cells"][0]["setting"]["dataset"] == "VOC21"
    prompts = json.loads((run_dir / PROVENANCE_FILE).read_text())["method"]["class_lines"]
    assert len(prompts) == 21 and prompts[4] == "ship" and prompts[0].startswith("sky; wall; ")
    assert 0.0 <= results["metrics"]["mIoU"] <= 1.0


@pytest.fixture(scope="module")
def fp16_and_fp32_runs():
    """The demo's tiny models (same seed) under precision "fp16" and "fp32": each method, the stage outputs and
    the class probabilities of one generated scene."""
    from bench.methods.trident.pipeline import coarse_predict

    rgb = GeneratedScenes(num_images=1, size=(64, 96), num_classes=3)[0]["image"].permute(1, 2, 0).numpy()
    runs = {}
    for precision in ("fp16", "fp32"):
        method = demo_method(precision=precision)
        method.setup(torch.device("cpu"), seed=0)
        trace: dict[str, torch.Tensor] = {}
        probs, _ = coarse_predict(method.models, method.settings, rgb, trace)
        runs[precision] = (method, trace, probs)
    return runs


def test_fp16_layout_per_stage_follows_the_official_code(fp16_and_fp32_runs):
    """open_clip's precision='fp16' CLIP (LayerNormFp32, convert_weights_to_lp: LayerNorm, class/position/token
    embeddings and logit_scale float32, the rest float16); DINO and SAM's image encoder float16 whole, SAM's
    prompt encoder and mask decoder float32; every stage's output float16, the probabilities float32."""
    from open_clip.transformer import LayerNormFp32

    method, trace, probs = fp16_and_fp32_runs["fp16"]
    clip = method.models.clip
    norms = [name for name, module in clip.named_modules() if isinstance(module, torch.nn.LayerNorm)]
    assert norms and all(isinstance(clip.get_submodule(name), LayerNormFp32) for name in norms)
    kept = {"visual.class_embedding", "visual.positional_embedding", "positional_embedding",
            "token_embedding.weight", "logit_scale", *(f"{name}.{p}" for name in norms for p in ("weight", "bias"))}
    dtypes = {name: p.dtype for name, p in clip.named_parameters()}
    assert {name for name, dtype in dtypes.items() if dtype == torch.float32} == kept
    assert {dtype for name, dtype in dtypes.items() if name not in kept} == {torch.float16}
    assert {p.dtype for p in method.models.dino.parameters()} == {torch.float16}
    assert {p.dtype for p in method.models.sam.image_encoder.parameters()} == {torch.float16}
    decoder = [*method.models.sam.mask_decoder.parameters(), *method.models.sam.prompt_encoder.parameters()]
    assert {p.dtype for p in decoder} == {torch.float32}
    assert set(trace) == {"dino", "clip", "proxy_attention", "splice", "aggregation", "classification"}
    assert {t.dtype for t in trace.values()} == {torch.float16} and method.models.text.dtype == torch.float16
    assert probs.dtype == torch.float32
    assert method.provenance()["precision"] == {**dict.fromkeys(STAGES, "float16"), "sam_decoder": "float32"}
    assert method.provenance()["resize"].startswith("cv2.resize INTER_LINEAR on uint8")


def test_fp16_stage_outputs_match_fp32_within_fp16_rounding(fp16_and_fp32_runs):
    """Same weights (up to their float16 rounding) in float16 and float32. A float16 stage output carries the
    rounding of its inputs, weights and result (each at most eps/2 relative) and what earlier stages pass on;
    measured about one eps of the output's scale on these tiny models, bounded here by 8 eps. The probabilities
    move at most logit_scale / 2 times the cosine logits' error (a softmax's rows have l1 norm <= 1/2), cosines
    being within 8 eps too."""
    eps = torch.finfo(torch.float16).eps
    _, half, half_probs = fp16_and_fp32_runs["fp16"]
    method, full, full_probs = fp16_and_fp32_runs["fp32"]
    assert {t.dtype for t in full.values()} == {torch.float32}
    for stage, reference in full.items():
        error = float((half[stage].float() - reference).abs().max())
        assert 0 < error <= 8 * eps * float(reference.abs().max()), stage
    assert float((half_probs - full_probs).abs().max()) <= method.settings.logit_scale / 2 * 8 * eps


def test_a_precision_dict_overrides_single_stages():
    method = demo_method(precision={"default": "fp16", "aggregation": "fp32", "classification": "fp32"})
    method.setup(torch.device("cpu"))
    from bench.methods.trident.pipeline import coarse_predict

    trace: dict[str, torch.Tensor] = {}
    rgb = GeneratedScenes(num_images=1, size=(48, 64), num_classes=3)[0]["image"].permute(1, 2, 0).numpy()
    coarse_predict(method.models, method.settings, rgb, trace)
    assert {stage: str(t.dtype) for stage, t in trace.items()} == {
        "dino": "torch.float16", "clip": "torch.float16", "proxy_attention": "torch.float16",
        "splice": "torch.float16", "aggregation": "torch.float32", "classification": "torch.float32"}
    assert method.provenance()["precision"]["aggregation"] == "float32"


@pytest.mark.parametrize(("smoke", "phrase"), [(True, "is a smoke check of the code path, not the paper's effect"),
                                               (False, "segments 4 generated scenes with mIoU 12.5%")])
def test_demo_summary_labels_a_smoke_run(smoke, phrase):
    from bench.methods.trident.demo import summarize

    run = {"metrics": {"mIoU": 0.125, "aAcc": 0.5, "mAcc": 0.3}, "samples": {"effective": 4}, "smoke": smoke,
           "smoke_reason": "tiny randomly initialised CLIP, DINO, SAM" if smoke else None,
           "figures": {"overlay": "figures/overlay.png"}, "run_dir": "/r"}
    summary = summarize({"trident_generated_scenes": run})
    assert phrase in summary.sentence and summary.headline == {"mIoU": 0.125, "aAcc": 0.5}
    assert summary.figures == ["/r/figures/overlay.png"]
