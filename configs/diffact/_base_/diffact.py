# Shared by every DiffAct config: the task, the run settings and the paper-table mapping (metrics are fractions,
# the paper reports percent). Dataset bases set the dataset, the method (official default_configs.py) and train.
_base_ = ["../../_base_/default_run.py"]

run = dict(batch_size=1, num_workers=0)
paper = dict(slug="diffact", table="main",
             metrics={"Acc": dict(key="Acc", scale=100), "Edit": dict(key="Edit", scale=100),
                      "F1@10": dict(key="F1@10", scale=100), "F1@25": dict(key="F1@25", scale=100),
                      "F1@50": dict(key="F1@50", scale=100)})
