# Table 1 baseline: ModelScope T2V alone at 10 DDIM steps, CFG 9.0 (TextToVideoSDPipeline's default), at
# its native 256^2 (32^2 latent), 16 frames, decoded by its own VAE.
_base_ = ["./_base_/confiner_modelscope.py"]

method = dict(mode=None, single="temporal", steps=10)
paper = dict(slug="confiner", table="main_vbench",
             setting={"dataset": "VBench (800 prompts)", "method": "ModelScope T2V", "steps": "10"},
             metrics=dict(subject_consistency="subject_consistency", motion_smoothness="motion_smoothness",
                          aesthetic_quality="aesthetic_quality", imaging_quality="imaging_quality"))
