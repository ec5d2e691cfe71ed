# Collage prompting offline (no API calls): the arrangement predictor trained with the official recipe (seed 777,
# 500 epochs, Adam, MSE on the standardised mean GPT-4V correctness, 90/10 split) on the shipped ImageNet training
# records (data/collageprompt/dataset = the official dataset/ folder: train metainfo pickle + feat/*.npy), then one
# arrangement search per collage (method.search). A seeded 10% of the training collages recorded under 2 or more
# arrangements are held out of training by collage (the set of their images; heldout_fraction / heldout_seed, the
# same in train.dataset and dataset) and are the ImageNet configs' test collages. Every offline config of one grid
# shares one train stage (search, preset and num only change evaluation). train.weights=<499.pth> loads the
# official weights instead (trained on every record, held-out collages included).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CollagePromptHeldOut", root="data/collageprompt/dataset", grid=3, heldout_fraction=0.1,
               heldout_seed=0)
method = dict(type="CollageArrangementSearch", grid=3, search="ga")
train = dict(dataset=dict(type="CollagePrompt", root="data/collageprompt/dataset", grid=3, split="train",
                          heldout_fraction=0.1, heldout_seed=0),
             epochs=500, lr=1e-3, weight_decay=0.01, batch_size=512, val_fraction=0.1, hidden=128, seed=777)
task = dict(type="collage_arrangement")
run = dict(batch_size=64)
