"""Memorization prompt sets: official layouts, labels, subsets, random-token draw, detection union, errors."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.memorization import (
    DetectionPrompts,
    MemorizedPrompts,
    NonMemorizedPrompts,
    RandomTokenPrompts,
    choose_rows,
)
from bench.registry import DATASETS

ITEM_KEYS = {"prompt", "label", "index", "row", "prompt_set", "url", "gt_images", "paraphrases", "token_ids"}


def test_wen_memorized_file_is_read_line_by_line(tmp_path):
    path = MemorizedPrompts.write_example(tmp_path, num_prompts=3)
    assert path == tmp_path / "sdv1_500_memorized.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == ["caption", "index", "url"]  # the key order of Wen's examples file
    prompts = MemorizedPrompts(path)
    assert len(prompts) == 3
    assert [prompts.sample_id(i) for i in range(3)] == ["memorized-1000003", "memorized-1007922", "memorized-1015841"]
    item = prompts[1]
    assert set(item) == ITEM_KEYS
    assert item["prompt"] == "Example memorized caption 1 - poster"
    assert (item["index"], item["row"], item["label"]) == (1007922, 1, 1)
    assert item["url"] == "https://example.com/images/1007922.jpg"
    assert item["gt_images"] == [] and item["paraphrases"] == [] and item["token_ids"] == []
    assert prompts.gt_dir is None and prompts.describe()["prompts_without_gt_images"] == 3


def test_groundtruth_variants_expose_paraphrases_and_sorted_gt_images(tmp_path):
    path = MemorizedPrompts.write_example(tmp_path, variant="withss", gt_per_prompt=(1, 3, 0))
    assert path == tmp_path / "sdv1_500_mem_groundtruth" / "sdv1_500_mem_groundtruth_repeated_withss.jsonl"
    gt = path.parent / "gt_images"
    (gt / "1007922" / "._2.png").write_bytes(b"AppleDouble")  # hidden files are never data
    (gt / "1007922" / "notes.txt").write_text("not an image")
    prompts = MemorizedPrompts(path)
    assert prompts.gt_dir == gt
    assert prompts[0]["gt_images"] == [str(gt / "1000003" / "0.png")]
    assert prompts[1]["gt_images"] == [str(gt / "1007922" / f"{k}.png") for k in range(3)]
    assert prompts[2]["gt_images"] == []
    assert len(prompts[0]["paraphrases"]) == 25
    assert prompts[0]["paraphrases"][:2] == ["Paraphrase 1 of example caption 0.", "Paraphrase 2 of example caption 0."]
    assert prompts[0]["paraphrases"][9] == "Paraphrase 10 of example caption 0."  # numeric, not string, order
    assert prompts.describe()["paraphrases"] == 25 and prompts.describe()["prompts_without_gt_images"] == 1
    repeated = MemorizedPrompts.write_example(tmp_path / "r", variant="repeated")
    assert repeated.name == "sdv1_500_mem_groundtruth_repeated.jsonl"
    assert MemorizedPrompts(repeated)[0]["paraphrases"] == []


def test_require_gt_images_names_the_missing_folders(tmp_path):
    path = MemorizedPrompts.write_example(tmp_path, variant="repeated", num_prompts=8, gt_per_prompt=(1,) + (0,) * 7)
    with pytest.raises(DatasetLayoutError) as error:
        MemorizedPrompts(path, require_gt_images=True)
    message = str(error.value)
    gt = path.parent / "gt_images"
    assert message.startswith(f"MemorizedPrompts: 7 of 8 prompts have no ground-truth PNG (require_gt_images=True): "
                              f"{gt / '1007922'}, {gt / '1015841'}, ")
    assert "and 2 more\n  path: " in message and "gt_images/<index>/*.png" in message and "BE-PRSS" in message
    # a subset of prompts that all have GT images passes
    assert len(MemorizedPrompts(path, require_gt_images=True, subset_size=1, subset_mode="disjoint",
                                subset_shuffle_seed=3, subset_seed=_block_holding_row_0(8, 3))) == 1


def _block_holding_row_0(num_rows: int, shuffle_seed: int) -> int:
    return next(seed for seed in range(num_rows) if choose_rows(num_rows, 1, seed, "disjoint", shuffle_seed) == [0])


@pytest.mark.parametrize(("line", "problem"), [
    ('{"caption": "a", "index": 5, "url": ""', "line 3 is not valid JSON"),
    ('["a", 5]', "line 3 is a JSON list, not an object"),
    ('{"caption": "a", "url": ""}', "line 3 lacks index (keys found: caption, url)"),
    ('{"caption": "a", "index": "5"}', "line 3: index must be an integer"),
    ('{"caption": null, "index": 5}', "line 3: caption must be a string"),
    ('{"caption": "again", "index": 1, "url": ""}', "line 3 repeats index 1 of line 1"),
])
def test_malformed_memorized_lines_are_named(tmp_path, line, problem):
    path = tmp_path / "sdv1_500_memorized.jsonl"
    path.write_text('{"caption": "x", "index": 1, "url": ""}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="^MemorizedPrompts: " + re.escape(problem)):
        MemorizedPrompts(path)


def test_missing_files_name_the_layout_and_the_source(tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        MemorizedPrompts(tmp_path / "sdv1_500_memorized.jsonl")
    assert str(error.value).startswith("MemorizedPrompts: missing memorized prompts file (JSON lines)\n  path: ")
    assert "expected layout:" in str(error.value) and "YuxinWenRick/diffusion_memorization" in str(error.value)
    with pytest.raises(DatasetLayoutError, match="missing non-memorized prompts file(.|\n)*Gustavosta/Stable-"
                                                 "Diffusion-Prompts(.|\n)*MS_COCO_2017_URL_TEXT"):
        NonMemorizedPrompts(tmp_path / "lexica.jsonl")
    with pytest.raises(DatasetLayoutError, match="unknown prompt file type '.txt'"):
        NonMemorizedPrompts(tmp_path / "lexica.txt")
    path = MemorizedPrompts.write_example(tmp_path)
    with pytest.raises(DatasetLayoutError, match="missing ground-truth image folder"):
        MemorizedPrompts(path, gt_dir=tmp_path / "absent")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DatasetLayoutError, match="no prompts in the file"):
        MemorizedPrompts(tmp_path / "empty.jsonl")


@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
def test_nonmemorized_exports_are_read_in_every_format(tmp_path, file_format):
    lexica = NonMemorizedPrompts(NonMemorizedPrompts.write_example(tmp_path, "lexica", file_format), name="lexica")
    assert len(lexica) == 12 and lexica.sample_id(3) == "lexica-3"
    item = lexica[3]
    assert set(item) == ITEM_KEYS
    assert (item["prompt"], item["label"], item["index"], item["row"]) == (
        "a portrait of a knight number 3, digital art, trending on artstation", 0, 3, 3)
    coco = NonMemorizedPrompts(NonMemorizedPrompts.write_example(tmp_path, "coco", file_format), key="TEXT",
                               name="coco")
    assert coco[11]["prompt"] == "A person riding bicycle number 11 down a city street."
    with pytest.raises(DatasetLayoutError, match="has no column 'Prompt' \\(columns: URL, TEXT\\); set key"):
        NonMemorizedPrompts(tmp_path / f"coco.{file_format}")


def test_nonmemorized_bad_rows_are_named(tmp_path):
    path = tmp_path / "coco.jsonl"
    path.write_text('{"TEXT": "a dog"}\n{"TEXT": 3}\n', encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="line 2: TEXT must be a string, got 3"):
        NonMemorizedPrompts(path, key="TEXT")
    path.write_text('{"TEXT": "a dog"}\n{"TEXT": "a cat"\n', encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="line 2 is not valid JSON"):
        NonMemorizedPrompts(path, key="TEXT")
    csv_path = tmp_path / "coco.csv"
    csv_path.write_text('URL,TEXT\nhttp://a,"a dog"\nhttp://b,a cat,extra\n', encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="line 3 has more cells than the header"):
        NonMemorizedPrompts(csv_path, key="TEXT")
    csv_path.write_bytes("URL,TEXT\nhttp://a,café\n".encode("latin-1"))
    with pytest.raises(DatasetLayoutError, match="cannot read a UTF-8 CSV file with a header row"):
        NonMemorizedPrompts(csv_path, key="TEXT")


def test_subsets_are_seeded_recorded_and_disjoint_when_asked(tmp_path):
    path = NonMemorizedPrompts.write_example(tmp_path, num_prompts=20)
    first = NonMemorizedPrompts(path, subset_size=5, subset_seed=0)
    again = NonMemorizedPrompts(path, subset_size=5, subset_seed=0)
    other = NonMemorizedPrompts(path, subset_size=5, subset_seed=1)
    assert first.rows == again.rows == sorted(first.rows) and first.rows != other.rows
    assert [first[i]["row"] for i in range(5)] == first.rows
    assert first.describe()["subset"] == {"size": 5, "seed": 0, "mode": "random", "rows": first.rows}
    assert first.describe()["source_size"] == 20 and len(first) == 5
    blocks = [NonMemorizedPrompts(path, subset_size=5, subset_seed=seed, subset_mode="disjoint").rows
              for seed in range(4)]
    assert sorted(row for block in blocks for row in block) == list(range(20))  # 4 disjoint blocks cover the file
    with pytest.raises(ValueError, match="20 prompts hold 4 disjoint subsets of 5 \\(subset_seed 0..3\\), got "
                                         "subset_seed 4"):
        NonMemorizedPrompts(path, subset_size=5, subset_seed=4, subset_mode="disjoint")
    with pytest.raises(ValueError, match="subset_size 21 exceeds the 20 prompts"):
        NonMemorizedPrompts(path, subset_size=21)
    with pytest.raises(ValueError, match="subset_mode must be one of"):
        NonMemorizedPrompts(path, subset_size=2, subset_mode="first")


def test_fingerprints_follow_content_subset_and_gt_files(tmp_path):
    path = NonMemorizedPrompts.write_example(tmp_path, num_prompts=6)
    base = NonMemorizedPrompts(path).fingerprint()
    assert NonMemorizedPrompts(path).fingerprint() == base
    assert NonMemorizedPrompts(path, subset_size=3).fingerprint() != base
    path.write_text(path.read_text().replace("knight number 2", "knight number two"))
    assert NonMemorizedPrompts(path).fingerprint() != base
    mem = MemorizedPrompts.write_example(tmp_path / "m", variant="repeated")
    before = MemorizedPrompts(mem).fingerprint()
    (mem.parent / "gt_images" / "1015841").mkdir()
    (mem.parent / "gt_images" / "1015841" / ".DS_Store").write_bytes(b"x")
    assert MemorizedPrompts(mem).fingerprint() == before  # hidden files change nothing
    (mem.parent / "gt_images" / "1015841" / "0.png").write_bytes((mem.parent / "gt_images" / "1000003" / "0.png")
                                                                  .read_bytes())
    assert MemorizedPrompts(mem).fingerprint() != before


def _official_random_draw(num: int, gen_seed: int, max_length: int, vocab_size: int) -> list[list[int]]:
    """optim_utils.get_dataset('random') as detect_mem.py runs it: set_random_seed(gen_seed) seeds Python's
    random with gen_seed + 5, then k = randrange(model_max_length) and sample(range(vocab_size), k) per prompt."""
    state = random.getstate()
    try:
        random.seed(gen_seed + 5)
        draws = []
        for _ in range(num):
            k = random.randrange(max_length)
            draws.append(random.sample(range(vocab_size), k))
        return draws
    finally:
        random.setstate(state)


def _write_clip_tokenizer(folder, max_length):
    """A CLIP-form BPE vocabulary (special tokens, letters alone and word-final, one merge) with SD's files."""
    folder.mkdir(parents=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters), "at</w>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\na t</w>\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": max_length}))


