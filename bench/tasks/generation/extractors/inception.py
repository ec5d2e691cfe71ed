"""The TF-compatible Inception-v3 of torch-fidelity: FID/KID/PR pool features, IS logits and sFID spatial features.

The network is torch-fidelity's ``FeatureExtractorInceptionV3`` ("inception-v3-compat"): a port of the 2015-12-05
TensorFlow graph ``classify_image_graph_def.pb`` that the guided-diffusion (ADM) evaluator runs, with its
TF1-compatible bilinear resize to 299x299. The weights always come from a local file; nothing is downloaded.
Feature values depend on the torch-fidelity version (the ``diffusion`` extra pins 0.4.0).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.tasks.generation.extractors.base import ImageFeatureExtractor
from bench.io import sha256_file
from bench.registry import EXTRACTORS

if TYPE_CHECKING:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"

POOL_DIM = 2048
LOGITS_DIM = 1008
# sFID: the first 7 channels of a 17x17 map, flattened in NHWC order (17 * 17 * 7)
SPATIAL_CHANNELS = 7
SPATIAL_SIZE = 17
SPATIAL_DIM = SPATIAL_SIZE * SPATIAL_SIZE * SPATIAL_CHANNELS

# Which torch-fidelity module is guided-diffusion's ``mixed_6/conv:0`` (evaluator.py: FID_SPATIAL_NAME, then
# ``spatial[..., :7]`` and ``reshape([N, -1])`` of the NHWC tensor)?
# * Block: the TF graph numbers its Inception blocks mixed, mixed_1, ..., mixed_10. mixed..mixed_2 are the 35x35
#   blocks (Mixed_5b-5d), mixed_3 the 35->17 reduction (Mixed_6a), mixed_4..mixed_7 the 17x17 blocks
#   (Mixed_6b-6e), mixed_8 the 17->8 reduction (Mixed_7a), mixed_9/10 the 8x8 blocks (Mixed_7b/7c). So mixed_6 is
#   Mixed_6d. torch-fidelity's converter (utils/util_convert_inception_weights.py, which produced the weight file)
#   says the same layer by layer: "mixed_6/conv/conv2d_params" -> "Mixed_6d.branch1x1.conv" and
#   "mixed_6/conv/batchnorm" -> "Mixed_6d.branch1x1.bn" (the towers are mixed_6/tower*/..., i.e. branch7x7*,
#   branch_pool).
# * Tensor: in that graph a "conv" scope holds ``<scope>/Conv2D`` (the convolution), ``<scope>/batchnorm``
#   (BatchNormWithGlobalNormalization) and the ReLU named by the scope itself (as ``conv:0``, ``conv_4:0`` are the
#   stem's layer outputs), so ``mixed_6/conv:0`` is relu(bn(conv(x))): exactly what torch-fidelity's
#   ``BasicConv2d`` returns, i.e. the output of ``Mixed_6d.branch1x1`` (192 channels, 17x17 at 299x299 input).
# Its first 7 channels, permuted NCHW -> NHWC and flattened, give the 2023 features in the order of ``mu_s`` and
# ``sigma_s`` in the guided-diffusion VIRTUAL_*.npz reference batches.
SPATIAL_MODULE = "Mixed_6d.branch1x1"


@EXTRACTORS.register_module()
class InceptionV3Features(ImageFeatureExtractor):
    """torch-fidelity's TF-compatible Inception-v3 on uint8 images: ``pool`` [B, 2048] (FID, KID, precision/recall),
    bias-free ``logits`` [B, 1008] (IS, as guided-diffusion and torch-fidelity) and ``spatial`` [B, 2023] (sFID).

    ``weights`` is a local copy of torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``; images are fed
    to the network in chunks of ``batch_size``. Features are float32 (torch-fidelity's internal dtype) on the
    extractor's device; their values depend on the torch-fidelity version, and on CPU vs GPU at rounding level.
    """

    def __init__(self, weights: str, batch_size: int = 200) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"Inception-v3 weights not found: {str(path)!r} is not a file. Expected torch-fidelity's "
                f"{WEIGHTS_FILE} (its port of the TF 2015-12-05 graph classify_image_graph_def.pb that the "
                f"guided-diffusion evaluator uses). Nothing is downloaded here: get it from {WEIGHTS_URL} "
                "and pass its local path as `weights`."
            )
        try:
            import torch_fidelity
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as error:
            raise ImportError("InceptionV3Features needs torch-fidelity (pip install 'bench[diffusion]')") from error

        self.weights = str(path)
        self.batch_size = batch_size
        self.weights_sha256 = sha256_file(path)
        self.library = f"torch-fidelity {torch_fidelity.__version__}"
        self.model: FeatureExtractorInceptionV3 = FeatureExtractorInceptionV3(
            name="inception-v3-compat",
            features_list=["2048", "logits_unbiased"],
            feature_extractor_weights_path=self.weights,
            feature_extractor_internal_dtype="float32",
        )
        self._spatial: torch.Tensor | None = None
        self.model.get_submodule(SPATIAL_MODULE).register_forward_hook(self._capture_spatial)

    def _capture_spatial(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        """Forward hook on ``Mixed_6d.branch1x1``: keep channels [:7] as NHWC-flattened [B, 2023] float32."""
        spatial = output[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1)
        self._spatial = spatial.reshape(spatial.shape[0], -1).to(torch.float32, copy=True)

    @property
    def device(self) -> torch.device:
        """Where the network (and so the returned features) lives."""
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> InceptionV3Features:
        """Move the network; images on any device are copied to it chunk by chunk."""
        self.model.to(device)
        return self

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 images [B, H, W, C], C = 3 (RGB) or 1 (grayscale, repeated to 3 channels), any H and W (resized to
        299x299 inside) -> ``{"pool": [B, 2048], "logits": [B, 1008], "spatial": [B, 2023]}`` float32."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor of uint8 [B, H, W, C], got {type(images).__name__}")
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be uint8 in [0, 255] shaped [B, H, W, C], got dtype {images.dtype}")
        if images.dim() != 4 or images.shape[-1] not in (1, 3) or min(images.shape[1:3]) < 1:
            raise ValueError(f"images must be shaped [B, H, W, C] with C = 1 or 3, got {tuple(images.shape)}")
        device = self.device
        out: dict[str, list[torch.Tensor]] = {"pool": [], "logits": [], "spatial": []}
        with torch.no_grad():  # not inference_mode: callers may edit the returned tensors in place
            for start in range(0, images.shape[0], self.batch_size):
                chunk = images[start:start + self.batch_size].to(device)
                # NHWC -> the NCHW uint8 torch-fidelity takes; C = 1: the gray channel as R, G and B
                chunk = chunk.permute(0, 3, 1, 2).expand(-1, 3, -1, -1).contiguous()
                self._spatial = None
                pool, logits = self.model(chunk)
                if self._spatial is None:
                    raise RuntimeError(f"the forward hook on {SPATIAL_MODULE} did not run; has torch-fidelity's "
                                       "Inception-v3 changed?")
                out["pool"].append(pool)
                out["logits"].append(logits)
                out["spatial"].append(self._spatial)
                self._spatial = None
        dims = {"pool": POOL_DIM, "logits": LOGITS_DIM, "spatial": SPATIAL_DIM}
        return {key: torch.cat(parts) if parts else torch.empty(0, dims[key], dtype=torch.float32, device=device)
                for key, parts in out.items()}

    def describe(self) -> dict[str, Any]:
        """Network, library version, weight file and its sha256, resize and feature sizes, for the run's results."""
        return {
            "name": "inception-v3-compat",
            "library": self.library,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "resize": "TF1-compatible bilinear to 299x299 (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x), "
                      "as the guided-diffusion TF graph resizes",
            "features": {"pool": POOL_DIM, "logits": LOGITS_DIM, "spatial": SPATIAL_DIM},
            "spatial_source": "Mixed_6d.branch1x1[:7] (TF mixed_6/conv), NHWC",
        }
