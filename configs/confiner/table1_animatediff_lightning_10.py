# Table 1 baseline: AnimateDiff-Lightning alone at 10 steps of its own Euler (trailing) scheduler, CFG 1,
# 512^2, 16 frames, decoded by its base's VAE. Which Lightning file the paper sampled at 10-100 steps is not
# said: the 8-step file (the most steps it was distilled for; configs/confiner/README.md).
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(experts=dict(control=dict(motion_adapter="checkpoints/AnimateDiff-Lightning/"
                                                       "animatediff_lightning_8step_diffusers.safetensors")),
              mode=None, single="control", steps=10)
paper = dict(slug="confiner", table="main_vbench",
             setting={"dataset": "VBench (800 prompts)", "method": "AnimateDiff-Lightning", "steps": "10"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
