# DAS demo on digits-2 (two digit classes of scikit-learn's digits at their native 8x8, datasets/digits.py Digits2:
# train 240, val 60, test 60): the tiny DDPM of the ground truth (configs/das/_base_/digits2.py: UNet2DModel with
# channels 16/32, no attention, 100 linear-beta timesteps, 40 epochs of batch 32 at lr 3e-3) trained for real on the
# whole train split by demo/full/das_0_model (upstream "model"; every attribution config reads that one model), then
# every val digit attributed to the 240 training digits at k = 512 over 10 uniform timesteps. Ground truth:
# demo/full/das_0_groundtruth (the same recipe retrained on random half subsets, their losses on the val, test and
# generated queries). λ is chosen by LDS on the 60 test digits (held out), never on the queries it is scored on; the
# best LDS over the grid on the scored queries is recorded beside it as "selected on test, as published". DAS's
# residual r_i averages all 100 timesteps of this model (the code: all 1000 of its model's).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="Digits2", split="val", size=8)
method = dict(
    type="DataAttribution", train_set=dict(type="Digits2", split="train", size=8), model="upstream:model",
    num_timesteps=10, timestep_strategy="uniform", k=512, residual_timesteps=100, chunk_size=240, batch_size=16,
    lambda_selection=dict(retrained_losses="upstream:groundtruth", query_set="test",
                          queries=dict(type="Digits2", split="test", size=8),
                          test=dict(query_set="val", queries=dict(type="Digits2", split="val", size=8))))
upstream = dict(model=dict(config="demo/full/das_0_model", product="checkpoint"),
                groundtruth=dict(config="demo/full/das_0_groundtruth", product="checkpoint"))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="val")])
run = dict(batch_size=60)
