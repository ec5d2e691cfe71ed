# DPMs-ANT stage 1 for FFHQ -> Babies (./_base_/classifier256.py): source images from data/source/ffhq, the
# 10 target images from data/fewshot/babies/train10; scored on the source folder vs the full target set.
_base_ = ["./_base_/classifier256.py"]

dataset = dict(type="DomainPair",
               source=dict(type="FewShotImages", root="data/source/ffhq", num_shots=None, size=256),
               target=dict(type="FewShotImages", root="data/fewshot", target="babies", split="full",
                           size=256))
method = dict(source=dict(type="FewShotImages", root="data/source/ffhq", num_shots=None, size=256))
train = dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="babies", split="train10",
                          size=256))
