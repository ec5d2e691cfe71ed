# ConFiner demo, control expert (../confiner/_base_/demo_digits.py): the pixel-space video toy trained briefly
# (rough frames), then sampled alone in 4 DDIM steps without guidance: the structure ConFiner starts from.
_base_ = ["../confiner/_base_/demo_digits.py"]

method = dict(type="ConFinerToyExpert", single="control", steps=4, frames=4, expert=dict(guidance_scale=1.0))
train = dict(dataset=dict(type="MovingDigitsTrain", num_content=0, num_motion=0, num_ordinary=10, frames=4, canvas=12,
                          seed=0, kinds=["ordinary"]),
             steps=15, batch_size=32, lr=1e-2, seed=0, architecture="frames_as_channels")
