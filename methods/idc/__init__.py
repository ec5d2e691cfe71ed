"""IDC (arXiv 2408.08502, AAAI 2025, "Efficient Image-to-Image Diffusion Classifier for Adversarial Robustness"):
classification as image-to-image translation. A small Brownian-bridge diffusion model (BBDM process, 4 steps,
pruned ADM U-Net) translates an input image into one of K fixed near-orthogonal "label images"; the predicted class
is the label image nearest in mean absolute difference. Modules: :mod:`bench.methods.idc.label_images` (the seeded QR
label images, L1 distances, nearest label) and :mod:`bench.methods.idc.bridge` (the bridge process around any
denoiser: schedule, forward sample, intra/inter-class losses, stochastic reverse sampling), both faithful to
``hfmei/IDC`` so that its released checkpoints load and translate identically.
"""
from bench.methods.idc import demo  # noqa: F401  (registers the demo summary in DEMOS)
from bench.methods.idc.adapter import IDC

__all__ = ["IDC"]
