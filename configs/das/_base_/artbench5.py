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
# - checkpoints/das/artbench5_sd_lora: the full-data LoRA (rank 128, alpha 128, to_q/to_k/to_v/to_out.0), trained by
#   ArtBench5/scripts/run_train.sh (train_text_to_image_lora.py: 100 epochs, batch 64 (the sheet says 128), lr 3e-4
#   cosine, AdamW wd 1e-6, fp16, center crop + random flip, seed 42); weights as pytorch_lora_weights.safetensors
#   (diffusers' save_lora_weights) or D-TRAK's save_attn_procs pytorch_model.bin. The harness does not train it.
# - results/attribution/artbench5_lds: a RetrainedLosses folder with query sets "val", "heldout" (the other 4,000
#   ArtBench-5 test images, to choose λ on) and optionally "gen".
# D-TRAK's ArtBench grad batch (run_grad.sh) is 32: TRAK / D-TRAK features repeat their noise every 32 samples.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="train"),
    pipeline="stable_diffusion", model="checkpoints/das/miniSD-diffusers",
    lora_weights="checkpoints/das/artbench5_sd_lora", lora_rank=128, parameters="lora",
    num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=500, batch_size=8,
    lambda_selection=dict(
        retrained_losses="results/attribution/artbench5_lds", query_set="heldout",
        queries=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="test"),
        exclude=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val"),
        test=dict(query_set="val",
                  queries=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="val"))))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="results/attribution/artbench5_lds", query_set="val")])
run = dict(batch_size=16)
# No `paper` section: the only ArtBench-5 number on the sheet is DAS's gain over D-TRAK (+10.21, secondary), a
# difference of two runs that no single config fills. DAS's repo has no ArtBench-5 code; D-TRAK's ArtBench5 scripts
# use ArtBench2's recipe (batch 64, 100 epochs, lr 3e-4 cosine; 3 seeds per subset).
