"""The VBench prompt reader on a fixture in the official layout (``prompts/all_category.txt`` and
``prompts/prompts_per_category/``): order, sample numbers, VBench file names, repeats, errors naming the layout."""
from __future__ import annotations

import pytest

from bench.data import DatasetLayoutError
from bench.datasets.vbench import VBenchPrompts
from bench.registry import DATASETS

LINES = ["a black dog wearing halloween costume", "spider making a web  ", "", "video of a indoor green plant",
         "video of a indoor green plant"]


@pytest.fixture()
def vbench_root(tmp_path):
    prompts = tmp_path / "VBench" / "prompts"
    (prompts / "prompts_per_category").mkdir(parents=True)
    (prompts / "all_category.txt").write_text("\n".join(LINES), encoding="utf-8")  # no final newline, as upstream
    (prompts / "prompts_per_category" / "animal.txt").write_text("a cat\na dog\n", encoding="utf-8")
    return tmp_path / "VBench"


def test_items_are_prompts_times_sample_numbers_in_vbench_order(vbench_root):
    data = DATASETS.build(dict(type="VBenchPrompts", root=str(vbench_root)))
    assert len(data) == 3 * 5  # three distinct prompts (blank line skipped, repeat dropped), five videos each
    assert [data[i]["video_index"] for i in range(6)] == [0, 1, 2, 3, 4, 0]
    assert data[6] == {"prompt": "spider making a web", "video_index": 1,
                       "video_name": "spider making a web-1.mp4"}
    assert data.sample_id(14) == "video of a indoor green plant-4"
    facts = data.describe()
    assert facts["prompts"] == 3 and facts["repeated_prompts_dropped"] == 1 and len(facts["sha256"]) == 64
    with pytest.raises(IndexError):
        data[15]


def test_prompts_folder_category_file_and_one_sample_per_run(vbench_root):
    data = VBenchPrompts(str(vbench_root / "prompts"), prompt_file="prompts_per_category/animal.txt",
                         samples_per_prompt=1)
    assert [data[i]["prompt"] for i in range(len(data))] == ["a cat", "a dog"]
    assert [data.sample_id(i) for i in range(2)] == ["a cat-0", "a dog-0"]
    assert data.fingerprint() != VBenchPrompts(str(vbench_root), samples_per_prompt=1).fingerprint()


def test_errors_name_the_file_and_the_layout(vbench_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match="all_dimension.txt") as error:
        VBenchPrompts(str(vbench_root), prompt_file="all_dimension.txt")
    assert "prompts_per_category" in str(error.value)  # the official layout is shown
    (vbench_root / "prompts" / "bad.txt").write_text("a/b\n", encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match="cannot be VBench file names"):
        VBenchPrompts(str(vbench_root), prompt_file="bad.txt")
    with pytest.raises(ValueError, match="samples_per_prompt"):
        VBenchPrompts(str(vbench_root), samples_per_prompt=0)
