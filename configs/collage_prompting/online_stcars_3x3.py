# stcars, 3x3 collages in a seeded random arrangement (the paper's collage baseline), GPT-4o (see _base_/online.py).
_base_ = ["./_base_/downstream.py"]

dataset = dict(grid=3, source=dict(root="data/collage_prompting/stcars/test"))
method = dict(grid=3, categories="data/collage_prompting/stcars/test")
paper = dict(setting={"dataset": "stcars", "grid": "3x3"})
