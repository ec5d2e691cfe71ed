"""The catalogue's view of the tree: which reported cells the committed configs fill (golden counts for Trident)."""
from bench.catalogue import config_cells, is_configured, paper_status
from bench.reported import cell_key, load_report
from bench.tables import paper_table


def test_config_cells_map_each_trident_config_to_its_cell():
    cells = config_cells("trident")
    assert len(cells) == 32 and all(len(names) == 1 for names in cells.values())
    voc21 = cell_key("main", {"backbone": "CLIP ViT-B/16", "method": "Trident", "dataset": "VOC21"}, "mIoU")
    assert cells[voc21] == ("trident/voc21.py",)
    assert config_cells("amg") == {}  # no configs yet


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
