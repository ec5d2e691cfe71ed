# Video memorization, detection (re-implementation; thresholds not from the paper): the content magnitude
# ||eps_c - eps_u|| over the video latent and the motion magnitude (its difference across frames, the sheet's guess)
# at three step budgets, 4 videos per prompt (seeds gen_seed + row), AUC / TPR@1%FPR / ACC. The paper's curated
# WebVid prompts are unpublished: give a local prompt file in Wen's JSONL format (caption, index, url), one line per
# prompt believed memorized; the non-memorized prompts are WebVid captions read from its results CSV (column
# "name"), 2,000 drawn once.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="DetectionPrompts",
               memorized=dict(type="MemorizedPrompts", prompts_file="data/vdm_memorization/memorized_prompts.jsonl"),
               nonmemorized=dict(type="NonMemorizedPrompts", prompts_file="data/webvid/results_2M_val.csv",
                                 key="name", name="webvid", subset_size=2000, subset_seed=0))
method = dict(type="VideoMemorization", num_videos=4, gen_seed=0, store_videos=False,
              sampling=dict(num_inference_steps=50))
task = dict(type="text_to_image_memorization", keep_images=False, export_maps=0,
            metrics=[dict(type="MemorizationDetection", signal=signal, budget=budget, n_gens=None,
                          prefix=f"{name} {budget} ")
                     for signal, name in (("content_magnitude", "content"), ("motion_magnitude", "motion"))
                     for budget in ("first_step", "first_10_steps", "all_steps")])
run = dict(batch_size=1)
