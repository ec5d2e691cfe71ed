# Table 1: ConFiner w/ ModelScope, 18 steps: 8 control steps (the 8-step Lightning file) + 10 coordinated.
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(experts=dict(control=dict(motion_adapter="checkpoints/AnimateDiff-Lightning/"
                                                       "animatediff_lightning_8step_diffusers.safetensors")),
              control_steps=8, refine_steps=10)
paper = dict(slug="confiner", table="main_vbench",
             setting={"dataset": "VBench (800 prompts)", "method": "ConFiner w/ ModelScope", "steps": "18"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
