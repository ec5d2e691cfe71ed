# DPMs-ANT stage 1 at 256 px: ADM's noisy 256x256 ImageNet classifier with a fresh 2-class head, fine-tuned on
# noised source images (label 1) vs the 10 target images (label 0) as train_discriminator.py does (300 iterations,
# lr 1e-4, batch 10 + 10, AdamW, antithetic t, fp16 on CUDA; seed 1228 as the code). Its own artefact: a transfer
# config reaches it through `upstream`. Evaluated on the two domains' images noised at seeded t (DomainPair).
_base_ = ["../../_base_/default_run.py"]

method = dict(type="DpmsAntClassifier", network=dict(adm="checkpoints/guided_diffusion/256x256_classifier.pt"))
train = dict(seed=1228)
task = dict(type="classification", metrics=[dict(type="Accuracy")])
run = dict(batch_size=32)
