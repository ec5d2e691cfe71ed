# Detection table, non-memorized = COCO captions (ChristophSchuhmann/MS_COCO_2017_URL_TEXT, train, column "TEXT").
_base_ = ["./_base_/detection.py"]

dataset = dict(nonmemorized=dict(type="NonMemorizedPrompts", prompts_file="data/memorization/coco_train.jsonl",
                                 key="TEXT", name="coco", subset_size=2500, subset_seed=0))
