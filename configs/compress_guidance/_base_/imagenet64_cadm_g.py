# ImageNet-64 CADM-G: guided-diffusion's class-conditional 64x64 model with its noisy 64x64 classifier (jul-2021
# release, fp16 as the README's flags), classifier scale 1.0 (the guided-diffusion README's value for this pair;
# the authors' scripts sweep 0.1-4.0 and the scale behind the paper's row is unknown). The authors' classifier
# scripts look the schedule up at int(t / 4) of the original timestep ("classifier_script", equal to the respaced
# index at n = 250).
_base_ = ["./imagenet.py"]

method = dict(backbone=dict(type="adm", checkpoint="checkpoints/guided_diffusion/64x64_diffusion.pt", use_fp16=True),
              classifier=dict(checkpoint="checkpoints/guided_diffusion/64x64_classifier.pt", use_fp16=True),
              guidance=dict(type="classifier", scale=1.0, variant="compress",
                            schedule=dict(kind="full", index_convention="classifier_script")))
task = dict(reference="data/reference/VIRTUAL_imagenet64_labeled.npz")
paper = dict(setting={"dataset": "ImageNet-64", "model": "CADM-G", "guidance": "classifier"})
