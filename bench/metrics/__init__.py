"""Metrics computed from stored per-sample outputs, so ``bench score`` can recompute them."""
from bench.metrics.action_segmentation import ActionSegmentationScores
from bench.metrics.attribution import LDS, CounterfactualCLIP, CounterfactualL2, LDSGain, RetrainedLossSpread
from bench.metrics.base import Metric
from bench.metrics.binary_detection import (BestBalancedAccuracy, DetectionAUC, FrameAccuracy, FrameAUC, TPRAtFPR,
                                            VideoAUC)
from bench.metrics.calibration import ECE, AdaECE, ClasswiseECE
from bench.metrics.cost import ModelCost
from bench.metrics.classification import NLL, Accuracy, Brier, TopKAccuracy
from bench.metrics.detection import COCOMeanAP
from bench.metrics.generation import FID, KID, SFID, InceptionScore, PrecisionRecall
from bench.metrics.intra_lpips import IntraLPIPS
from bench.metrics.long_tail import ShotBucketCalibration
from bench.metrics.memorization import (CopySimilarity, LocalizationQuality, MeanCLIPScore,
                                        MemorizationDetection)
from bench.metrics.robustness import RobustAccuracy
from bench.metrics.segmentation import MeanIoU, SegmentationClassMetrics
from bench.metrics.triplet_recognition import TripletRecognitionAP
from bench.metrics.video import VideoDimensions, VideoGenerationCost

__all__ = ["ECE", "FID", "KID", "LDS", "LDSGain", "NLL", "SFID", "Accuracy", "ActionSegmentationScores", "AdaECE",
           "BestBalancedAccuracy", "Brier", "COCOMeanAP", "ClasswiseECE", "CopySimilarity", "CounterfactualCLIP",
           "CounterfactualL2", "DetectionAUC", "FrameAUC", "FrameAccuracy", "InceptionScore", "IntraLPIPS",
           "LocalizationQuality", "MeanCLIPScore", "MeanIoU", "MemorizationDetection", "Metric", "ModelCost",
           "PrecisionRecall", "RetrainedLossSpread", "RobustAccuracy", "SegmentationClassMetrics",
           "ShotBucketCalibration", "TPRAtFPR", "TopKAccuracy", "TripletRecognitionAP", "VideoAUC",
           "VideoDimensions", "VideoGenerationCost"]
