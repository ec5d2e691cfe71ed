# Table 1: ConFiner w/ ModelScope, 9 steps (4 control + 5 coordinated refinement steps, T_e = 100): the base.
_base_ = ["./_base_/confiner_modelscope.py"]

paper = dict(slug="confiner", table="main_vbench",
             setting={"dataset": "VBench (800 prompts)", "method": "ConFiner w/ ModelScope", "steps": "9"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
