# dtd, 2x2 collages in a seeded random arrangement (the paper's collage baseline), GPT-4o (see _base_/online.py).
_base_ = ["./_base_/downstream.py"]

dataset = dict(grid=2, source=dict(root="data/collage_prompting/dtd/test"))
method = dict(grid=2, categories="data/collage_prompting/dtd/test")
paper = dict(setting={"dataset": "dtd", "grid": "2x2"})
