# ArtBench-5's full-data LoRA and D-TRAK's generated ("gen") queries, sail-sg/D-TRAK ArtBench5: the train stage is the
# LoRA fine-tune of miniSD on the 12,500 training images (scripts/run_train.sh by configs/das/_base_/artbench_lora.py's
# recipe, seed 42), the model the TRAK, D-TRAK and DAS configs attribute (their upstream "model", product checkpoint);
# the run samples 1,000 images from it as ArtBench5/gen_text_to_image_lora.py does (scripts/run_gen.sh): fp16
# StableDiffusionPipeline, DDIMScheduler.from_config, no safety checker, 50 steps, eta 0, guidance 7.5 (the pipeline's
# default), 256 x 256, image i drawn from torch.Generator('cpu') seeded gen_seed * 1000 + i (gen_seed 0), prompts in
# blocks of 200: "a ukiyo e painting", "a post impressionism painting", "a romanticism painting", "a renaissance
# painting", "a baroque painting" (its eval script labels the gen images in the same blocks), saved as PNG (here: the
# uint8 pixels of those PNGs with each image's prompt). The ground truth (lds_artbench5_groundtruth, query set "gen")
# and the *_gen attribution configs read them with GeneratedImages (upstream "gen", product run).
# Needs checkpoints/das/miniSD-diffusers and data/artbench (see configs/das/_base_/artbench5.py).
_base_ = ["../_base_/default_run.py", "./_base_/artbench_lora.py"]

dataset = dict(type="GenerationRequests", num_samples=1000,
               prompts=["a ukiyo e painting", "a post impressionism painting", "a romanticism painting",
                        "a renaissance painting", "a baroque painting"], samples_per_prompt=200)
method = dict(type="LoRATextToImageSampler", model="checkpoints/das/miniSD-diffusers", lora_rank=128,
              scheduler="DDIMScheduler", num_inference_steps=50, guidance_scale=7.5, eta=0.0, resolution=256,
              dtype="fp16", index_seeds=0 * 1000)
train = dict(dataset=dict(type="ArtBench", root="data/artbench", subset="artbench5", split="train"))
task = dict(type="generation", extractor=None, metrics=[], image_format="png")
run = dict(batch_size=256)
