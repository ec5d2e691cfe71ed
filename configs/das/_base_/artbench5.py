# LDS on ArtBench-5 (post_impressionism, ukiyo_e, romanticism, renaissance, baroque of ArtBench-10; D-TRAK's stratified
# split: train 12,500 of their 25,000 train images, val 1,000 of their 5,000 test images), D-TRAK ArtBench5/scripts: a
# LoRA fine-tune of miniSD at 256 px attributed through its LoRA parameters only (images VAE-encoded to
# latent_dist.mode() x scaling_factor, the prompt "a {style} painting" embedded by the text encoder), every val image
# attributed to the 12,500 training images at k = 32,768 over 10 uniform timesteps, scored by the LDS against LoRAs
# retrained on 64 half subsets x 3 seeds (run_lds_val_sub.sh `seq 0 2`; losses over all 1000 timesteps,
# eval_text_to_image_lora.py, batch 256).
# Needs (none ships here):
# - checkpoints/das/miniSD-diffusers: lambdalabs/miniSD-diffusers as a local diffusers folder (model_index.json,
#   unet/, vae/, text_encoder/, tokenizer/, scheduler/); its scheduler config gives the DDPMScheduler.
# - the full-data LoRA is the train stage of configs/das/artbench5_gen.py (configs/das/_base_/artbench_lora.py: D-TRAK's
#   recipe; upstream "model", product checkpoint: its lora/ folder), shared by the TRAK, D-TRAK and DAS configs and by
#   the generated queries sampled from it (the gen config's run). It is not this config's train stage: the ground truth
#   holds the gen queries, so a LoRA trained here would make the graph circular (this config -> ground truth -> gen
#   -> this config's LoRA). `bench train configs/das/artbench5_gen.py`.
# - the ground truth is configs/das/lds_artbench5_groundtruth.py (upstream "groundtruth", product checkpoint: a
#   RetrainedLosses folder with query sets "val", "gen" and "heldout", all ArtBench-5 test images, of which the
#   4,000 not in val choose λ); train it first (its header: a sweep over GPUs). `bench run` of
#   this config resolves every upstream first, so without it it would retrain the 192 LoRAs of the ground
#   truth, one after another, before attributing.
# D-TRAK's ArtBench grad batch (run_grad.sh) is 32: TRAK / D-TRAK features repeat their noise every 32 samples.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="train"),
    pipeline="stable_diffusion", model="checkpoints/das/miniSD-diffusers", lora_weights="upstream:model",
    lora_rank=128, parameters="lora",
    num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=500, batch_size=8,
    lambda_selection=dict(
        retrained_losses="upstream:groundtruth", query_set="heldout",
        queries=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="test"),
        exclude=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val"),
        test=dict(query_set="val",
                  queries=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val"))))
upstream = dict(groundtruth=dict(config="das/lds_artbench5_groundtruth", product="checkpoint"),
                model=dict(config="das/artbench5_gen", product="checkpoint"))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="val")])
run = dict(batch_size=16)
# No `paper` section: the only ArtBench-5 number on the sheet is DAS's gain over D-TRAK (+10.21, secondary), a
# difference of two runs that no single config fills. DAS's repo has no ArtBench-5 code; D-TRAK's ArtBench5 scripts
# use ArtBench2's recipe (batch 64, 100 epochs, lr 3e-4 cosine; 3 seeds per subset).
