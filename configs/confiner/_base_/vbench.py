# ConFiner's evaluation (sheet §6): VBench's "800 prompts" (prompts/all_category.txt, 8 categories x 100, the
# likeliest reading; inferred) with 5 videos per prompt (VBench's 5 seeds: video_index 0-4, each video seeded by the
# runner's per-sample seed), 16 frames, scored per video on VBench's four dimensions (weights from local files,
# VBench's cache layout; bench/tasks/generation/video.py) and exported as {prompt}-{index}.mp4 (custom_input
# naming). Frames are not stored (800 x 5 videos of 16 frames at 512^2 are ~50 GB); the MP4s are.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="VBenchPrompts", root="data/VBench", prompt_file="all_category.txt", samples_per_prompt=5)
task = dict(type="video_generation",
            dimensions=dict(subject_consistency=dict(type="SubjectConsistency"),
                            motion_smoothness=dict(type="MotionSmoothness"),
                            aesthetic_quality=dict(type="AestheticQuality"),
                            imaging_quality=dict(type="ImagingQuality")),
            keep_videos=False, export="mp4", fps=8.0)
run = dict(batch_size=1)
