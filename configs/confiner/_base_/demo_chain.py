# ConFiner on the moving-digits demo's trained experts (./demo_digits.py): control 4 DDIM steps (T_i1) -> V0
# re-noised to T_e = 100 on the spatial expert's schedule -> 5 refinement steps (T_i2), the 4 + 5 "9-step" setting;
# the mode is set by each config. No guidance (the toys' captions barely steer them), so NFE = 4 + 5 (spatial or
# temporal refinement) or 4 + 3 x 5 = 19 (coordinated), against 20 for each expert alone.
_base_ = ["./demo_digits.py"]

upstream = dict(control=dict(config="demo/confiner_1_control", product="checkpoint"),
                spatial=dict(config="demo/confiner_1_spatial", product="checkpoint"),
                temporal=dict(config="demo/confiner_1_temporal", product="checkpoint"))
method = dict(type="ConFiner",
              experts=dict(control=dict(kind="pixel_video", model="upstream:control", guidance_scale=1.0),
                           spatial=dict(kind="pixel_image", model="upstream:spatial"),
                           temporal=dict(kind="pixel_video", model="upstream:temporal", guidance_scale=1.0)),
              mode="coordinated", control_steps=4, t_e=100, refine_steps=5, noise="fresh", frames=4)
