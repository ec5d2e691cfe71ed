"""SSCD copy-detection descriptors (Pizzi et al. 2022) for memorization: similarity of generations to training images.

The network is one of SSCD's TorchScript files read locally (facebookresearch/sscd-copy-detection; nothing is
downloaded): ``sscd_disc_large`` for Wen / Bright Ending / PRSS, ``sscd_disc_mixup`` for AMG. The preprocessing is a
named preset, because the papers differ and their thresholds (SSCD > 0.5, > 0.4) are not portable between them:

* ``"wen"`` (default): Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize(0.5, 0.5), torchvision on PIL
  images (Wen's and BE's ``optim_utils.measure_SSCD_similarity``, credited to somepago/DCR).
* ``"amg"``: Resize((224, 224)) -> ToTensor, no normalisation, on PIL images: AMG's ``sscd_transform``
  (AMG-sd ``scripts/eval.py``), which it applies to the retrieved training images.
* ``"amg_tensor"``: AMG's path for its generations (``sscd_emb_from_tensor``): ``F.interpolate`` bilinear to
  224 x 224 of the float image in [0, 1], no antialias, no normalisation. AMG interpolates the decoder's float
  output; here the input is the stored uint8 image, so values differ from AMG's at quantisation level.

Descriptors are L2-normalised here (SSCD's TorchScript models already end in an L2Norm, so this is Wen's
``F.normalize`` and AMG's raw dot product at once).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from bench.io import sha256_file
from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.base import UnitNormEmbedder
from bench.tasks.generation.extractors.preprocessing import ImagePreprocessing, pick_preset

SSCD_URL = "https://dl.fbaipublicfiles.com/sscd-copy-detection/{}"

SSCD_PREPROCESSING = {
    "wen": ImagePreprocessing(
        "wen", "YuxinWenRick/diffusion_memorization and chenchen-usyd/BE-PRSS optim_utils.measure_SSCD_similarity",
        resize=256, interpolation="bilinear", backend="pil", crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    "amg": ImagePreprocessing(
        "amg", "chenchen-usyd/AMG-sd scripts/eval.py sscd_transform (training images)",
        resize=(224, 224), interpolation="bilinear", backend="pil"),
    "amg_tensor": ImagePreprocessing(
        "amg_tensor", "chenchen-usyd/AMG-sd scripts/eval.py sscd_emb_from_tensor (generations)",
        resize=(224, 224), interpolation="bilinear", backend="tensor"),
}
# the weight file each preset's paper uses (recorded; another file still loads)
SSCD_FILES = {"wen": "sscd_disc_large.torchscript.pt", "amg": "sscd_disc_mixup.torchscript.pt",
              "amg_tensor": "sscd_disc_mixup.torchscript.pt"}


def load_torchscript(path: Path, what: str, expected: str, url: str) -> torch.jit.ScriptModule:
    """A TorchScript archive on the CPU in eval mode; a clear error for a missing file or another format."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights not found: {str(path)!r} is not a file. Expected the TorchScript "
                                f"file {expected}; nothing is downloaded here: get it from {url} and pass its local "
                                "path as `weights`.")
    with warnings.catch_warnings():
        # torch >= 2.10 deprecates TorchScript; SSCD's released models exist only in this format
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"{what}: {str(path)!r} is not a TorchScript archive ({error.__class__.__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}). Expected {expected} from {url}; "
                             "SSCD's .classy.pt / .torchvision.pt files need SSCD's own code") from error
    return model.eval()


@EXTRACTORS.register_module()
class SSCDFeatures(UnitNormEmbedder):
    """SSCD descriptors of uint8 images: ``{"pool": [B, D]}`` float32, L2-normalised (D = 1024 for
    ``sscd_disc_large``, 512 for ``sscd_disc_mixup``).

    ``weights`` is a local SSCD ``*.torchscript.pt``; ``preprocessing`` one of :data:`SSCD_PREPROCESSING` ("wen" by
    default); images go through the network in chunks of ``batch_size``, in float32. Compare descriptors with
    :func:`max_similarity`.
    """

    def __init__(self, weights: str, preprocessing: str = "wen", batch_size: int = 64) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SSCDFeatures: batch_size must be a positive integer, got {batch_size!r}")
        self.preprocessing = pick_preset(SSCD_PREPROCESSING, preprocessing, "SSCDFeatures")
        expected = SSCD_FILES[preprocessing]
        path = Path(weights).expanduser()
        self.model = load_torchscript(path, "SSCD", f"{expected} (the '{preprocessing}' preprocessing's model)",
                                      SSCD_URL.format(expected))
        self.weights, self.weights_sha256, self.batch_size = str(path), sha256_file(path), batch_size
        self.expected_file = expected
        self._device = torch.device("cpu")

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

    def describe(self) -> dict[str, Any]:
        """Network, weight file and its sha256, the preprocessing, for the run's results."""
        return {
            "name": "sscd",
            "weights": self.weights,
            "weights_file": Path(self.weights).name,
            "weights_sha256": self.weights_sha256,
            "paper_weights_file": self.expected_file,
            "preprocessing": self.preprocessing.describe(),
            "normalised": "L2 per descriptor; similarity = cosine",
            "library": f"torch {torch.__version__}",
        }


def max_similarity(generated: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine of each generation [G, D] with each ground-truth image [R, D], max over the ground-truth images:
    (values [G], index [G] of the best ground-truth image). Wen's ``mm(gt, gen.T).max(0)``, rows L2-normalised
    here; mean / max / percentiles over generations are the metric's job."""
    if generated.dim() != 2 or reference.dim() != 2 or generated.shape[1] != reference.shape[1]:
        raise ValueError(f"max_similarity needs descriptors [G, D] and [R, D] of the same D, got "
                         f"{tuple(generated.shape)} and {tuple(reference.shape)}")
    if reference.shape[0] == 0:
        raise ValueError("max_similarity: no ground-truth descriptors (R = 0); every prompt needs at least one "
                         "ground-truth image")
    gen = torch.nn.functional.normalize(generated.float(), dim=1, p=2)
    ref = torch.nn.functional.normalize(reference.float(), dim=1, p=2)
    values, index = (ref @ gen.T).max(dim=0)
    return values, index
