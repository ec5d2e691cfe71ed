"""Dataset readers, one module per dataset family, registered in ``bench.registry.DATASETS``."""
from bench.datasets import (  # noqa: F401
    action_segmentation,
    cached_logits,
    cholec_triplet,
    cifar,
    coco,
    digits,
    face_forgery,
    generation,
    imagenet,
    logits_file,
    segmentation,
)
