"""RGB–thermal semantic segmentation: the FMB and MFNet benchmarks in their release layouts, and generated scenes.

Items are :class:`bench.datasets.segmentation.SegmentationFolder`'s plus the thermal image: ``image`` (uint8 visible
RGB [3, H, W]), ``thermal`` (uint8 [1, H, W]), ``gt_seg_map`` (uint8 [H, W]; 255 = ignore), ``img_path``,
``seg_map_path``. Label values are checked as the segmentation readers check them (class ids or 255). Class 0 is
a scored class in both benchmarks ("background" in FMB, "unlabeled" in MFNet): FusionSAM's Evaluator and RTFNet's
``compute_results`` average over every id, 0 included; ``unlabeled_index`` records it so a metric can leave it out
(``SegmentationClassMetrics(exclude_classes=...)``). ``write_example`` writes tiny files in each exact layout, so
tests read real files through the real code path. ``GeneratedRGBTScenes`` is the demo's data: in memory, built so
that some classes show only in RGB and others only in thermal.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data import BenchDataset
from bench.datasets.segmentation import IGNORE_INDEX, SegmentationFolder, load_label_map
from bench.registry import DATASETS

#: FMB's 15 label ids (0 = background/unlabeled). Not in the release README; the order of SegMiF-derived evaluation
#: scripts and of other FMB readers (two independent copies agree); FusionSAM's own ``label_name`` is not published.
FMB_CLASSES = ("background", "road", "sidewalk", "building", "lamp", "sign", "vegetation", "sky", "person", "car",
               "truck", "bus", "motorcycle", "bicycle", "pole")
#: MFNet's 9 label ids (0 = unlabeled), the names RTFNet and SegMiF print
MFNET_CLASSES = ("unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")


class _RGBTFolder(SegmentationFolder):
    """A segmentation folder whose items also carry a thermal image; subclasses say where RGB and thermal are."""

    splits: tuple[str, ...] = ()
    #: the label id of the unlabeled/background class, which both benchmarks score as a class
    unlabeled_index = 0
    ignore_index = IGNORE_INDEX

    @classmethod
    def _checked_split(cls, split: str) -> str:
        if split not in cls.splits:
            raise ValueError(f"{cls.__name__} split must be one of {cls.splits}, got {split!r}")
        return split

    def _read_modalities(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB [H, W, 3] and thermal [H, W] of sample ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        with self.reading(self.seg_map_paths[index], "a label PNG"):
            label = load_label_map(self.seg_map_paths[index])
        self._check_label_values(index, label)
        rgb, thermal = self._read_modalities(index)
        if rgb.shape[:2] != label.shape or thermal.shape != label.shape:
            raise self.layout_error(self.seg_map_paths[index], (
                f"visible {rgb.shape[:2]}, thermal {thermal.shape} and label {label.shape} sizes differ (H, W); "
                "the three files of a sample must be the same registered pair: replace them with the release's"))
        return {"image": torch.from_numpy(np.array(rgb)).permute(2, 0, 1),  # np.array: a writable copy
                "thermal": torch.from_numpy(np.array(thermal))[None],
                "gt_seg_map": torch.from_numpy(label), "img_path": str(self.img_paths[index]),
                "seg_map_path": str(self.seg_map_paths[index])}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "ignore_index": self.ignore_index,
                "unlabeled_index": self.unlabeled_index}


@DATASETS.register_module()
class FMB(_RGBTFolder):
    """FMB (SegMiF's full-time multi-modality benchmark): paired visible/infrared PNGs, 15 label ids (0 included).

    The infrared PNG is read as one 8-bit channel (PIL ``convert("L")``, which keeps a grey image stored in three equal
    channels exactly; SegMiF reads it with ``cv2.imread(path, 0)``, the same luminance formula). Samples pair by file
    name across the three folders, sorted by name (FusionSAM lists ``Infrared/`` with ``os.listdir``, unsorted).
    """

    layout = """
<data_root = .../FMB>/{train,test}/Visible/<name>.png    (RGB)
<data_root>/{train,test}/Infrared/<name>.png             (8-bit thermal: grey, or RGB with equal channels)
<data_root>/{train,test}/Label/<name>.png                (uint8 ids 0..14, 0 = background; 255 = ignore)
"""
    obtain = ("the FMB dataset linked from the SegMiF README (github.com/JinyuanLiu-CV/SegMiF: Google Drive or Baidu "
              "Yun), unpacked so that <data_root>/train and <data_root>/test hold Visible, Infrared and Label")
    classes = FMB_CLASSES
    num_classes = len(FMB_CLASSES)
    splits = ("train", "test")
    example_stems = ("00001", "00002", "00003")  # the release's file naming is not documented here

    def __init__(self, data_root: str | Path, split: str = "test") -> None:
        self.split = self._checked_split(split)
        super().__init__(data_root, num_classes=self.num_classes, **self._folders(split))
        self.thermal_dir = self.require(self.data_root / split / "Infrared", "infrared directory")
        self.thermal_paths = [self.thermal_dir / path.name for path in self.img_paths]
        for path in self.thermal_paths:
            if not path.is_file():
                raise self.layout_error(path, "missing infrared image (Visible/<name>.png has no Infrared/<name>.png)")

    @staticmethod
    def _folders(split: str) -> dict[str, Any]:
        return {"img_dir": f"{split}/Visible", "ann_dir": f"{split}/Label", "img_suffix": ".png",
                "seg_map_suffix": ".png"}

    def _read_modalities(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        with self.reading(self.img_paths[index], "a visible RGB PNG"), Image.open(self.img_paths[index]) as image:
            rgb = np.asarray(image.convert("RGB"))
        with self.reading(self.thermal_paths[index], "an infrared PNG"), Image.open(self.thermal_paths[index]) as image:
            if image.mode not in ("L", "RGB"):
                raise self.layout_error(self.thermal_paths[index], (
                    f"infrared image mode {image.mode!r}; expected 8-bit grey ('L') or grey stored as 'RGB'"))
            thermal = np.asarray(image.convert("L"))
        return rgb, thermal

    def fingerprint(self) -> str:
        """The folder fingerprint (names, visible and label sizes) extended with the infrared files' sizes."""
        digest = hashlib.sha256(super().fingerprint().encode())
        for path in self.thermal_paths:
            digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "thermal_dir": str(self.thermal_dir)}

    @classmethod
    def example_spec(cls, split: str | None) -> dict[str, Any]:
        split = cls._checked_split(split or "test")
        return {**cls._folders(split), "split_file": None, "reduce_zero_label": False, "num_classes": cls.num_classes}

    @classmethod
    def write_example(cls, data_root: str | Path, split: str | None = None, size: tuple[int, int] = (40, 30),
                      seed: int = 0, stems: tuple[str, ...] | None = None) -> Path:
        """Random visible images and labels (ids 0..14 and a band of 255) as the segmentation presets write them,
        plus infrared images stored as grey RGB, in ``<split>/{Visible,Infrared,Label}``. Returns ``data_root``."""
        root = super().write_example(data_root, split, size, seed, stems)
        folder = root / (split or "test") / "Infrared"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, 1])
        width, height = size
        for stem in stems or cls.example_stems:
            grey = rng.integers(0, 256, size=(height, width, 1), dtype=np.uint8)
            Image.fromarray(np.repeat(grey, 3, axis=2)).save(folder / f"{stem}.png")
        return root


