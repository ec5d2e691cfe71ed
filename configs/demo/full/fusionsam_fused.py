# FusionSAM demo (full profile): SAM on the fused image (fused luminance + visible chroma) with the fused latents
# injected through the adapter; VQ models, fusion network and SAM all trained here (configs/fusionsam/_base_/
# demo_scenes.py). 96 training scenes, 64 test scenes, longer training.
_base_ = ["../../fusionsam/_base_/demo_scenes.py"]

dataset = dict(num_images=64)
method = dict(input="fused", adapter=True)
train = dict(dataset=dict(num_images=96), vq=dict(epochs=20), fusion=dict(epochs=20), sam=dict(epochs=30))
