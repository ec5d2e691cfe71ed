"""The demo's stand-in for the multimodal model: a small convolutional net that reads a whole g x g collage of digits
and names every tile (and a single image, g = 1), trained on CPU in seconds.

Its convolutions see across tile borders, so a tile's answer can depend on its neighbours and on its position (zero
padding at the collage's edge), the two effects the paper reports for GPT-4V. It is served through the
``collage_reader`` recognizer, which answers in the prompt's indexed format and is priced by the token scheme as if
it were an API, and through the HTTP stand-in server of the tests.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.collage_prompting.recognizers import Recognition, Recognizer, UsdBudget, indexed_or_single

NATIVE_TILE = 8  # the reader looks at every tile at 8 x 8 px (the digits' own size)


class CollageReaderNet(nn.Module):
    """Grey collage [B, 1, g*8, g*8] -> per-tile logits [B, g*g, classes] (row-major positions)."""

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.num_classes, self.width = int(num_classes), int(width)
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),  # 8-px tiles -> 4 x 4 cells
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def tile_features(self, collage: torch.Tensor, grid: int) -> torch.Tensor:
        """[B, g*g, width]: the trunk's map averaged over each tile."""
        pooled = F.adaptive_avg_pool2d(self.trunk(collage), grid)
        return pooled.flatten(2).transpose(1, 2)

    def forward(self, collage: torch.Tensor, grid: int) -> torch.Tensor:
        return self.head(self.tile_features(collage, grid))


def grey_collages(images: torch.Tensor, arrangements: torch.Tensor, grid: int) -> torch.Tensor:
    """Collages [B, 1, g*8, g*8] from grey tiles ``images`` [B, n, 8, 8] under ``arrangements`` [B, n]."""
    placed = torch.gather(images, 1, arrangements[:, :, None, None].expand(-1, -1, *images.shape[-2:]))
    batch, _, size, _ = placed.shape
    rows = placed.reshape(batch, grid, grid, size, size).permute(0, 1, 3, 2, 4)
    return rows.reshape(batch, 1, grid * size, grid * size)


def random_groups(count: int, n: int, pool: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` groups of ``n`` distinct indices into ``pool`` items."""
    return torch.stack([torch.randperm(pool, generator=generator)[:n] for _ in range(count)])


def train_reader(images: torch.Tensor, targets: torch.Tensor, grids: Sequence[int], steps: int, batch_size: int,
                 seed: int, width: int = 32, lr: float = 3e-3) -> CollageReaderNet:
    """Train on random collages of ``images`` ([N, 8, 8] grey in [0, 1]) at each grid size in turn (1 = one image):
    cross-entropy of every tile, Adam."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = CollageReaderNet(int(targets.max()) + 1, width)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        grid = int(grids[step % len(grids)])
        n = grid * grid
        groups = random_groups(batch_size, n, len(images), generator)
        arrangements = torch.stack([torch.randperm(n, generator=generator) for _ in range(batch_size)])
        collage = grey_collages(images[groups], arrangements, grid)
        logits = model(collage, grid)
        tile_targets = torch.gather(targets[groups], 1, arrangements)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tile_targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def tile_correctness(model: CollageReaderNet, images: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor,
                     arrangements: torch.Tensor, grid: int) -> torch.Tensor:
    """Per-image correctness [B, n] (image order) of the reader on the collages ``groups`` [B, n] (indices into
    ``images``) under ``arrangements`` [B, n]."""
    logits = model(grey_collages(images[groups], arrangements, grid), grid)
    per_position = logits.argmax(-1) == torch.gather(targets[groups], 1, arrangements)
    correct = torch.empty_like(per_position)
    correct.scatter_(1, arrangements, per_position)
    return correct.float()


@torch.no_grad()
def embed(model: CollageReaderNet, images: torch.Tensor) -> torch.Tensor:
    """A tiny per-image embedding [N, width]: the reader's trunk on each image alone (the predictor's node features,
    standing in for the paper's 512-d image features)."""
    return model.tile_features(images[:, None], 1)[:, 0]


def to_grey_native(image: np.ndarray, grid: int | None) -> torch.Tensor:
    """An RGB uint8 collage [H, W, 3] as the reader's grey input [1, 1, g*8, g*8] (area-resampled)."""
    tensor = torch.from_numpy(np.array(image, dtype=np.float32)).mean(-1)[None, None] / 255.0
    side = (grid or 1) * NATIVE_TILE
    if tensor.shape[-2:] != (side, side):
        tensor = F.interpolate(tensor, size=(side, side), mode="area")
    return tensor


def save_reader(model: CollageReaderNet) -> dict[str, Any]:
    return {"num_classes": model.num_classes, "width": model.width, "state_dict": model.state_dict()}


def load_reader(entry: dict[str, Any]) -> CollageReaderNet:
    model = CollageReaderNet(int(entry["num_classes"]), int(entry["width"]))
    model.load_state_dict(entry["state_dict"])
    return model.eval()


class CollageReaderRecognizer(Recognizer):
    """The demo reader as a recognizer: answers in the indexed format, priced by the token scheme (``pricing``,
    ``detail``) as the API it stands in for. ``checkpoint``: a file with a ``reader`` entry (what
    ``CollagePrompting.fit`` writes); the adapter hands its trained reader over with :meth:`use_model`."""

    backend = "collage_reader"

    def __init__(self, checkpoint: str | Path | None = None, detail: str = "high",
                 pricing: dict[str, float] | None = None) -> None:
        super().__init__(detail, pricing)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.model: CollageReaderNet | None = None

    def use_model(self, model: CollageReaderNet) -> None:
        self.model = model.eval()

    def setup(self, device: torch.device) -> None:
        if self.model is None:
            if self.checkpoint is None:
                raise ValueError("recognizer collage_reader needs a checkpoint (the demo's train stage writes it)")
            from bench.checkpoint import CheckpointError

            path = Path(self.checkpoint)
            if not path.is_file():
                raise CheckpointError(f"collage reader checkpoint {path} does not exist; run the config's train stage")
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(entry, dict) or "reader" not in entry:
                raise CheckpointError(f"{path} holds no 'reader' entry: not a CollagePrompting demo checkpoint")
            self.model = load_reader(entry["reader"])

    def names(self, image: np.ndarray, grid: int | None, categories: Sequence[str]) -> list[str]:
        """The category the reader gives each tile (grid order)."""
        if self.model is None:
            self.setup(torch.device("cpu"))
        assert self.model is not None
        if len(categories) != self.model.num_classes:
            raise ValueError(f"the collage reader knows {self.model.num_classes} classes but the collage has "
                             f"{len(categories)} categories")
        with torch.inference_mode():
            logits = self.model(to_grey_native(image, grid), grid or 1)[0]
        return [str(categories[int(i)]) for i in logits.argmax(-1).tolist()]

    def recognize(self, image: np.ndarray, prompt: str, grid: int | None, categories: Sequence[str],
                  budget: UsdBudget | None = None) -> Recognition:
        text = indexed_or_single(self.names(image, grid, categories), grid)
        return Recognition(text, self._priced(image, prompt, text))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Node features of the predictor for images [n, C, H, W] in [0, 1] (grey-averaged, area-resized to 8 x 8)."""
        assert self.model is not None, "setup() was not called"
        grey = images.float().mean(1, keepdim=True)
        if grey.shape[-2:] != (NATIVE_TILE, NATIVE_TILE):
            grey = F.interpolate(grey, size=(NATIVE_TILE, NATIVE_TILE), mode="area")
        return embed(self.model, grey[:, 0])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": "demo collage reader (CNN over the whole collage)",
                "checkpoint": self.checkpoint}