def test_random_tokens_follow_the_official_draw_and_decode_with_a_local_tokenizer(tmp_path):
    pytest.importorskip("transformers")
    from transformers import CLIPTokenizer

    _write_clip_tokenizer(tmp_path / "sd" / "tokenizer", max_length=16)
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path / "sd" / "tokenizer"))
    prompts = RandomTokenPrompts(num_prompts=30, seed=3, tokenizer=tmp_path / "sd")  # the pipeline folder
    assert (prompts.vocab_size, prompts.max_length) == (55, 16)
    official = _official_random_draw(30, 3, 16, 55)
    assert [prompts[i]["token_ids"] for i in range(30)] == official
    assert [prompts[i]["prompt"] for i in range(30)] == [tokenizer.decode(ids, clean_up_tokenization_spaces=True)
                                                         for ids in official]
    assert prompts[0]["label"] == 0 and prompts.sample_id(7) == "random-7" and prompts[7]["row"] == 7
    assert prompts.describe()["prompt_form"] == "decoded"


def test_random_tokens_without_a_tokenizer_use_sd_sizes_and_a_stand_in_text():
    prompts = RandomTokenPrompts(num_prompts=50, seed=0)
    official = _official_random_draw(50, 0, 77, 49408)
    assert [prompts[i]["token_ids"] for i in range(50)] == official
    assert prompts[0]["prompt"] == " ".join(f"tok{token}" for token in official[0])
    assert max(len(ids) for ids in official) <= 76
    assert RandomTokenPrompts(num_prompts=50, seed=1).fingerprint() != prompts.fingerprint()
    assert RandomTokenPrompts(num_prompts=50, seed=0).fingerprint() == prompts.fingerprint()
    assert prompts.describe()["prompt_form"].startswith("tok<id> stand-in")
    with pytest.raises(DatasetLayoutError, match="missing tokenizer folder"):
        RandomTokenPrompts(num_prompts=2, tokenizer="/nonexistent/sd")


