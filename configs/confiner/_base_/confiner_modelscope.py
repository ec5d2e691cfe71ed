# ConFiner w/ ModelScope, the "9-step" setting (sheet §3): AnimateDiff-Lightning (4-step file, Euler trailing, linear
# betas, CFG 1; base SD 1.5 fine-tune epiCRealism as in ConFiner-re, the paper names none) draws the structure in
# T_i1 = 4 steps, re-noised to T_e = 100 on SD 1.5's schedule, refined in T_i2 = 5 coordinated steps by SD 1.5
# (spatial, DDIM, CFG 7.5) and ModelScope T2V (temporal, DDIM, CFG 9.0), fresh noise at the hinge; every expert at
# the control expert's 512^2 (64^2 latent, resize="shared"), 16 frames, decoded by SD 1.5's VAE. CFG scales and
# resolution are not in the paper: diffusers' pipeline defaults (configs/confiner/README.md, the unknowns table).
_base_ = ["./vbench.py"]

method = dict(
    type="ConFiner",
    experts=dict(
        control=dict(kind="animatediff", model="checkpoints/epiCRealism",
                     motion_adapter="checkpoints/AnimateDiff-Lightning/"
                                    "animatediff_lightning_4step_diffusers.safetensors"),
        spatial=dict(kind="stable_diffusion", model="checkpoints/stable-diffusion-v1-5"),
        temporal=dict(kind="text_to_video", model="checkpoints/text-to-video-ms-1.7b")),
    mode="coordinated", control_steps=4, t_e=100, refine_steps=5, resize="shared", noise="fresh", frames=16,
    codec="spatial", dtype="auto")
