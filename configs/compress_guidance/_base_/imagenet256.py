# ImageNet-256 rows: guided-diffusion's 256x256 noisy classifier (fp16) and the VIRTUAL_imagenet256_labeled
# reference batch; the backbone is set by the CADM-G / ADM-G configs.
_base_ = ["./imagenet.py"]

method = dict(classifier=dict(checkpoint="checkpoints/guided_diffusion/256x256_classifier.pt", use_fp16=True),
              guidance=dict(type="classifier", variant="compress",
                            schedule=dict(kind="full", index_convention="classifier_script")))
task = dict(reference="data/reference/VIRTUAL_imagenet256_labeled.npz")
run = dict(batch_size=16)