def test_detection_prompts_join_two_sets_with_labels_and_unique_ids(tmp_path):
    mem = MemorizedPrompts.write_example(tmp_path, num_prompts=3)
    lexica = NonMemorizedPrompts.write_example(tmp_path, num_prompts=10)
    joined = DATASETS.build(dict(
        type="DetectionPrompts", memorized=dict(type="MemorizedPrompts", prompts_file=str(mem)),
        nonmemorized=dict(type="NonMemorizedPrompts", prompts_file=str(lexica), name="lexica", subset_size=4,
                          subset_seed=2)))
    assert isinstance(joined, DetectionPrompts) and len(joined) == 7
    assert [joined[i]["label"] for i in range(7)] == [1, 1, 1, 0, 0, 0, 0]
    ids = [joined.sample_id(i) for i in range(7)]
    assert len(set(ids)) == 7 and ids[0] == "memorized-1000003" and ids[3].startswith("lexica-")
    assert all(set(joined[i]) == ITEM_KEYS for i in range(7))
    description = joined.describe()
    assert (description["num_memorized"], description["num_nonmemorized"]) == (3, 4)
    assert description["nonmemorized"]["subset"]["seed"] == 2
    other = DetectionPrompts(dict(type="MemorizedPrompts", prompts_file=str(mem)),
                             dict(type="NonMemorizedPrompts", prompts_file=str(lexica), name="lexica", subset_size=4,
                                  subset_seed=3))
    assert other.fingerprint() != joined.fingerprint()
    with pytest.raises(ValueError, match="nonmemorized must be a prompt set with label 0"):
        DetectionPrompts(dict(type="MemorizedPrompts", prompts_file=str(mem)),
                         dict(type="MemorizedPrompts", prompts_file=str(mem), name="again"))
    with pytest.raises(ValueError, match="both sets are named 'random'"):
        DetectionPrompts(dict(type="MemorizedPrompts", prompts_file=str(mem), name="random"),
                         dict(type="RandomTokenPrompts", num_prompts=3))


