"""Image classifiers: timm models by name, torchvision models with official weights, the focal_calibration CIFAR zoo."""
from bench.methods.classifier import features  # noqa: F401  (registers the classifier feature extractors)
from bench.methods.classifier.cifar_zoo import CifarZooClassifier, build_cifar_model, zoo_filename
from bench.methods.classifier.timm_classifier import TimmClassifier
from bench.methods.classifier.torchvision_classifier import TorchvisionClassifier, eval_preprocessing

__all__ = ["CifarZooClassifier", "TimmClassifier", "TorchvisionClassifier", "build_cifar_model", "eval_preprocessing",
           "zoo_filename"]