@DATASETS.register_module()
class MFNet(_RGBTFolder):
    """MFNet (Ha et al., IROS 2017) in its release layout, as RTFNet's ``MF_dataset`` reads it: one 4-channel PNG per
    sample (R, G, B, thermal), a label PNG (ids 0..8, 0 = unlabeled) and split lists of names."""

    layout = """
<data_root = .../ir_seg_dataset>/images/<name>.png   (4-channel PNG: R, G, B, thermal; names 00001D day, 00001N night)
<data_root>/labels/<name>.png                         (uint8 ids 0..8, 0 = unlabeled)
<data_root>/{train,val,test,test_day,test_night}.txt  (one name per line)
"""
    obtain = ("ir_seg_dataset from the MFNet project page (https://www.mi.t.u-tokyo.ac.jp/static/projects/"
              "mil_multispectral/) or RTFNet's copy of it (github.com/yuxiangsun/RTFNet README)")
    classes = MFNET_CLASSES
    num_classes = len(MFNET_CLASSES)
    splits = ("train", "val", "test", "test_day", "test_night")  # the split lists RTFNet's MF_dataset accepts
    example_stems = ("00001D", "00002N", "00003D")

    def __init__(self, data_root: str | Path, split: str = "test") -> None:
        self.split = self._checked_split(split)
        super().__init__(data_root, **self.example_spec(split))

    def _read_modalities(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        path = self.img_paths[index]
        with self.reading(path, "a 4-channel RGB-thermal PNG"), Image.open(path) as image:
            if image.mode != "RGBA":
                raise self.layout_error(path, (
                    f"image mode {image.mode!r} ({len(image.getbands())} channel(s)); MFNet images are 4-channel "
                    "PNGs (R, G, B, thermal): use the release's images/ folder, not a 3-channel export"))
            pixels = np.asarray(image)
        return pixels[..., :3], pixels[..., 3]

    @classmethod
    def example_spec(cls, split: str | None) -> dict[str, Any]:
        split = cls._checked_split(split or "test")
        return {"img_dir": "images", "ann_dir": "labels", "img_suffix": ".png", "seg_map_suffix": ".png",
                "split_file": f"{split}.txt", "reduce_zero_label": False, "num_classes": cls.num_classes}

    @classmethod
    def write_example(cls, data_root: str | Path, split: str | None = None, size: tuple[int, int] = (40, 30),
                      seed: int = 0, stems: tuple[str, ...] | None = None) -> Path:
        """Random 4-channel images, labels in 0..8 and the ``<split>.txt`` list. Returns ``data_root``."""
        data_root = Path(data_root)
        spec = cls.example_spec(split)
        rng = np.random.default_rng(seed)
        width, height = size
        for folder in ("images", "labels"):
            (data_root / folder).mkdir(parents=True, exist_ok=True)
        for stem in stems or cls.example_stems:
            Image.fromarray(rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)).save(
                data_root / "images" / f"{stem}.png")
            label = rng.integers(0, cls.num_classes, size=(height, width), dtype=np.uint8)
            Image.fromarray(label).save(data_root / "labels" / f"{stem}.png")
        (data_root / spec["split_file"]).write_text("".join(f"{stem}\n" for stem in stems or cls.example_stems))
        return data_root


