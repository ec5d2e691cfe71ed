"""Image classifiers built by name from timm, shared by the classification-based papers and the demo."""
from bench.methods.classifier.timm_classifier import TimmClassifier

__all__ = ["TimmClassifier"]
