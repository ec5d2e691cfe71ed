# Two-in-one KD demo on the generated forgery proxy (GeneratedForgeryVideos): 32x32 crops of scikit-learn's two
# sample photographs, grouped into 4-frame "videos"; fake videos carry a generator's up-sampling trace (blur plus a
# period-2 checkerboard, blended at strength 0.1 under Gaussian noise of std 0.03). Train on 320 videos (the left
# 60% of the photographs), test on 128 unseen ones (the right 25%). Teacher: timm's test_resnet on the image and
# another on its three DCT band images (746k parameters); student: timm's test_efficientnet (99.5k). Both train
# 16 epochs with AdamW (lr 2e-3, one-cycle, weight decay 0.05, batch 32). Scores: frame ACC@0.5, frame AUC, video
# AUC (mean frame score), params and MACs.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GeneratedForgeryVideos", split="test", videos=128, frames_per_video=4, size=32,
               artifact_strength=0.1, noise=0.03, seed=0)
task = dict(type="binary_detection", metrics=[dict(type="FrameAccuracy", threshold=0.5), dict(type="FrameAUC"),
                                              dict(type="VideoAUC", aggregate="mean"), dict(type="ModelCost")])
train = dict(dataset=dict(type="GeneratedForgeryVideos", split="train", videos=320, frames_per_video=4, size=32,
                          artifact_strength=0.1, noise=0.03, seed=0),
             epochs=16, batch_size=32, lr=2e-3, weight_decay=0.05, seed=0)
run = dict(batch_size=128)
