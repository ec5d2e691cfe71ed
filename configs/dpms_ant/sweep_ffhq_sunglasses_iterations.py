# Sensitivity to the number of training iterations (paper Table 7; ~300 reported best; values unknown to the sheet),
# FFHQ -> Sunglasses; the learning rate follows the paper preset's 300-iteration cosine (its floor after 300).
_base_ = ["./ant_ffhq_sunglasses.py"]

paper = None
sweep = dict(grid={"method.settings.iterations": [50, 100, 150, 200, 250, 300, 350]})
