"""Generation requests: N samples to draw, each with a stable id and, for conditional models, a class or prompt.

A generation run has no input data; its "dataset" says what to generate. Class labels are drawn per sample from
``sha256(label_seed:sample_id)`` (or balanced, ``index % num_classes``) and prompts are read from a text file or
given in the config, so every sample's condition is fixed by its id, whatever the batch size, world size or resume
point.

``GeneratedImages`` reads the images a finished generation run stored back as a dataset: the generated queries of
data attribution (D-TRAK's "gen" set), declared as an upstream ``run`` product so a resampled set is never read by
mistake. A run that stored each sample's ``prompt`` (a text-to-image sampler) gives its items that prompt as
``caption``, the text a latent model's loss and gradients are conditioned on.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bench.data import BenchDataset
from bench.registry import DATASETS
from bench.seeding import sample_seed

LABEL_MODES = ("random", "balanced")


@DATASETS.register_module()
class GenerationRequests(BenchDataset):
    """``num_samples`` requests with ids ``000000``, ``000001``, ...; items carry ``class_label`` (−1 when
    unconditional) and, with ``prompts_file``, ``prompt``.

    ``labels="random"`` draws each class uniformly from the sample's seed (guided-diffusion draws classes at
    random too); ``"balanced"`` cycles through the classes. Prompts: sample ``i`` gets line
    ``i // samples_per_prompt`` of ``prompts_file`` (one prompt per line, blank lines skipped), or entry
    ``i // samples_per_prompt`` of ``prompts`` (a short fixed list written in the config, e.g. D-TRAK's one prompt
    per ArtBench style), so ``num_samples`` may not exceed ``samples_per_prompt`` times the number of prompts.
    """

    layout = "prompts_file: UTF-8 text, one prompt per line (only when prompts are used)"
    obtain = "write the prompts of the benchmark's prompt suite one per line"

    def __init__(self, num_samples: int, num_classes: int | None = None, labels: str = "random",
                 label_seed: int = 0, prompts_file: str | None = None, samples_per_prompt: int = 1,
                 prompts: list[str] | None = None) -> None:
        if num_samples <= 0:
            raise ValueError(f"GenerationRequests: num_samples must be positive, got {num_samples}")
        if labels not in LABEL_MODES:
            raise ValueError(f"GenerationRequests: labels must be one of {LABEL_MODES}, got {labels!r}")
        if num_classes is not None and num_classes <= 0:
            raise ValueError(f"GenerationRequests: num_classes must be positive, got {num_classes}")
        self.num_samples, self.num_classes = int(num_samples), num_classes
        self.labels, self.label_seed = labels, int(label_seed)
        self.samples_per_prompt = int(samples_per_prompt)
        if prompts_file is not None and prompts is not None:
            raise ValueError("GenerationRequests: give prompts_file or prompts, not both")
        self.prompts_file = prompts_file
        self.prompts: list[str] | None = None
        source = "prompts"
        if prompts_file is not None:
            path = self.require(prompts_file, "prompts file")
            with self.reading(path, "a UTF-8 text file with one prompt per line"):
                text = path.read_text(encoding="utf-8")
            self.prompts, source = [line.strip() for line in text.splitlines() if line.strip()], str(path)
        elif prompts is not None:
            if isinstance(prompts, str) or not all(isinstance(p, str) and p.strip() for p in prompts) or not prompts:
                raise ValueError(f"GenerationRequests: prompts must be a non-empty list of non-empty strings, got "
                                 f"{prompts!r}")
            self.prompts = [p.strip() for p in prompts]
        if self.prompts is not None:
            capacity = len(self.prompts) * self.samples_per_prompt
            if capacity < self.num_samples:
                raise ValueError(f"GenerationRequests: {source} has {len(self.prompts)} prompts x "
                                 f"{self.samples_per_prompt} samples each = {capacity} < num_samples "
                                 f"{self.num_samples}; raise samples_per_prompt or lower num_samples")

    def __len__(self) -> int:
        return self.num_samples

    def sample_id(self, index: int) -> str:
        return f"{index:06d}"

    def class_label(self, index: int) -> int:
        if self.num_classes is None:
            return -1
        if self.labels == "balanced":
            return index % self.num_classes
        return sample_seed(self.label_seed, self.sample_id(index)) % self.num_classes

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"class_label": self.class_label(index)}
        if self.prompts is not None:
            item["prompt"] = self.prompts[index // self.samples_per_prompt]
        return item

    def fingerprint(self) -> str:
        """sha256 over every sample's id and condition (labels and prompts change what a sample is)."""
        digest = hashlib.sha256(type(self).__name__.encode())
        for index in range(len(self)):
            item = self[index]
            digest.update(f"{self.sample_id(index)}\0{item['class_label']}\0{item.get('prompt', '')}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_classes": self.num_classes, "labels": self.labels,
                "label_seed": self.label_seed, "prompts_file": str(Path(self.prompts_file)) if self.prompts_file
                else None, "prompts": self.prompts if self.prompts_file is None else None,
                "samples_per_prompt": self.samples_per_prompt}


