# ArtBench-2's full-data LoRA and D-TRAK's generated ("gen") queries, sail-sg/D-TRAK ArtBench2: the train stage is the
# LoRA fine-tune of miniSD on the 5,000 training images (scripts/run_train.sh by configs/das/_base_/artbench_lora.py's
# recipe, seed 42), the model the TRAK, D-TRAK and DAS configs attribute (their upstream "model", product checkpoint);
# the run samples 1,000 images from it as gen_text_to_image_lora.py does (scripts/run_gen.sh, README `run_gen.sh 0 0`):
# StableDiffusionPipeline in fp16 with DDIMScheduler.from_config of the folder's scheduler, no safety checker, 50 steps,
# eta 0, the pipeline's default guidance scale 7.5, 256 x 256, image i drawn from torch.Generator('cpu') seeded
# gen_seed * 1000 + i (gen_seed 0), images 0-499 prompted "a ukiyo e painting" and 500-999 "a post impressionism
# painting", saved as PNG (here: the uint8 pixels of those PNGs, stored with each image's prompt; images/ holds the
# PNGs). The ground truth (lds_artbench2_groundtruth, query set "gen") and the *_gen attribution configs read them with
# GeneratedImages (upstream "gen", product run; ids gen-<i>, caption = the prompt, as D-TRAK's eval and grad scripts
# caption the gen images by their index block).
# Needs checkpoints/das/miniSD-diffusers and data/artbench (see configs/das/_base_/artbench2.py).
# The pixel-correlation features the generation task stores (it needs an extractor; no metric reads them) take
# 256 KiB per image.
_base_ = ["../_base_/default_run.py", "./_base_/artbench_lora.py"]

dataset = dict(type="GenerationRequests", num_samples=1000,
               prompts=["a ukiyo e painting", "a post impressionism painting"], samples_per_prompt=500)
method = dict(type="LoRATextToImageSampler", model="checkpoints/das/miniSD-diffusers", lora_rank=128,
              scheduler="DDIMScheduler", num_inference_steps=50, guidance_scale=7.5, eta=0.0, resolution=256,
              dtype="fp16", index_seeds=0 * 1000)
train = dict(dataset=dict(type="ArtBench", root="data/artbench", subset="artbench2", split="train"))
task = dict(type="generation", extractor=None, metrics=[], image_format="png")
run = dict(batch_size=256)
