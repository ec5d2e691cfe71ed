# Stable Diffusion v1.4 as the official detect_mem.py / inference_mem.py run it: DDIM 50 steps, CFG 7.5, 512x512,
# fp16 on GPU (method.dtype "auto"; float32 on CPU), per-prompt seed = gen_seed + row, safety checker off.
# Get the folder on a machine with internet:
#   huggingface-cli download CompVis/stable-diffusion-v1-4 \
#     --local-dir checkpoints/stable_diffusion/stable-diffusion-v1-4
method = dict(type="BrightEnding", model="checkpoints/stable_diffusion/stable-diffusion-v1-4", gen_seed=0,
              sampling=dict(num_inference_steps=50, guidance_scale=7.5, height=512, width=512),
              attention=dict(step=-1, block="down_blocks.0"), dtype="auto")
run = dict(batch_size=1)
