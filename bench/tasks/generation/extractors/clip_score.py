"""CLIP score (image-text alignment) of generations with open_clip, read from a local checkpoint.

Two variants, chosen by ``variant`` (each setting can still be given on its own):

* ``"wen"`` (default; Wen / Bright Ending / PRSS ``optim_utils.measure_CLIP_similarity``): ``ViT-g-14``
  ``laion2b_s12b_b42k``; open_clip's eval transform, Resize(224, bicubic) -> CenterCrop(224) -> ToTensor ->
  Normalize(OpenAI mean/std) on PIL images; cosine of L2-normalised embeddings (values ~0.2-0.3).
* ``"amg"`` (AMG-sd ``scripts/eval.py``): OpenAI CLIP ViT-L/14 (``ViT-L-14`` tag ``openai``, QuickGELU), fed AMG's
  ``sscd_transform`` of the generation, Resize((224, 224)) bilinear -> ToTensor with *no* CLIP normalisation
  (reproduced as the code does it), and 100 x cosine (values ~26-28).

Nothing is downloaded: ``checkpoint`` is an open_clip-format file (``open_clip_pytorch_model.bin`` or
``.safetensors`` of the model's Hugging Face repository). Text goes through open_clip's tokenizer for the model
(truncated to its context length, EOT kept, as open_clip and OpenAI's ``clip.tokenize(truncate=True)`` do).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.io import sha256_file
from bench.registry import EXTRACTORS
from bench.suggest import suggest
from bench.tasks.generation.extractors.base import UnitNormEmbedder
from bench.tasks.generation.extractors.preprocessing import (CLIP_MEAN, CLIP_STD, ImagePreprocessing, Images,
                                                             check_images, pick_preset)

CLIP_PREPROCESSING = {
    "open_clip": ImagePreprocessing(
        "open_clip", "open_clip image_transform(224, is_train=False) as create_model_and_transforms returns it "
        "(Wen / BE optim_utils.measure_CLIP_similarity)",
        resize=224, interpolation="bicubic", backend="pil", crop=224, mean=CLIP_MEAN, std=CLIP_STD),
    "amg": ImagePreprocessing(
        "amg", "chenchen-usyd/AMG-sd scripts/eval.py get_image_emb_from_tensor (sscd_transform, no CLIP "
        "normalisation)", resize=(224, 224), interpolation="bilinear", backend="pil"),
}
VARIANTS: dict[str, dict[str, Any]] = {
    "wen": {"model_name": "ViT-g-14", "tag": "laion2b_s12b_b42k", "preprocessing": "open_clip", "scale": 1.0},
    "amg": {"model_name": "ViT-L-14", "tag": "openai", "preprocessing": "amg", "scale": 100.0},
}
CHECKPOINT_SOURCES = {
    ("ViT-g-14", "laion2b_s12b_b42k"): "open_clip_pytorch_model.bin from https://huggingface.co/laion/"
                                       "CLIP-ViT-g-14-laion2B-s12B-b42K",
    ("ViT-L-14", "openai"): "open_clip_pytorch_model.bin from https://huggingface.co/timm/"
                            "vit_large_patch14_clip_224.openai (OpenAI's ViT-L/14 weights in open_clip format)",
    ("ViT-B-32", "openai"): "open_clip_pytorch_model.bin from https://huggingface.co/timm/"
                            "vit_base_patch32_clip_224.openai (OpenAI's ViT-B/32 weights in open_clip format: the "
                            "CLIP of D-TRAK's CLIP baseline)",
}


def clip_score(image_features: torch.Tensor, text_features: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``scale`` x cosine of each image [B, D] with its text [B, D] (or one text [1, D] for all): [B]. BE's score of
    a prompt is the mean of this over its generations."""
    if image_features.dim() != 2 or text_features.dim() != 2 or image_features.shape[1] != text_features.shape[1] \
            or text_features.shape[0] not in (1, image_features.shape[0]):
        raise ValueError(f"clip_score needs image [B, D] and text [B, D] or [1, D] features, got "
                         f"{tuple(image_features.shape)} and {tuple(text_features.shape)}")
    image = torch.nn.functional.normalize(image_features.float(), dim=-1)
    text = torch.nn.functional.normalize(text_features.float(), dim=-1)
    return scale * (image * text).sum(dim=-1)


