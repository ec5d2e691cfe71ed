# The authors' repo log (DiT_compact/output_256), a sweep point and not a paper row: scale 7.0, skip 11, quadratic.
_base_ = ["./_base_/imagenet256_dit_cfg.py"]

method = dict(guidance=dict(scale=7.0, schedule=dict(kind="compress", skip=11, k=2)))
paper = dict(table="authors_repo_log", setting={"method": "CompG", "guidance": "7.0", "skip": "11",
                                                 "skip_type": "quadratic"})
