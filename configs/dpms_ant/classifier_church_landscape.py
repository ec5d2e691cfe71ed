# DPMs-ANT stage 1 for LSUN Church -> Landscape (./_base_/classifier256.py): source images from
# data/source/lsun_church, the 10 target images from data/fewshot/landscape_drawings/train10; scored on the source
# folder vs the full target set.
_base_ = ["./_base_/classifier256.py"]

dataset = dict(type="DomainPair",
               source=dict(type="FewShotImages", root="data/source/lsun_church", num_shots=None, size=256),
               target=dict(type="FewShotImages", root="data/fewshot", target="landscape_drawings", split="full",
                           size=256))
method = dict(source=dict(type="FewShotImages", root="data/source/lsun_church", num_shots=None, size=256))
train = dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="landscape_drawings", split="train10",
                          size=256))
