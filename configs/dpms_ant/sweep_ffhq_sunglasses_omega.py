# Sensitivity to the adversarial step omega (paper Table 6; values unknown to the sheet), FFHQ -> Sunglasses.
_base_ = ["./ant_ffhq_sunglasses.py"]

paper = None
sweep = dict(grid={"method.objective.omega": [0.01, 0.02, 0.03, 0.04, 0.05]})
