# oxpets, 2x2 collages in a seeded random arrangement (the paper's collage baseline), GPT-4o (see _base_/online.py).
_base_ = ["./_base_/downstream.py"]

dataset = dict(grid=2, source=dict(root="data/collage_prompting/oxpets/test"))
method = dict(grid=2, categories="data/collage_prompting/oxpets/test")
paper = dict(setting={"dataset": "oxpets", "grid": "2x2"})
