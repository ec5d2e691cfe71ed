"""The Trident method adapter: builds stock CLIP, DINO and SAM from the config and segments each image.

Official weights load from local files named in the config (open_clip state dict for ``clip.checkpoint``,
``dino_vitbase16_pretrain.pth``, ``sam_vit_{b,l,h}_*.pth``). For smoke runs (labelled so), ``random_weights``
builds the full-size model with random weights (real shapes, for timing) and a ``tiny`` entry a small randomly
initialised model of the same kind. Predictions are reduced to per-image class histograms against the reader's
``gt_seg_map``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import load_weights
from bench.method import Method, collate_ragged
from bench.methods.trident import stages
from bench.methods.trident.pipeline import (RESIZE, RefinementSettings, TridentModels, TridentSettings,
                                            coarse_predict, refine_prediction)
from bench.methods.trident.precision import StagePrecision
from bench.metrics.segmentation import segmentation_columns
from bench.registry import DATASETS, METHODS
from bench.store import Columns

OPENVOCAB_HINT = "needs the `openvocab` extra (open_clip_torch, segment-anything): pip install 'bench[openvocab]'"


def _require(path: str | None, what: str, names: str) -> Path:
    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"{what} checkpoint not found: {path!r}. Expected one of the official files "
                                f"({names}) at that path; set it in the config, or, for a smoke run, use "
                                "`random_weights` or a `tiny` model.")
    return Path(path)


def build_clip(cfg: dict[str, Any], low_precision: torch.dtype | None = None) -> tuple[torch.nn.Module, int]:
    """An open_clip CLIP and its text context length: ``model_name`` + ``tag`` (the open_clip pretrained tag of the
    weights, e.g. "openai") + ``checkpoint``; ``random_weights`` instead of a checkpoint; or ``tiny`` kwargs.

    The tag sets QuickGELU as open_clip's pretrained registry says: loading a file does not, and OpenAI's weights
    under plain GELU would run without error and give wrong features. ``low_precision`` (float16 or bfloat16)
    builds it as open_clip's ``precision='fp16'`` does, the official setting: float32-computing LayerNorms and
    ``convert_weights_to_lp`` (LayerNorm, class/position/token embeddings and logit_scale stay float32).
    """
    import open_clip

    names = {torch.float16: "fp16", torch.bfloat16: "bf16"}
    precision = names[low_precision] if low_precision is not None else "fp32"
    if cfg.get("tiny"):
        tiny = dict(cfg["tiny"])
        model = open_clip.CLIP(**tiny, cast_dtype=low_precision)
        if low_precision is not None:
            open_clip.model.convert_weights_to_lp(model, dtype=low_precision)
        return model, int(tiny["text_cfg"]["context_length"])
    name, tag = cfg["model_name"], cfg.get("tag")
    weights = open_clip.get_pretrained_cfg(name, tag) if tag else {}
    if not weights:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
        raise ValueError(f"CLIP needs `tag`, the open_clip pretrained tag of its weights (it fixes the activation); "
                         f"got {tag!r} for {name} (known: {known})")
    quick_gelu = bool(weights.get("quick_gelu", False))
    if cfg.get("random_weights"):
        return open_clip.create_model(name, precision=precision, force_quick_gelu=quick_gelu), 77
    path = _require(cfg.get("checkpoint"), "CLIP", "open_clip_pytorch_model.bin of ViT-B-16 openai or ViT-H-14 "
                    "laion2b_s32b_b79k")
    return open_clip.create_model(name, pretrained=str(path), precision=precision, force_quick_gelu=quick_gelu), 77


def build_dino(cfg: dict[str, Any]) -> torch.nn.Module:
    """DINO ViT-B/16 (timm layout = official key names) from ``checkpoint`` or with ``random_weights``, or a
    ``tiny`` ViT."""
    import timm

    if cfg.get("tiny"):
        return timm.models.VisionTransformer(num_classes=0, **cfg["tiny"])
    model = timm.models.VisionTransformer(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                          num_classes=0)
    if not cfg.get("random_weights"):
        load_weights(model, _require(cfg.get("checkpoint"), "DINO", "dino_vitbase16_pretrain.pth"))
    return model


def build_sam(cfg: dict[str, Any]) -> torch.nn.Module:
    """segment_anything ``Sam`` of ``model_type`` (vit_b/l/h) from ``checkpoint`` or with ``random_weights``, or
    a ``tiny`` one."""
    from segment_anything import sam_model_registry
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if cfg.get("tiny"):
        t = cfg["tiny"]
        grid = t["img_size"] // 16
        return Sam(ImageEncoderViT(img_size=t["img_size"], patch_size=16, embed_dim=t["embed_dim"], depth=t["depth"],
                                   num_heads=t["num_heads"], out_chans=t["out_chans"], use_rel_pos=True,
                                   window_size=t["window_size"], global_attn_indexes=(t["depth"] - 1,)),
                   PromptEncoder(embed_dim=t["out_chans"], image_embedding_size=(grid, grid),
                                 input_image_size=(t["img_size"], t["img_size"]), mask_in_chans=4),
                   MaskDecoder(transformer_dim=t["out_chans"],
                               transformer=TwoWayTransformer(depth=1, embedding_dim=t["out_chans"], num_heads=2,
                                                             mlp_dim=2 * t["out_chans"]),
                               iou_head_hidden_dim=t["out_chans"]))
    model = sam_model_registry[cfg["model_type"]](checkpoint=None)
    if not cfg.get("random_weights"):
        load_weights(model, _require(cfg.get("checkpoint"), "SAM", "sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, "
                                     "sam_vit_h_4b8939.pth"))
    return model


def resolve_class_file(path: str) -> Path:
    """A class-name file as given, or relative to the installed configs (``demo/trident_classes.txt``)."""
    from bench.config import configs_root

    for candidate in (Path(path), configs_root() / path):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"class-name file {path!r} not found (as given, or under {configs_root()}). Format: one "
                            "class per line in label order, synonyms separated by '; ' (an official "
                            "configs/cls_<dataset>.txt of YuHengsss/Trident works as is); or give a vocabulary dict "
                            "instead, as configs/trident/<dataset>.py do")


def class_lines(class_names: str | dict[str, Any]) -> list[str]:
    """One prompt line per class: from a ``cls_*.txt`` file, or from a vocabulary dict naming ``dataset`` (a
    registered segmentation dataset) or ``classes``, plus the keywords of ``stages.class_vocabulary``."""
    if isinstance(class_names, str):
        return resolve_class_file(class_names).read_text().splitlines()
    spec = dict(class_names)
    dataset, classes = spec.pop("dataset", None), spec.pop("classes", None)
    if (dataset is None) == (classes is None):
        raise ValueError(f"a class vocabulary names exactly one of 'dataset' or 'classes', got {class_names!r}")
    if dataset is not None:
        classes = getattr(DATASETS.get(dataset), "classes", ())
        if not classes:
            raise ValueError(f"dataset {dataset!r} declares no class names; give 'classes' or a class-name file")
    return stages.class_vocabulary(classes, **spec)


@METHODS.register_module(name="Trident")
class TridentSegmentor(Method):
    """Splice-then-segment with SAM-guided aggregation and optional SAM refinement (``refinement`` None: off).

    ``precision`` says what each stage runs in (``bench.methods.trident.precision``): "fp16" is the official
    layout, "fp32" float32 throughout, a dict overrides single stages.
    """

    def __init__(self, class_names: str | dict[str, Any], clip: dict[str, Any], dino: dict[str, Any],
                 sam: dict[str, Any], settings: dict[str, Any] | None = None, refinement: dict[str, Any] | None = None,
                 precision: str | dict[str, str] = "fp16", ignore_index: int = 255) -> None:
        self.class_names, self.clip_cfg, self.dino_cfg, self.sam_cfg = class_names, clip, dino, sam
        self.settings = TridentSettings(**(settings or {}))
        self.refinement = RefinementSettings(**refinement) if refinement is not None else None
        self.precision, self.ignore_index = StagePrecision.parse(precision), ignore_index
        tiny = [name for name, cfg in (("CLIP", clip), ("DINO", dino), ("SAM", sam)) if cfg.get("tiny")]
        random = [name for name, cfg in (("CLIP", clip), ("DINO", dino), ("SAM", sam))
                  if cfg.get("random_weights") and not cfg.get("tiny")]
        reasons = ([f"tiny randomly initialised {', '.join(tiny)}"] if tiny else []) + \
            ([f"full-size {', '.join(random)} with random weights"] if random else [])
        self.smoke = bool(reasons)
        self.smoke_reason = f"{'; '.join(reasons)} (foundation weights not here)" if reasons else None
        self.models: TridentModels | None = None
        self.class_lines: list[str] | None = None

    def setup(self, device: torch.device, seed: int = 0) -> None:
        try:
            import open_clip
        except ImportError as error:
            raise ImportError(OPENVOCAB_HINT) from error
        self.class_lines = class_lines(self.class_names)
        names, query_index = stages.query_names(self.class_lines)
        with torch.random.fork_rng(devices=[]):  # tiny models' random weights depend on the run seed only
            torch.manual_seed(seed)
            clip, context_length = build_clip(self.clip_cfg, self.precision.low_precision_clip())
            dino, sam = build_dino(self.dino_cfg), build_sam(self.sam_cfg)
        clip, dino = clip.to(device).eval(), dino.to(device, self.precision.dino).eval()
        sam = sam.to(device, self.precision.sam_encoder).eval()  # image encoder and pixel statistics, as the
        sam.prompt_encoder.float()  # official code; the prompt encoder and mask decoder stay in float32
        sam.mask_decoder.float()
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

        def encode_text(texts: list[str]) -> torch.Tensor:
            return clip.encode_text(open_clip.tokenize(texts, context_length=context_length).to(device))

        with torch.no_grad():
            text = stages.text_embeddings(encode_text, names, OPENAI_IMAGENET_TEMPLATES, dtype=self.precision.clip)
        self.models = TridentModels(clip, dino, sam, text, query_index, precision=self.precision)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("img_path", "seg_map_path", "gt_seg_map", "image"))

    def predict_one(self, image: torch.Tensor) -> torch.Tensor:
        """Labels [H, W] for one uint8 RGB image [3, H, W]."""
        assert self.models is not None, "setup() was not called"
        rgb = image.permute(1, 2, 0).cpu().numpy()
        probs, labels = coarse_predict(self.models, self.settings, rgb)
        if self.refinement is not None:
            labels, _ = refine_prediction(self.models, self.refinement, rgb, self.models.last_sam_image, labels,
                                          probs)
        return labels.cpu()  # the reader's ground truth is on the CPU

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        num_classes = max(self.models.query_index) + 1 if self.models else 0
        preds = [self.predict_one(image) for image in batch["image"]]
        return segmentation_columns(preds, batch["gt_seg_map"], num_classes, self.ignore_index)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "class_names": self.class_names,
                "class_lines": self.class_lines, "precision": self.precision.describe(), "resize": RESIZE,
                "settings": self.settings.__dict__, "refinement": self.refinement.__dict__ if self.refinement else None}
