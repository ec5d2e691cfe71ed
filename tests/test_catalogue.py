"""The catalogue's view of the tree: which reported cells the committed configs fill (golden counts for Trident)."""
import pytest

from bench.catalogue import adapter_status, config_cells, is_configured, methods_root, paper_status
from bench.reported import cell_key, load_all, load_report
from bench.tables import paper_table


def test_config_cells_map_each_trident_config_to_its_cell():
    cells = config_cells("trident")
    assert len(cells) == 32 and all(len(names) == 1 for names in cells.values())
    voc21 = cell_key("main", {"backbone": "CLIP ViT-B/16", "method": "Trident", "dataset": "VOC21"}, "mIoU")
    assert cells[voc21] == ("trident/voc21.py",)
    confiner = config_cells("confiner")  # Tables 1, 3, 5 without the LaVie rows: 40 + 12 + 24 cells
    assert len(confiner) == 76 and confiner[cell_key("main_vbench", {
        "dataset": "VBench (800 prompts)", "method": "ConFiner w/ ModelScope", "steps": "9"},
        "subject_consistency")] == ("confiner/table1_confiner_modelscope_9.py",)
    collage = config_cells("collage_prompting")  # the online configs name cells of a table with no numbers
    assert collage[cell_key("main", {"dataset": "food101", "grid": "3x3", "mode": "collage", "arrangement": "random"},
                            "accuracy")] == ("collage_prompting/online_food101_3x3.py",)
    das = config_cells("das")  # the CIFAR-2 re-run cells; a gain cell: DAS's run with D-TRAK's as an upstream run
    assert das[cell_key("lds_rerun_ltw", {"dataset": "CIFAR-2", "method": "DAS"}, "LDS")] == ("das/lds_cifar2_das.py",)
    gain = cell_key("lds_gain_vs_dtrak", {"dataset": "CIFAR-2", "split": "val", "method": "DAS"},
                    "LDS gain over D-TRAK")
    assert das[gain] == ("das/lds_cifar2_das_gain.py",)
    amg = config_cells("amg")
    main = cell_key("main_cifar10_uncond", {"dataset": "CIFAR-10", "model": "iDDPM (unconditional)",
                                            "method": "AMG (Main)"}, "nL2 Top5%")
    assert amg[main] == ("amg/cifar10_uncond_amg_main.py",)
    laion = cell_key("main_sd_laion", {"dataset": "LAION-5B prompts", "model": "SD v1.4", "method": "AMG (Main)"},
                     "SSCD Top5%")
    assert laion not in amg  # the proxy-reference rows carry their own setting: never a LAION cell


def test_configured_cells_count_means_whose_members_all_have_configs():
    report = load_report("trident")
    by_setting = {(e.setting["method"], e.setting["backbone"], e.setting["dataset"]): e for e in report.entries}
    assert is_configured(by_setting["Trident", "CLIP ViT-B/16", "Avg"], "trident")  # mean of eight configured cells
    assert not is_configured(by_setting["SCLIP", "CLIP ViT-B/16", "VOC21"], "trident")  # comparison row
    status = paper_status(report)
    assert (status["reported_numbers"], status["configured_numbers"]) == (72, 36)  # 32 cells + 4 averages


def test_paper_table_notes_the_cells_no_config_fills(tmp_path):
    frame = paper_table("trident", [tmp_path]).set_index("setting")
    assert frame.loc["backbone=CLIP ViT-B/16, method=MaskCLIP, dataset=VOC21", "note"] == \
        "no config in configs/trident/ fills this cell"
    assert frame.loc["backbone=CLIP ViT-B/16, method=Trident, dataset=VOC21", "note"] == ""
    assert frame.loc["backbone=CLIP ViT-B/16, method=Trident, dataset=Avg", "note"] == ""


def test_every_paper_adapter_declares_a_valid_status_file():
    root = methods_root()
    papers = [r.slug for r in load_all() if (root / r.slug / "__init__.py").is_file()]
    assert len(papers) == 17
    for slug in papers:
        status = adapter_status(slug)
        assert status["implementation"] in ("faithful", "re-implementation"), slug
    assert "in_progress" not in adapter_status("confiner") and "in_progress" not in adapter_status("vdm_memorization")
    assert "ModelScope" in adapter_status("confiner")["foundation_weights_not_here"]
    assert "GPT-4V" in adapter_status("collage_prompting")["not_reproducible"]
    assert adapter_status("das")["implementation"] == "re-implementation"
    assert "miniSD" in adapter_status("das")["foundation_weights_not_here"]
    assert "in_progress" not in adapter_status("dpms_ant")
    assert "LDM" in adapter_status("dpms_ant")["foundation_weights_not_here"]
    assert adapter_status("fusionsam")["implementation"] == "re-implementation"


@pytest.mark.parametrize("text, message", [
    (None, r"status\.toml does not exist.*implementation = 'faithful' or 're-implementation'"),
    ('implementation = "faithful"\nsmoke_only = true\n', r"unknown key\(s\) \['smoke_only'\]; the keys are "
                                                          r"implementation, foundation_weights_not_here"),
    ('implementation = "official"\n', r"implementation must be one of \('faithful', 're-implementation'\), "
                                      r"got 'official'"),
    ('implementation = "faithful"\nnot_reproducible = ""\n', r"\['not_reproducible'\] must be non-empty strings"),
])
def test_status_file_errors_name_the_file_and_the_fix(tmp_path, text, message):
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "__init__.py").write_text("")
    if text is not None:
        (tmp_path / "paper" / "status.toml").write_text(text)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        adapter_status("paper", tmp_path)
    assert adapter_status("no_such_paper", tmp_path) is None
