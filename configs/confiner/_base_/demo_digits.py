# ConFiner moving-digits demo (re-implementation scaffolding; methods/confiner/toy.py): three tiny experts trained on
# CPU in the train stages of ../../demo/confiner_1_*.py on 10 12x12, 4-frame clips of scikit-learn digits moving on
# smooth trajectories (datasets/moving_digits.py, ordinary clips captioned "digit <class> moving"): a control expert
# (the video-memorization toy, pixel space, frames-as-channels UNet, trained briefly, sampled in 4 steps), a spatial
# expert (an unconditional frame DDPM, UNet2DModel) and a temporal expert (the video toy trained longer). Each
# expert alone is a config of its own (ConFinerToyExpert: it trains the expert, then samples it alone); the ConFiner
# configs (../../demo/confiner_2_*.py, ./demo_chain.py) read the trained folders as upstream checkpoints. Quick
# profile: control 15 / temporal 40 steps of batch 32, frame DDPM 100 steps: 36 s wall alone at load 1.4 (2026-12-06;
# 30 reference units of the demo budget, about 26 s idle, of which about 8 s train the harness's digits classifier,
# trained once by the harness group in a whole `bench demo`); ../../demo/full/: 60 / 240 / 800 steps (128 s wall).
# One video per class prompt (10), scored per video by the video_generation task with the harness's digits
# classifier (demo/harness_digits) on each frame's digit crop, labelled, not VBench's networks:
# subject_consistency = VBench's formula on digits-classifier features of the digit crop (not DINO);
# motion_smoothness = VBench's formula with frame averaging instead of AMT-S; frame_quality = the classifier's mean
# confidence; flow_smoothness = Farneback flow smoothness (methods/confiner/scorers.py).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="MovingDigitsPrompts", part="nonmemorized", num_content=0, num_motion=0, num_ordinary=10,
               frames=4, canvas=12, seed=0, name="confiner_digits_prompts")
upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint"))
task = dict(
    type="video_generation",
    dimensions=dict(
        subject_consistency=dict(type="SubjectConsistency", extractor=dict(
            type="DigitCropFeatures", extractor=dict(type="TrainedClassifierFeatures",
                                                     method="upstream:classifier.method",
                                                     checkpoint="upstream:classifier"))),
        motion_smoothness=dict(type="MotionSmoothness", interpolator="linear"),
        frame_quality=dict(type="DigitFrameQuality", extractor=dict(type="TrainedClassifierFeatures",
                                                                    method="upstream:classifier.method",
                                                                    checkpoint="upstream:classifier")),
        flow_smoothness=dict(type="FlowSmoothness")),
    export=None, grid_videos=4)
run = dict(batch_size=10, device="cpu")
