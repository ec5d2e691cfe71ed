"""DPMs-ANT (ICML 2024, "Bridging Data Gaps in Diffusion Models with Adversarial Noise-Based Transfer Learning";
arXiv 2308.11948, first titled TAN): few-shot transfer of a frozen diffusion model through small adaptors, trained
with a similarity-guided target (a source-vs-target domain classifier's gradient) at adversarially selected noise.

Modules: :mod:`.adapter` (the method adapters: ``DpmsAntClassifier``, stage 1 as its own artefact, and ``DpmsAnt``,
stages 2-3 and sampling), :mod:`.adaptor` (the official adaptor: pool, norm, conv down, time projection, transformer
block, upsample, conv up; official small-normal or exact-zero init), :mod:`.backbones` (adaptors hooked into the
DDPM "simple" UNet and guided-diffusion's ADMUNet, backbone freezing, trainable share, adaptor files),
:mod:`.objectives` (similarity target, adversarial noise selection, the ANT loss and its ablations),
:mod:`.training` (the training loop with the paper and official presets, the stage-1 domain classifier),
:mod:`.sampling` (the code's generalised η = 1 step as diffusers' DDIMScheduler) and :mod:`.toy` (the 2-D Gaussian
check of the paper's Fig. 2). The few-shot reader is ``bench.datasets.fewshot.FewShotImages``; Intra-LPIPS is
``bench.metrics.intra_lpips``.

Official code: ``ShinyGua/DPMs-ANT`` (first commit 65f00ba, also in the fork ``ChhaviPan23/DPMs-ANT``); the facts
each module follows are cited there by file and line.
"""
from bench.methods.dpms_ant import demo  # noqa: F401  (registers the demo summary)
from bench.methods.dpms_ant.adapter import DpmsAnt, DpmsAntClassifier, TrainableShare

__all__ = ["DpmsAnt", "DpmsAntClassifier", "TrainableShare"]
