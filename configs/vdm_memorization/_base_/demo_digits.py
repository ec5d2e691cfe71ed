# Video memorization demo (re-implementation; thresholds not from the paper): a tiny pixel-space text-to-video model
# (methods/vdm_memorization/toy.py: a 3-level UNet3DConditionModel cross-attending to a frozen caption encoder whose
# states tell captions apart) trained in the train stage on moving digits with planted memorization
# (datasets/moving_digits.py): 4 "clip" captions each tied to one clip duplicated 8 times (content memorization)
# and 4 "motion" captions each tied to one trajectory repeated with 8 different digits (motion memorization),
# besides 10 ordinary clips with class captions. Then per prompt (the 8 planted captions and the 10 class captions)
# 2 videos of the trained length (4 frames): the content and motion magnitudes (detection AUC per kind of
# memorization), GSSCD of each video against its prompt's ground-truth clips (pixel correlation of frames stands in
# for SSCD: no SSCD weights here, and a digit classifier's features would match any digit of the class, not the
# copied clip), and OFS-k with Farneback flow against them. The class prompts are scored against a planted prompt's
# references (baseline_references: here the content clips; ../../demo/full/vdm_memorization_digits_motion_baseline.py
# the motion trajectories): the baseline a memorized prompt must beat. 12x12 canvas, 200 steps of batch 32 (measured
# in configs/vdm_memorization/README.md).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="MovingDigitsPrompts", part="all", num_content=4, num_motion=4, copies=8, num_ordinary=10,
               frames=4, canvas=12, seed=0, baseline_references="content")
method = dict(type="VideoMemorization", model=None, num_videos=2, gen_seed=0, store_videos=True,
              sampling=dict(num_inference_steps=10, guidance_scale=3.0, num_frames=4))
train = dict(dataset=dict(type="MovingDigitsTrain", num_content=4, num_motion=4, copies=8, num_ordinary=10,
                          frames=4, canvas=12, seed=0),
             steps=200, batch_size=32, lr=1e-2, text_encoder_lr=0.0, seed=0)
task = dict(
    type="text_to_video_memorization", content=dict(extractor=dict(type="PixelCorrelationFeatures")),
    motion=dict(flow=dict(backend="farneback"), k=3),
    metrics=[*[dict(type="MemorizationDetection", signal=f"{signal}_magnitude", budget="all_steps", n_gens=None,
                    positive_kind=kind, prefix=f"{signal} magnitude {kind} ")
               for signal in ("content", "motion") for kind in ("content", "motion")],
             *[dict(type="CopySimilarity", column=f"{measure}_similarity", only_label=label, only_kind=kind,
                    thresholds=(0.5, 0.7), prefix=f"{measure} on {kind} ")
               for measure in ("content", "motion")
               for label, kind in ((1, "content"), (1, "motion"), (0, "none"))]])
run = dict(batch_size=6, device="cpu")
