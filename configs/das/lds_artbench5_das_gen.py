# DAS on ArtBench-5's generated queries: lds_artbench5_das.py's settings, LDS on the 1,000 images of
# configs/das/artbench5_gen.py (configs/das/_base_/artbench5_gen_queries.py).
_base_ = ["./_base_/artbench5_gen_queries.py"]

method = dict(method="das1")
