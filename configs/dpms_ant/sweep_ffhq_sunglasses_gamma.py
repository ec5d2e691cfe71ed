# Sensitivity to gamma (paper Table 5; values unknown to the sheet): `bench sweep` over the similarity-guidance scale
# on FFHQ -> Sunglasses, each point retraining the adaptors. Fills no cell (no reported numbers).
_base_ = ["./ant_ffhq_sunglasses.py"]

paper = None
sweep = dict(grid={"method.objective.gamma": [1, 2, 3, 5, 7, 9, 10]})
