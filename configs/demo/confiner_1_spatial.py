# ConFiner demo, spatial expert (../confiner/_base_/demo_digits.py): an unconditional frame DDPM (UNet2DModel, linear
# betas) trained on every frame of the clips, sampled alone: 20 DDIM steps per frame, each frame independent.
_base_ = ["../confiner/_base_/demo_digits.py"]

method = dict(type="ConFinerToyExpert", single="spatial", steps=20, frames=4)
train = dict(dataset=dict(type="MovingDigitsTrain", num_content=0, num_motion=0, num_ordinary=10, frames=4, canvas=12,
                          seed=0, kinds=["ordinary"]),
             epochs=100, batch_size=64, lr=3e-3, seed=0, checkpoint_every=50)
