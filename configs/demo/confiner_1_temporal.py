# ConFiner demo, temporal expert (../confiner/_base_/demo_digits.py): the pixel-space video toy trained longer than
# the control expert, sampled alone in 20 DDIM steps without guidance (at least ConFiner's 19 UNet evaluations).
_base_ = ["../confiner/_base_/demo_digits.py"]

method = dict(type="ConFinerToyExpert", single="temporal", steps=20, frames=4, expert=dict(guidance_scale=1.0))
train = dict(dataset=dict(type="MovingDigitsTrain", num_content=0, num_motion=0, num_ordinary=10, frames=4, canvas=12,
                          seed=0, kinds=["ordinary"]),
             steps=40, batch_size=32, lr=1e-2, seed=0, architecture="frames_as_channels")
