# Table 5 (denoising type): ConFiner w/ ModelScope, 9 steps, 'coordinated':
# the coordinated chain, as Table 1's 9-step config (a separate run folder).
_base_ = ["./_base_/confiner_modelscope.py"]

paper = dict(slug="confiner", table="ablation_denoising",
             setting={"dataset": "VBench (800 prompts)",
                      "method": "ConFiner w/ ModelScope", "steps": "9", "denoising": "coordinated"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
