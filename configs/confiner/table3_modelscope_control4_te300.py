# Table 3 (T_e ablation): ConFiner w/ ModelScope, 4 control steps, T_e = 300;
# only AQ / IQ reported (SC / MS unknown).
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(t_e=300)
paper = dict(slug="confiner", table="ablation_te",
             setting={"dataset": "VBench (800 prompts)",
                      "method": "ConFiner w/ ModelScope", "control_steps": "4", "T_e": "300"},
             metrics=dict(aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
