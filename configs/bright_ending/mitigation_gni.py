# GNI baseline (inference_mem_gni.py): Gaussian noise on the text embedding.
_base_ = ["./_base_/mitigation.py"]

method = dict(mitigation=dict(type="embedding_noise", std=0.1))
