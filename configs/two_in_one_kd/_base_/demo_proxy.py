# Two-in-one KD demo on the generated forgery proxy (GeneratedForgeryVideos): 32x32 crops of scikit-learn's two
# sample photographs, grouped into 4-frame "videos"; fake videos carry a generator's up-sampling trace (blur plus a
# period-2 checkerboard, blended at strength 0.3 under noise 0.02). Train on 160 videos (left 60% of the photos),
# test on 128 unseen ones (the right 25%). The teacher is timm's test_resnet on the image and on its 3 DCT bands;
# the student is timm's test_efficientnet. Scores: frame ACC@0.5, frame AUC, video AUC (mean frame score), params.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GeneratedForgeryVideos", split="test", videos=128, frames_per_video=4, size=32,
               artifact_strength=0.1, noise=0.03, seed=0)
task = dict(type="binary_detection", metrics=[dict(type="FrameAccuracy", threshold=0.5), dict(type="FrameAUC"),
                                              dict(type="VideoAUC", aggregate="mean"), dict(type="ModelCost")])
train = dict(dataset=dict(type="GeneratedForgeryVideos", split="train", videos=320, frames_per_video=4, size=32,
                          artifact_strength=0.1, noise=0.03, seed=0), epochs=16, batch_size=32, lr=2e-3, weight_decay=0.05,
             seed=0)
run = dict(batch_size=128)
