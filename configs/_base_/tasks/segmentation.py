# Semantic segmentation: mmseg IoUMetric's mIoU / mAcc / aAcc from per-image class histograms.
task = dict(type="segmentation", metrics=[dict(type="MeanIoU")])
