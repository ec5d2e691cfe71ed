# ConFiner demo, coordinated refinement re-noised only to T_e = 20 (../confiner/_base_/demo_chain.py; Table 3 varies
# T_e): in pixel space the paper's T_e = 100 (noise std 0.32 on [-1, 1] under the frame DDPM's linear betas) is
# enough for the frame expert to redraw each frame's digit independently at every coordinated step.
_base_ = ["../confiner/_base_/demo_chain.py"]

method = dict(mode="coordinated", t_e=20)