@DATASETS.register_module()
class GeneratedImages(BenchDataset):
    """Items ``{"image": float [C, H, W] in [0, 1]}`` of a finished generation run (its stored uint8 ``image``
    column, the pixels its PNG export holds), in the run's sample order, with ids ``gen-<i>`` (``i`` the
    generation request's index); with ``"caption"`` too when the run stored a ``prompt`` column (the prompt each
    image was generated from: D-TRAK's ArtBench gen queries are scored under their style's prompt).

    Args:
        run_dir: the generation run's directory (in a config: ``"upstream:<name>"`` of a ``run`` upstream).
    """

    obtain = ("declare the generation config as an upstream with product 'run' and pass run_dir='upstream:<name>' "
              "(the runner samples the images first), or run it with `bench run <generation config>`")

    def __init__(self, run_dir: str) -> None:
        import torch

        from bench.io import read_json
        from bench.results import PROVENANCE_FILE, RESULTS_FILE, read_results
        from bench.store import SampleStore
        from bench.upstream import require_path

        self.run_dir = Path(require_path(run_dir, "GeneratedImages.run_dir"))
        self.layout = (f"{self.run_dir}/\n  {RESULTS_FILE}   (status: complete)\n  samples/*.pt   "
                       "(column image, uint8 [N, H, W, C])")
        if not (self.run_dir / RESULTS_FILE).is_file():
            raise self.layout_error(self.run_dir, "no finished generation run")
        results = read_results(self.run_dir)
        if results["status"] != "complete":
            raise self.layout_error(self.run_dir, f"the generation run is {results['status']!r} (run with --limit); "
                                                  "a query set needs every requested image",
                                    "finish it with `bench run <its config.py> --resume` and no run.limit")
        outputs = SampleStore(self.run_dir, results["config_sha256"]).load(["image", "prompt"])
        images = outputs.get("image")
        if images is None or images.dtype != torch.uint8 or images.ndim != 4:
            raise self.layout_error(self.run_dir, "the run stored no uint8 'image' column [N, H, W, C]",
                                    "point the upstream at a generation config (task type 'generation')")
        self.images: torch.Tensor = images
        prompts = outputs.get("prompt")
        if prompts is not None and not all(isinstance(p, str) for p in prompts):
            raise self.layout_error(self.run_dir, "the run's 'prompt' column holds something other than strings",
                                    "point the upstream at a text-to-image generation config")
        self.captions: list[str] | None = None if prompts is None else [str(p) for p in prompts]
        self.indices = [int(i) for i in outputs["index"]]
        self.source_ids: list[str] = list(outputs["sample_id"])
        self.run_id, self.smoke = results["run_id"], bool(results["smoke"])
        prov = self.run_dir / PROVENANCE_FILE
        method = read_json(prov).get("method") or {} if prov.is_file() else {}
        self.sampler = {k: method.get(k) for k in ("scheduler", "num_inference_steps", "noise_seeds", "model",
                                                   "guidance_scale", "lora") if k in method}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"image": self.images[index].permute(2, 0, 1).float() / 255}
        if self.captions is not None:
            item["caption"] = self.captions[index]
        return item

    def sample_id(self, index: int) -> str:
        return f"gen-{self.indices[index]}"

    def fingerprint(self) -> str:
        """sha256 over the ids, the image bytes and the captions, if any (a resampled or re-captioned set is another
        query set)."""
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update("\0".join(self.sample_id(i) for i in range(len(self))).encode())
        digest.update(self.images.contiguous().numpy().tobytes())
        if self.captions is not None:
            digest.update(("\0captions\0" + "\0".join(self.captions)).encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "run_dir": str(self.run_dir), "run_id": self.run_id,
                "image_shape": list(self.images.shape[1:]), "smoke": self.smoke, "sampler": self.sampler,
                "captions": sorted(set(self.captions)) if self.captions is not None else None}
