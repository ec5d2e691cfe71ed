# FaceForensics++ in-dataset protocol (chosen defaults; the paper's are unknown, sheet sections 3 and 6): the four
# manipulations of the official pair splits, face crops from a box file (the FF++ box rule, scale 1.3), 299 x 299
# (Xception's input), 32 frames per video spread evenly. Training oversamples real frames to 1:1; the test split
# keeps its natural 1 real : 4 fake. Compression (c23 / c40) is set by each leaf, in the test and train datasets.
# data/ffpp holds the official layout; data/ffpp/boxes.json maps video ids ("original/000", "Deepfakes/000_003")
# to per-frame boxes (one file serves every compression: the videos share geometry). Frames are cached as PNGs.
_base_ = ["../../_base_/default_run.py", "./paper.py"]

__ffpp = dict(type="FaceForensicsPP", root="data/ffpp", frames_per_video=32, size=299, crop="boxes",  # dunder: a
              boxes="data/ffpp/boxes.json", crop_scale=1.3, workers=4)  # local of this file, not a config section
dataset = dict(__ffpp, split="test", compression="c23")
task = dict(type="binary_detection", metrics=[dict(type="FrameAccuracy", threshold=0.5), dict(type="FrameAUC"),
                                              dict(type="VideoAUC", aggregate="mean"), dict(type="ModelCost")])
train = dict(dataset=dict(__ffpp, split="train", compression="c23", balance="oversample_real"), epochs=10,
             batch_size=32, lr=2e-4, weight_decay=1e-5, seed=0)
run = dict(batch_size=64, num_workers=4)
