"""VBench's prompt lists (``Vchitect/VBench`` ``prompts/``) as a text-to-video dataset: one item per (prompt, sample
number), in the order VBench's sampling example loops (each prompt's videos 0 ... n-1, prompts in file order).

Each item holds ``prompt`` (str), ``video_index`` (the sample number: VBench samples 5 videos per prompt and names
them ``{prompt}-{index}.mp4``) and ``video_name`` (that file name, what the video generation task exports). Sample
ids are the file stems ``{prompt}-{index}``, so per-sample seeds follow the prompt and the index, not the line.

Lines are stripped (VBench: ``prompt.strip()`` of ``readlines()``) and blank lines skipped. A prompt listed twice
(``all_category.txt`` has 800 lines and 798 distinct prompts; ``all_dimension.txt`` 946 and 944) is kept once:
VBench's file naming cannot tell the two apart, so its evaluation of a video folder sees one; ``describe`` counts
the dropped repeats.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bench.data import BenchDataset
from bench.registry import DATASETS
from bench.tasks.generation.video import vbench_video_name


@DATASETS.register_module()
class VBenchPrompts(BenchDataset):
    """VBench prompts with ``samples_per_prompt`` items each (module docstring).

    Args:
        root: the VBench checkout (holding ``prompts/``) or its ``prompts/`` folder itself.
        prompt_file: the list, relative to ``prompts/``: ``all_category.txt`` (8 categories x 100; the ConFiner
            paper's "800 prompts"), ``all_dimension.txt``, ``prompts_per_category/<category>.txt`` or
            ``prompts_per_dimension/<dimension>.txt``.
        samples_per_prompt: videos per prompt (VBench: 5; one per run when seeds are separate runs).
    """

    layout = """\
<root>/prompts/all_category.txt                      (one prompt per line)
<root>/prompts/all_dimension.txt
<root>/prompts/prompts_per_category/<category>.txt   (animal, architecture, food, human, lifestyle, plant,
                                                      scenery, vehicles)
<root>/prompts/prompts_per_dimension/<dimension>.txt (subject_consistency, ...)"""
    obtain = "clone https://github.com/Vchitect/VBench (the prompt lists are in its prompts/ folder)"

    def __init__(self, root: str, prompt_file: str = "all_category.txt", samples_per_prompt: int = 5) -> None:
        if isinstance(samples_per_prompt, bool) or not isinstance(samples_per_prompt, int) or samples_per_prompt < 1:
            raise ValueError(f"VBenchPrompts: samples_per_prompt must be a positive int, got {samples_per_prompt!r}")
        base = Path(root).expanduser()
        folder = base / "prompts" if (base / "prompts").is_dir() else base
        self.require(base, "VBench folder")
        if Path(prompt_file).is_absolute() or ".." in Path(prompt_file).parts:
            raise ValueError(f"VBenchPrompts: prompt_file must be relative to prompts/, got {prompt_file!r}")
        self.path = self.require(folder / prompt_file, f"prompt list {prompt_file}")
        with self.reading(self.path, "a UTF-8 text file with one prompt per line"):
            lines = [line.strip() for line in self.path.read_text(encoding="utf-8").splitlines()]
        prompts = [line for line in lines if line]
        self.prompts = list(dict.fromkeys(prompts))
        self.repeats = len(prompts) - len(self.prompts)
        if not self.prompts:
            raise self.layout_error(self.path, "no prompts in the file")
        named = [p for p in self.prompts if "/" in p]
        if named:
            raise self.layout_error(self.path, f"prompt(s) holding '/' cannot be VBench file names: {named[:3]}")
        self.prompt_file, self.samples_per_prompt = prompt_file, samples_per_prompt
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def __len__(self) -> int:
        return len(self.prompts) * self.samples_per_prompt

    def _split(self, index: int) -> tuple[str, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"VBenchPrompts: index {index} out of range for {len(self)} items")
        return self.prompts[index // self.samples_per_prompt], index % self.samples_per_prompt

    def __getitem__(self, index: int) -> dict[str, Any]:
        prompt, number = self._split(index)
        return {"prompt": prompt, "video_index": number, "video_name": vbench_video_name(prompt, number)}

    def sample_id(self, index: int) -> str:
        prompt, number = self._split(index)
        return f"{prompt}-{number}"

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{super().fingerprint()}:{self.sha256}".encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "num_samples": len(self), "prompt_file": self.prompt_file,
                "file": str(self.path), "sha256": self.sha256, "prompts": len(self.prompts),
                "repeated_prompts_dropped": self.repeats, "samples_per_prompt": self.samples_per_prompt}