@EXTRACTORS.register_module()
class CLIPScoreFeatures(UnitNormEmbedder):
    """open_clip image embeddings ``{"pool": [B, D]}`` (L2-normalised float32), text embeddings
    (:meth:`encode_text`) and the CLIP score of images with their prompts (:meth:`score`).

    Args:
        checkpoint: local open_clip-format weights of ``model_name`` / ``tag``.
        variant: "wen" or "amg", the defaults of the four settings below (see the module docstring).
        model_name: open_clip architecture name (``ViT-g-14``).
        tag: open_clip pretrained tag of the weights; it sets QuickGELU as open_clip's registry says (loading a
            file does not, and OpenAI weights under plain GELU run without error and give wrong features).
        preprocessing: one of :data:`CLIP_PREPROCESSING`.
        scale: factor of the cosine (1 for BE, 100 for AMG).
        batch_size: images per forward pass.
        model_cfg: an open_clip ``CLIP(**model_cfg)`` architecture instead of ``model_name`` (small test models);
            its weights still come from ``checkpoint``.
    """

    def __init__(self, checkpoint: str, variant: str = "wen", model_name: str | None = None, tag: str | None = None,
                 preprocessing: str | None = None, scale: float | None = None, batch_size: int = 32,
                 model_cfg: dict[str, Any] | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"CLIPScoreFeatures: unknown variant {variant!r}; one of {sorted(VARIANTS)}."
                             f"{suggest(variant, list(VARIANTS))}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"CLIPScoreFeatures: batch_size must be a positive integer, got {batch_size!r}")
        defaults = VARIANTS[variant]
        self.variant = variant
        self.model_name = str(model_name or defaults["model_name"]) if model_cfg is None else "custom"
        self.tag = (tag or defaults["tag"]) if model_cfg is None else tag
        self.preprocessing = pick_preset(CLIP_PREPROCESSING, str(preprocessing or defaults["preprocessing"]),
                                         "CLIPScoreFeatures")
        self.scale = float(defaults["scale"] if scale is None else scale)
        self.batch_size = batch_size
        try:
            import open_clip
        except ImportError as error:
            raise ImportError("CLIPScoreFeatures needs open_clip (pip install 'bench[openvocab]')") from error
        self.library = f"open_clip {open_clip.__version__}"
        path = Path(checkpoint).expanduser()
        source = CHECKPOINT_SOURCES.get((self.model_name, str(self.tag)),
                                        f"the open_clip weights of {self.model_name} / {self.tag}")
        if not path.is_file():
            raise FileNotFoundError(f"CLIP checkpoint not found: {str(path)!r} is not a file. Expected {source}; "
                                    "nothing is downloaded here: pass the local file as `checkpoint`.")
        self.checkpoint, self.checkpoint_sha256 = str(path), sha256_file(path)
        self.model: Any  # an open_clip CLIP (encode_image, encode_text, visual.image_size)
        self.model, self.quick_gelu = self._build(open_clip, path, model_cfg, source)
        self.model.eval()
        image_size = self.model.visual.image_size
        image_size = tuple(image_size) if isinstance(image_size, (tuple, list)) else (image_size, image_size)
        if self.preprocessing.output_size != image_size:
            raise ValueError(f"CLIPScoreFeatures: preprocessing {self.preprocessing.name!r} gives "
                             f"{self.preprocessing.output_size} images but {self.model_name} takes {image_size}")
        context = int(model_cfg["text_cfg"]["context_length"]) if model_cfg is not None else None
        self.tokenizer = (open_clip.SimpleTokenizer(context_length=context) if context is not None
                          else open_clip.get_tokenizer(self.model_name))
        self._device = torch.device("cpu")

    def _build(self, open_clip: Any, path: Path, model_cfg: dict[str, Any] | None,
               source: str) -> tuple[Any, bool]:
        """The model with the checkpoint's weights, and whether it uses QuickGELU."""
        if model_cfg is not None:
            model = open_clip.CLIP(**model_cfg)
            quick_gelu = bool(model_cfg.get("quick_gelu", False))
        else:
            pretrained = open_clip.get_pretrained_cfg(self.model_name, self.tag) if self.tag else {}
            if not pretrained:
                known = ", ".join(open_clip.list_pretrained_tags_by_model(self.model_name)) or "none"
                raise ValueError(f"CLIPScoreFeatures: `tag` must be the open_clip pretrained tag of the weights (it "
                                 f"fixes the activation); got {self.tag!r} for {self.model_name} (known: {known})")
            quick_gelu = bool(pretrained.get("quick_gelu", False))
            model = open_clip.create_model(self.model_name, force_quick_gelu=quick_gelu)
        try:
            open_clip.load_checkpoint(model, str(path))
        except Exception as error:  # noqa: BLE001  (torch.load / load_state_dict raise many types)
            raise ValueError(f"CLIP checkpoint {str(path)!r} does not load into {self.model_name} "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}). "
                             f"Expected {source} (an open_clip state dict; OpenAI's TorchScript .pt is not read)"
                             ) from error
        return model, quick_gelu

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(batch)

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings [N, D] of ``prompts`` (float32, on the extractor's device)."""
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise TypeError("encode_text needs a list of prompt strings")
        if not prompts:
            raise ValueError("encode_text: no prompts")
        with torch.no_grad():
            tokens = self.tokenizer(list(prompts)).to(self._device)
            return torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def score(self, images: Images, prompts: str | Sequence[str]) -> torch.Tensor:
        """CLIP score [B] of each image with its prompt (one string: the same prompt for all, as Wen scores a
        prompt's generations): ``scale`` x cosine."""
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        count = len(check_images(images))
        if len(texts) not in (1, count):
            raise ValueError(f"CLIPScoreFeatures.score: {len(texts)} prompts for {count} images (give one, or one "
                             "per image)")
        return clip_score(self(images)["pool"], self.encode_text(texts), self.scale)

    def describe(self) -> dict[str, Any]:
        """Model, tag, checkpoint and its sha256, activation, preprocessing and scale, for the run's results."""
        return {
            "name": "clip_score",
            "variant": self.variant,
            "model_name": self.model_name,
            "tag": self.tag,
            "library": self.library,
            "weights": self.checkpoint,
            "weights_sha256": self.checkpoint_sha256,
            "quick_gelu": self.quick_gelu,
            "preprocessing": self.preprocessing.describe(),
            "scale": self.scale,
            "score": f"{self.scale:g} x cosine of L2-normalised image and text embeddings",
        }
