# Eq. 13 ("duplicate the last gradient"): fresh gradients at the compress schedule's steps (skip 5, k 5), the last
# one re-applied at the steps between. The paper does not say which tables used it; the authors' code has only
# Eq. 14 (the default variant). Not a paper row.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(variant="reuse", schedule=dict(kind="compress", skip=5, k=5)))
paper = dict(setting={"method": "CompG (reuse, Eq. 13)"})
