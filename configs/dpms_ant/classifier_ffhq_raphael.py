# DPMs-ANT stage 1 for FFHQ -> Raphael: ADM's noisy 256x256 ImageNet classifier with a fresh 2-class head,
# fine-tuned on noised source images (label 1) vs the 10 target images (label 0) as train_discriminator.py does
# (300 iterations, lr 1e-4, batch 10 + 10, AdamW, antithetic t, fp16 on CUDA). Its own artefact: the transfer
# config reaches it through `upstream`. Evaluated on the two domains' images noised at seeded t.
_base_ = ["../_base_/default_run.py"]

dataset = dict(type="DomainPair",
               source=dict(type="FewShotImages", root="data/source/ffhq", num_shots=None, size=256),
               target=dict(type="FewShotImages", root="data/fewshot", target="raphael", split="full",
                           size=256))
method = dict(type="DpmsAntClassifier", network=dict(adm="checkpoints/guided_diffusion/256x256_classifier.pt"),
              source=dict(type="FewShotImages", root="data/source/ffhq", num_shots=None, size=256))
train = dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="raphael", split="train10",
                          size=256),
             seed=1228)
task = dict(type="classification", metrics=[dict(type="Accuracy")])
run = dict(batch_size=32)
