# DPMs-ANT on a 256 px pixel-space DDPM (Table 1's DDPM-ANT rows, Table 2, Table 3), the paper's settings: the
# frozen source model with the official adaptors (dim 32, every resnet and attention block and the output), the
# ANT objective (gamma 5, J = 10 ascent steps of omega 0.02, t resampled as the code), lr 5e-5, 300 iterations,
# batch 40 (the 10 target images 4 times); `method.preset=official` runs configs/DDPM/base.yaml as the code does
# (lr 1e-4, stop at 321, batch 5). 1,000 images per run with the official generalised step (eta = 1, 500 steps).
# Scores: Intra-LPIPS (CDC's protocol, VGG LPIPS v0.1, trunk from torchvision's vgg16 file) around the 10 training
# images, FID against the full target set (CDC's R_test; Inception-v3, TF-compatible weights from a local file),
# and the trainable share of the parameters. Paths follow the README's data layout; nothing is downloaded.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=1000)
method = dict(
    type="DpmsAnt", ablation="ant", preset="paper", backbone="ddpm", sample_steps=500,
    classifier=dict(checkpoint="upstream:classifier",
                    network=dict(adm="checkpoints/guided_diffusion/256x256_classifier.pt")))
task = dict(
    type="generation", image_format="png",
    extractor=dict(type="InceptionV3Features",
                   weights="checkpoints/inception/weights-inception-2015-12-05-6726825d.pth"),
    metrics=[dict(type="FID"),
             dict(type="IntraLPIPS", cluster_size=50, resize=256,
                  distance=dict(type="lpips", backbone_weights="checkpoints/torchvision/vgg16-397923af.pth")),
             dict(type="TrainableShare")])
paper = dict(slug="dpms_ant", table="main_intra_lpips", setting={"method": "DDPM-ANT"},
             metrics={"Intra-LPIPS": "Intra-LPIPS",
                      "trainable params": dict(key="trainable params (%)", table="trainable_params",
                                               setting={"method": "DDPM-ANT"})})
run = dict(batch_size=50)
