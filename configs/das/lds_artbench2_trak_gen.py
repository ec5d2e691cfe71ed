# TRAK on ArtBench-2's generated queries: lds_artbench2_trak.py's settings, LDS on the 1,000 images of
# configs/das/artbench2_gen.py (configs/das/_base_/artbench2_gen_queries.py).
_base_ = ["./_base_/artbench2_gen_queries.py"]

method = dict(method="trak", noise_batch=32)
