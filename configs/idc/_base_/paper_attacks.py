# IDC's official attack suite (Torch_Adv_Model, configs attack-1..5), all L-inf with eps = 8/255 passed explicitly,
# against the official wrapper (view "paper": softmax(-d/0.1) probabilities, which torchattacks treats as logits,
# sampling noise frozen by seed 0 at every forward). A sample is robust only if its clean and adversarial
# predictions are both correct. Deviations, logged with the run: every attack's seed is fixed (torchattacks'
# AutoAttack draws a time-based seed when given none, as the official call does) and the attack library is pinned
# (torchattacks 3.5.1: AutoAttack = APGD-CE, APGD-T, FAB-T with 10 steps, Square 5000 queries).
task = dict(type="robustness", view="paper", attacks=dict(
    pgd20=dict(type="PGD", eps=8 / 255, alpha=2 / 255, steps=20, random_start=True),
    fgsm=dict(type="FGSM", eps=8 / 255),
    mifgsm=dict(type="MIFGSM", eps=8 / 255, alpha=2 / 255, steps=5, decay=1.0),
    cwl2=dict(type="CW", c=1e-4, kappa=0, steps=1000, lr=0.01),
    autoattack=dict(type="AutoAttack", eps=8 / 255, norm="Linf", version="standard", seed=0)))
