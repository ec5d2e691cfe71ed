# DPMs-ANT digits demo (quick profile), Fig. 4 row 'ant': configs/dpms_ant/_base_/demo_digits.py shortened to fit
# about 15 s with the other row: the quick classifier (dpms_ant/demo_digits_classifier), 30 iterations, J = 3
# adversarial steps instead of 10 (J = 10 triples the row's cost), 200 images of 50 sampling steps. The full profile
# (bench demo --full) runs every row at 150 iterations with J = 10.
_base_ = ["../dpms_ant/_base_/demo_digits.py"]

dataset = dict(num_samples=200)
method = dict(ablation="ant", objective=dict(ascent_steps=3), sample_steps=50,
              settings=dict(iterations=30, schedule_iterations=30, warmup_iterations=3, checkpoint_every=15))
upstream = dict(classifier=dict(config="dpms_ant/demo_digits_classifier"))
run = dict(batch_size=200)
