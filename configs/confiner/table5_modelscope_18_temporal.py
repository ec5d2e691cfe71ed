# Table 5 (denoising type): ConFiner w/ ModelScope, 18 steps, 'only temporal expert':
# mode="temporal": V0 re-noised to T_e on the temporal expert's schedule, then its DDIM steps alone.
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(experts=dict(control=dict(motion_adapter="checkpoints/AnimateDiff-Lightning/"
                                                       "animatediff_lightning_8step_diffusers.safetensors")),
              control_steps=8, refine_steps=10, mode="temporal")
paper = dict(slug="confiner", table="ablation_denoising",
             setting={"dataset": "VBench (800 prompts)",
                      "method": "ConFiner w/ ModelScope", "steps": "18", "denoising": "only temporal expert"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
