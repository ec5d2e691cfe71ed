"""Collage Prompting / CollagePrompt (arXiv 2403.11468, "Collage Prompting: Budget-Friendly Visual Recognition with
GPT-4V"; v2 "CollagePrompt: A Benchmark for ..."): g x g collages of images recognised in one call of a multimodal
model, an accuracy predictor over the collage's grid graph, and a genetic search for the arrangement it scores best.

Modules: :mod:`.collage` (tiling, prompts, answer parser), :mod:`.cost` (the vision token scheme, dollars, the v1
cost-efficiency score), :mod:`.recognizers` (OpenAI-compatible endpoint with an answer cache, local classifier,
demo reader), :mod:`.task` (the ``collage_recognition`` task, its metrics and ``max_usd``), :mod:`.adapter` (the
``CollagePrompting`` method), :mod:`.demo_reader` / :mod:`.demo_train` / :mod:`.demo` (the digits demo); the
predictor and searches, imported only when a config searches: :mod:`.hgpsl` (HGP-SL pooling on current
torch_geometric), :mod:`.predictor` (``CollageAccuracyPredictor``, ``score_arrangements``, ``train_predictor``),
:mod:`.official_weights` (the official ``499.pth`` key map), :mod:`.search` (GA via pygad, brute force, random);
the offline benchmark: :mod:`.offline` (``CollageArrangementSearch``: the predictor trained on the shipped records,
a search per collage) and :mod:`.arrangement_task` (the ``collage_arrangement`` task);
readers: ``bench.datasets.collage_groups`` (``CollageGroups``: seeded groups of g*g images of any classification
reader) and ``bench.datasets.collage_prompt`` (the official dataset layout).

A re-implementation: the official code covers the predictor and GA only (it never calls GPT-4V, and its PyG 1.3
stack does not install today); the collage, prompt, parser, cost and online parts are written from the paper sheet.
"""
from bench.methods.collage_prompting import demo  # noqa: F401  (registers the demo summary)
from bench.methods.collage_prompting import arrangement_task  # noqa: F401  (registers collage_arrangement)
from bench.methods.collage_prompting import task  # noqa: F401  (registers collage_recognition and its metrics)
from bench.methods.collage_prompting.adapter import CollagePrompting
from bench.methods.collage_prompting.offline import CollageArrangementSearch

__all__ = ["CollageArrangementSearch", "CollagePrompting"]
