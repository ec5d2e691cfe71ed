# Celeb-DF v2 in-dataset protocol (chosen; whether the paper trains on Celeb-DF or only tests an FF++ model on it is
# unknown, so both exist: this base and celebdf_cross_from_ffpp_c23.py). Test: the 518 videos of
# List_of_testing_videos.txt; train: every other video, real frames oversampled to 1:1. Face crops from
# data/celebdf/boxes.json (keys "Celeb-synthesis/id0_id16_0000"), scale 1.3, 299 x 299, 32 frames per video.
_base_ = ["../../_base_/default_run.py", "./paper.py"]

__celebdf = dict(type="CelebDFv2", root="data/celebdf", frames_per_video=32, size=299, crop="boxes",  # dunder: a
                 boxes="data/celebdf/boxes.json", crop_scale=1.3, workers=4)  # local of this file, not a section
dataset = dict(__celebdf, split="test")
task = dict(type="binary_detection", metrics=[dict(type="FrameAccuracy", threshold=0.5), dict(type="FrameAUC"),
                                              dict(type="VideoAUC", aggregate="mean"), dict(type="ModelCost")])
train = dict(dataset=dict(__celebdf, split="train", balance="oversample_real"), epochs=10, batch_size=32, lr=2e-4,
             weight_decay=1e-5, seed=0)
run = dict(batch_size=64, num_workers=4)
