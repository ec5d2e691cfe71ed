"""Dataset readers, one module per dataset family, registered in ``bench.registry.DATASETS``."""
from bench.datasets import cached_logits, cifar, coco, digits, imagenet, logits_file, segmentation  # noqa: F401