@DATASETS.register_module()
class GeneratedRGBTScenes(BenchDataset):
    """RGB–thermal scenes in which fusion has to help, generated in memory (deterministic in ``seed``, no files).

    Class 0 is background; odd classes are cool textured objects (a class colour with a class texture in RGB, the
    background's own temperature and noise in thermal, so thermal shows nothing), even classes are warm objects
    (a class temperature in thermal; in RGB the background's own colour and noise, shifted by ``warm_rgb_offset``
    grey levels, 0 by default: nothing). A fraction ``dark_fraction`` of scenes is dark: RGB near black and only warm
    objects (a cool object in the dark is invisible to both sensors, so drawing it would only add pixels no model
    can segment). RGB-only therefore misses the warm classes, thermal-only the cool ones.

    Args:
        num_images: scenes in the set.
        size: (H, W).
        num_classes: background + foreground classes (at least 3: one cool and one warm).
        seed: all randomness; scene ``i`` uses ``default_rng([seed, i])``.
        dark_fraction: probability that a scene is dark.
        noise: standard deviation of the per-pixel Gaussian noise (grey levels), in both modalities.
        presence: probability that each foreground class appears in a scene (one object each).
        warm_rgb_offset: grey levels added to warm objects' RGB (a faint visible cue; 0: none).
    """

    layout = "generated in memory (no files)"
    obtain = "nothing to download"
    ignore_index = IGNORE_INDEX
    unlabeled_index = 0
    #: cool classes' colours and textures, cycled
    COOL_COLOURS = ((225, 50, 40), (40, 70, 225), (45, 200, 60), (235, 210, 35), (200, 45, 215), (35, 210, 215))
    TEXTURES = ("hstripes", "vstripes", "checker", "diagonal")
    DARK_GAIN = 0.06  # RGB scale of a dark scene: background and warm objects at a few grey levels

    def __init__(self, num_images: int = 8, size: tuple[int, int] = (64, 64), num_classes: int = 5, seed: int = 0,
                 dark_fraction: float = 0.25, noise: float = 8.0, presence: float = 0.75,
                 warm_rgb_offset: float = 0.0) -> None:
        if num_classes < 3:
            raise ValueError(f"GeneratedRGBTScenes needs num_classes >= 3 (background, one cool and one warm class), "
                             f"got {num_classes}")
        if min(size) < 16:
            raise ValueError(f"GeneratedRGBTScenes size must be at least 16 x 16, got {tuple(size)}")
        for name, value in (("dark_fraction", dark_fraction), ("presence", presence)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"GeneratedRGBTScenes {name} must be in [0, 1], got {value}")
        self.num_images, self.size, self.num_classes, self.seed = num_images, (int(size[0]), int(size[1])), \
            num_classes, seed
        self.dark_fraction, self.noise, self.presence = dark_fraction, noise, presence
        self.warm_rgb_offset = warm_rgb_offset
        #: which sensor shows each class: "background", "rgb" (cool, textured) or "thermal" (warm)
        self.cue = ("background",) + tuple("rgb" if c % 2 else "thermal" for c in range(1, num_classes))
        self.rgb_classes = tuple(c for c, cue in enumerate(self.cue) if cue == "rgb")
        self.thermal_classes = tuple(c for c, cue in enumerate(self.cue) if cue == "thermal")
        self.classes = ("background",) + tuple(f"{'cool' if c % 2 else 'warm'}{c}" for c in range(1, num_classes))
        # warm classes' temperatures, evenly spaced well above the background's 50..90
        self.temperatures = dict(zip(self.thermal_classes, np.linspace(150.0, 235.0, len(self.thermal_classes)),
                                     strict=True))

    def __len__(self) -> int:
        return self.num_images

    def is_dark(self, index: int) -> bool:
        """Whether scene ``index`` is dark (its generator's first draw)."""
        return bool(np.random.default_rng([self.seed, index]).random() < self.dark_fraction)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        dark = rng.random() < self.dark_fraction
        height, width = self.size
        background_rgb = rng.uniform(70, 150, size=3)
        background_temperature = rng.uniform(50, 90)
        rgb = np.broadcast_to(background_rgb, (height, width, 3)).copy()
        thermal = np.full((height, width), background_temperature)
        label = np.zeros((height, width), dtype=np.uint8)
        candidates = self.thermal_classes if dark else tuple(range(1, self.num_classes))
        present = [c for c in candidates if rng.random() < self.presence]
        for c in rng.permutation(present).tolist():
            mask = self._object_mask(rng)
            label[mask] = c
            if self.cue[c] == "rgb":
                k = self.rgb_classes.index(c)
                colour = np.asarray(self.COOL_COLOURS[k % len(self.COOL_COLOURS)]) + rng.uniform(-12, 12, size=3)
                shade = self._texture(self.TEXTURES[k % len(self.TEXTURES)])
                rgb[mask] = colour * shade[mask][:, None]
                thermal[mask] = background_temperature
            else:
                rgb[mask] = background_rgb + self.warm_rgb_offset
                thermal[mask] = self.temperatures[c] + rng.uniform(-5, 5)
        rgb = rgb + rng.normal(0, self.noise, size=rgb.shape)
        if dark:
            rgb = rgb * self.DARK_GAIN + rng.normal(0, 1.5, size=rgb.shape)
        thermal = thermal + rng.normal(0, self.noise, size=thermal.shape)
        return {"image": torch.from_numpy(np.rint(rgb).clip(0, 255).astype(np.uint8)).permute(2, 0, 1),
                "thermal": torch.from_numpy(np.rint(thermal).clip(0, 255).astype(np.uint8))[None],
                "gt_seg_map": torch.from_numpy(label), "img_path": f"generated/{index:04d}"}

    def _object_mask(self, rng: np.random.Generator) -> np.ndarray:
        """A rectangle or an ellipse, a sixth to a third of the image on each side, anywhere inside it."""
        height, width = self.size
        h, w = rng.integers(height // 6, height // 3 + 1), rng.integers(width // 6, width // 3 + 1)
        y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        rows, cols = np.ogrid[:height, :width]
        inside = (rows >= y) & (rows < y + h) & (cols >= x) & (cols < x + w)
        if rng.random() < 0.5:
            return inside
        return ((rows - (y + (h - 1) / 2)) / (h / 2)) ** 2 + ((cols - (x + (w - 1) / 2)) / (w / 2)) ** 2 <= 1.0

    def _texture(self, kind: str) -> np.ndarray:
        """Per-pixel brightness factor of a cool class's texture (period 4 px): 1.0 and 0.55 alternating."""
        rows, cols = np.indices(self.size)
        phase = {"hstripes": rows // 2, "vstripes": cols // 2, "checker": rows // 2 + cols // 2,
                 "diagonal": (rows + cols) // 2}[kind]
        return np.where(phase % 2 == 0, 1.0, 0.55)

    def sample_id(self, index: int) -> str:
        return f"rgbt-scene-{self.seed}-{index:04d}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "size": list(self.size), "num_classes": self.num_classes, "seed": self.seed,
                "dark_fraction": self.dark_fraction, "noise": self.noise, "presence": self.presence,
                "warm_rgb_offset": self.warm_rgb_offset, "cue": list(self.cue)}
