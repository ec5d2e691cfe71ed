# Table 3 (T_e ablation): ConFiner w/ ModelScope, 8 control steps, T_e = 100
# (the same setting as Table 1's 18-step config, run in its own folder);
# all four dimensions reported.
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(experts=dict(control=dict(motion_adapter="checkpoints/AnimateDiff-Lightning/"
                                                       "animatediff_lightning_8step_diffusers.safetensors")),
              control_steps=8, refine_steps=10)
paper = dict(slug="confiner", table="ablation_te",
             setting={"dataset": "VBench (800 prompts)",
                      "method": "ConFiner w/ ModelScope", "control_steps": "8", "T_e": "100"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
