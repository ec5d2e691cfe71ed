# Strong evaluation of the stochastic defence (sheet section 9, "optional strong eval"): the attacks see
# log-probabilities log_softmax(-d/0.1) as logits and fresh sampling noise at every forward (view "logits").
# fra31/auto-attack's standard suite and its rand version (APGD-CE + APGD-DLR, EOT 20) with the original's 100
# iterations, EOT-PGD (the official code's eotpgd setting: 200 steps, 20 EOT draws) and BPDA+EOT with the IDC-BPDA
# script's settings (50 steps of 2/255, EOT 15 attack / 150 defence draws).
task = dict(type="robustness", view="logits", attacks=dict(
    autoattack_standard=dict(type="OriginalAutoAttack", eps=8 / 255, version="standard", seed=0),
    autoattack_rand=dict(type="OriginalAutoAttack", eps=8 / 255, version="rand", seed=0),
    eotpgd=dict(type="EOTPGD", eps=8 / 255, alpha=2 / 255, steps=200, eot_iter=20, random_start=True),
    bpda_eot=dict(type="BPDAEOT", eps=8 / 255, alpha=2 / 255, steps=50, eot_attack_reps=15, eot_defense_reps=150)))
