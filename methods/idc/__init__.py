"""IDC (arXiv 2408.08502, AAAI 2025, "Efficient Image-to-Image Diffusion Classifier for Adversarial Robustness"):
classification as image-to-image translation. A small Brownian-bridge diffusion model (BBDM process, 4 steps,
pruned ADM U-Net) translates an input image into one of K fixed near-orthogonal "label images"; the predicted class
is the label image nearest in mean absolute difference. Modules: :mod:`bench.methods.idc.label_images` (the seeded QR
label images, L1 distances, nearest label) and :mod:`bench.methods.idc.bridge` (the bridge process around any
denoiser: schedule, forward sample, intra/inter-class losses, stochastic reverse sampling), both faithful to
``hfmei/IDC`` so that its released checkpoints load and translate identically.
"""
from bench.methods.idc.adapter import IDC

IMPLEMENTATION = "faithful"
SMOKE_ONLY = False
NOT_REPRODUCIBLE = ("no IDC checkpoints, CIFAR data or GPU here, and the sheet has no paper table numbers (only the "
                    "derived parameter counts); the label images come from torch.linalg.qr, not torch 1.7.1's "
                    "torch.qr the checkpoints were trained with (bit-equality unverified)")

__all__ = ["IDC", "IMPLEMENTATION", "NOT_REPRODUCIBLE", "SMOKE_ONLY"]
