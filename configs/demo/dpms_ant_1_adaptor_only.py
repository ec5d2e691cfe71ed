# DPMs-ANT digits demo (quick profile), Fig. 4 row 'adaptor_only': configs/dpms_ant/_base_/demo_digits.py shortened to
# fit about 20 s: the quick classifier (demo/dpms_ant_0_classifier), 40 iterations, 200 images of 50 sampling steps.
# The full profile (bench demo --full) runs every row at 150 iterations with J = 10.
_base_ = ["../dpms_ant/_base_/demo_digits.py"]

dataset = dict(num_samples=200)
method = dict(ablation="adaptor_only", sample_steps=50,
              settings=dict(iterations=40, schedule_iterations=40, warmup_iterations=4, checkpoint_every=20))
upstream = dict(classifier=dict(config="demo/dpms_ant_0_classifier"))
run = dict(batch_size=200)
