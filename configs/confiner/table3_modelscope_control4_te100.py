# Table 3 (T_e ablation): ConFiner w/ ModelScope, 4 control steps, T_e = 100
# (the same setting as Table 1's 9-step config, run in its own folder);
# all four dimensions reported.
_base_ = ["./_base_/confiner_modelscope.py"]

paper = dict(slug="confiner", table="ablation_te",
             setting={"dataset": "VBench (800 prompts)",
                      "method": "ConFiner w/ ModelScope", "control_steps": "4", "T_e": "100"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
