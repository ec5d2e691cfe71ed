# Detection on AnimateDiff (a Stable Diffusion 1.5 folder + guoyww/animatediff-motion-adapter-v1-5-2; DDIM with the
# overrides of diffusers' AnimateDiff example, guidance 7.5). VideoCrafter and LaVie have no diffusers pipeline class
# and are not loaded here.
_base_ = ["./_base_/detection.py"]

method = dict(model="checkpoints/stable-diffusion-v1-5", motion_adapter="checkpoints/animatediff-motion-adapter-v1-5-2")