def test_captioned_image_folder_reads_img2dataset_files_layout(tmp_path):
    from PIL import Image

    from bench.datasets.memorization import CaptionedImageFolder

    shard = tmp_path / "ref" / "00000"
    shard.mkdir(parents=True)
    for i, caption in enumerate(["a cat", "", None]):
        Image.fromarray(np.full((4, 5, 3), 40 * i, dtype=np.uint8)).save(shard / f"00000000{i}.png")
        if caption is not None:
            (shard / f"00000000{i}.txt").write_text(caption + "\n", encoding="utf-8")
    (shard / "000000000.json").write_text("{}", encoding="utf-8")  # img2dataset metadata: ignored
    folder = CaptionedImageFolder(str(tmp_path / "ref"))
    assert len(folder) == 3 and folder.sample_id(0) == "00000/000000000.png"
    item = folder[1]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (4, 5, 3) and int(item["image"][0, 0, 0]) == 40
    assert [folder[i]["caption"] for i in range(3)] == ["a cat", "", ""]
    assert folder.describe()["captioned"] == 1
    before = folder.fingerprint()
    (shard / "000000002.txt").write_text("a dog", encoding="utf-8")
    assert CaptionedImageFolder(str(tmp_path / "ref")).fingerprint() != before
    with pytest.raises(DatasetLayoutError, match=r"CaptionedImageFolder: the folder does not exist"):
        CaptionedImageFolder(str(tmp_path / "missing"))
