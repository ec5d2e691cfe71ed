# DPMs-ANT digits demo (quick profile), Fig. 4 row 'adaptor_only': configs/dpms_ant/_base_/demo_digits.py shortened
# as dpms_ant_1_ant.py is (the quick classifier, 30 iterations, 200 images of 50 sampling steps). The full profile
# (bench demo --full) runs every row at 150 iterations with J = 10.
_base_ = ["../dpms_ant/_base_/demo_digits.py"]

dataset = dict(num_samples=200)
method = dict(ablation="adaptor_only", sample_steps=50,
              settings=dict(iterations=30, schedule_iterations=30, warmup_iterations=3, checkpoint_every=15))
upstream = dict(classifier=dict(config="dpms_ant/demo_digits_classifier"))
run = dict(batch_size=200)
