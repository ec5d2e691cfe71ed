# The k ablation (Table 6): Compress Guidance with skip 5 and k = 1..6 (`bench sweep` this config); the budget
# steps land on 50, 47, 41, 36, 32, 28 distinct steps, plus the two final steps every schedule guides.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=1)))
paper = dict(table="ablation_k", setting={"method": "CompG", "k": "{method.guidance.schedule.k}"})
sweep = dict(grid={"method.guidance.schedule.k": [1, 2, 3, 4, 5, 6]})
