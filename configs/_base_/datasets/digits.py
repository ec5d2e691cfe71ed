# scikit-learn digits: seeded 1000 / 297 / 500 train / val / test split of the 1,797 images.
dataset = dict(type="Digits", split="test", split_seed=0)
