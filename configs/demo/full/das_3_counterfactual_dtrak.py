# DAS demo (full profile), counterfactual evaluation of D-TRAK: remove each generated query's top 24 D-TRAK
# influencers, retrain, regenerate; L2 change against removing 24 random digits
# (configs/das/_base_/counterfactual_digits2.py).
_base_ = ["../../das/_base_/counterfactual_digits2.py"]

upstream = dict(_delete_=True, attribution=dict(config="demo/full/das_1_dtrak", product="run"),
                model=dict(config="demo/full/das_0_model", product="checkpoint"))
