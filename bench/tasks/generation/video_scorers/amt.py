"""AMT-S (Li et al., CVPR 2023, "AMT: All-Pairs Multi-Field Transforms for Efficient Frame Interpolation"), the frame
interpolator of VBench's motion smoothness, written for ``amt-s.pth`` (VBench's ``third_party/amt`` network
``networks.AMT-S.Model`` with ``corr_radius=3, corr_lvls=4, num_flows=3``; module names follow that checkpoint).

The pieces: a RAFT-style small feature encoder (instance norm) whose features give a bidirectional all-pairs
correlation pyramid; an IFRNet-style image pyramid encoder; decoders from 1/16 to 1/2 resolution that predict the two
flows to the middle frame and an intermediate feature, each refined by a correlation lookup (``SmallUpdateBlock``);
a last decoder that predicts ``num_flows`` flow pairs with blend masks and residuals, combined into the middle frame.
:func:`interpolate_middle` runs it as VBench's ``MotionSmoothness.motion_score`` does (replicate padding to a multiple
of 16 / scale, ``embt = 1/2``, clamp to [0, 1], unpad).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp of ``image`` by ``flow`` (pixels), bilinear, border padding, on an align-corners grid."""
    b, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(b, -1, h, -1)
    ys = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(b, -1, -1, w)
    grid = torch.cat([xs, ys], 1).to(image)
    scaled = torch.cat([flow[:, :1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    return F.grid_sample(image, (grid + scaled).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def conv_prelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, bias=True), nn.PReLU(cout))


class Bottleneck(nn.Module):
    """RAFT's bottleneck residual block with instance norm (no affine parameters)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout // 4, 1, padding=0)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.norm1, self.norm2, self.norm3 = (nn.InstanceNorm2d(cout // 4), nn.InstanceNorm2d(cout // 4),
                                              nn.InstanceNorm2d(cout))
        self.downsample = None if stride == 1 else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride),
                                                                 nn.InstanceNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        y = self.relu(self.norm3(self.conv3(y)))
        return self.relu((x if self.downsample is None else self.downsample(x)) + y)


class SmallEncoder(nn.Module):
    """Features at 1/8 resolution for the correlation volume (both frames in one batch)."""

    def __init__(self, output_dim: int = 84) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.norm1 = nn.InstanceNorm2d(32)
        self.relu1 = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(32, 32), Bottleneck(32, 32))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, stride=2), Bottleneck(64, 64))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, stride=2), Bottleneck(96, 96))
        self.conv2 = nn.Conv2d(96, output_dim, 1)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.relu1(self.norm1(self.conv1(torch.cat([x0, x1]))))
        x = self.conv2(self.layer3(self.layer2(self.layer1(x))))
        return x[:len(x0)], x[len(x0):]


class ResBlock(nn.Module):
    """IFRNet's residual block: the last ``side`` channels get their own convolutions between the full ones."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = conv_prelu(channels, channels)
        self.conv2 = conv_prelu(side, side)
        self.conv3 = conv_prelu(channels, channels)
        self.conv4 = conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.conv3(torch.cat([out[:, :-self.side], self.conv2(out[:, -self.side:])], 1))
        out = self.conv5(torch.cat([out[:, :-self.side], self.conv4(out[:, -self.side:])], 1))
        return self.prelu(x + out)


class Encoder(nn.Module):
    """Image pyramid: four stride-2 stages (``pyramid1`` ... ``pyramid4``)."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.depth = len(channels)
        previous = 3
        for i, ch in enumerate(channels, 1):
            self.add_module(f"pyramid{i}", nn.Sequential(conv_prelu(previous, ch, 3, 2, 1), conv_prelu(ch, ch)))
            previous = ch

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i in range(1, self.depth + 1):
            x = getattr(self, f"pyramid{i}")(x)
            features.append(x)
        return features


def _decoder_block(cin: int, cmid: int, cout: int, skip: int) -> nn.Sequential:
    return nn.Sequential(conv_prelu(cin, cmid), ResBlock(cmid, skip), nn.ConvTranspose2d(cmid, cout, 4, 2, 1))


class InitDecoder(nn.Module):
    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(2 * cin + 1, 2 * cin, cout + 4, skip)

    def forward(self, f0: torch.Tensor, f1: torch.Tensor, embt: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t = embt.repeat(1, 1, *f0.shape[2:])
        out = self.convblock(torch.cat([f0, f1, t], 1))
        return out[:, 0:2], out[:, 2:4], out[:, 4:]


class IntermediateDecoder(nn.Module):
    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(3 * cin + 4, 3 * cin, cout + 4, skip)

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor,
                flow1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        return (out[:, 0:2] + 2.0 * resize(flow0, 2.0), out[:, 2:4] + 2.0 * resize(flow1, 2.0), out[:, 4:])


class MultiFlowDecoder(nn.Module):
    def __init__(self, cin: int, skip: int, num_flows: int) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = _decoder_block(3 * cin + 4, 3 * cin, 8 * num_flows, skip)

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor,
                flow1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = self.num_flows
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        d0, d1, mask, residual = torch.split(out, [2 * n, 2 * n, n, 3 * n], 1)
        flow0 = d0 + 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1)
        flow1 = d1 + 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), residual


class UpdateBlock(nn.Module):
    """A correlation-and-flow conditioned residual update of the intermediate feature and the two flows."""

    def __init__(self, cdim: int, scale_factor: float | None, levels: int, radius: int, hidden: int = 76,
                 flow_dim: int = 20, corr_dim: int = 64, fc_dim: int = 68) -> None:
        super().__init__()
        planes = levels * (2 * radius + 1) ** 2
        self.scale_factor = scale_factor
        self.convc1 = nn.Conv2d(2 * planes, corr_dim, 1, padding=0)
        self.convf1 = nn.Conv2d(4, 2 * flow_dim, 7, padding=3)
        self.convf2 = nn.Conv2d(2 * flow_dim, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)

        def pair(cout: int, cin: int = hidden) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                 nn.Conv2d(hidden, cout, 3, padding=1))

        self.gru = pair(hidden, fc_dim + 4 + cdim)
        self.feat_head = pair(cdim)
        self.flow_head = pair(4)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, net: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale_factor is not None:
            net = resize(net, 1 / self.scale_factor)
        motion = torch.cat([self.lrelu(self.convc1(corr)), self.lrelu(self.convf2(self.lrelu(self.convf1(flow))))], 1)
        out = self.gru(torch.cat([self.lrelu(self.conv(motion)), flow, net], 1))
        delta_net, delta_flow = self.feat_head(out), self.flow_head(out)
        if self.scale_factor is not None:
            delta_net = resize(delta_net, self.scale_factor)
            delta_flow = self.scale_factor * resize(delta_flow, self.scale_factor)
        return delta_net, delta_flow


def _sample(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of ``volume`` [N, 1, H, W] at pixel ``coords`` [N, h, w, 2] (x, y), zero outside."""
    h, w = volume.shape[-2:]
    x, y = coords.split([1, 1], dim=-1)
    grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    return F.grid_sample(volume, grid, align_corners=True)


class BidirectionalCorrelation:
    """All-pairs correlation of two feature maps / sqrt(dim), both ways, pooled into ``levels`` levels, looked up in a
    (2r+1)² window around given coordinates."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int) -> None:
        self.levels, self.radius = levels, radius
        b, dim, h, w = fmap0.shape
        corr = torch.matmul(fmap0.view(b, dim, h * w).transpose(1, 2), fmap1.view(b, dim, h * w))
        corr = corr.view(b, h, w, 1, h, w) / torch.sqrt(torch.tensor(dim).float())
        forward = corr.reshape(b * h * w, 1, h, w)
        backward = corr.permute(0, 4, 5, 3, 1, 2).reshape(b * h * w, 1, h, w)
        self.pyramid, self.pyramid_t = [forward], [backward]
        for _ in range(levels - 1):
            self.pyramid.append(F.avg_pool2d(self.pyramid[-1], 2, stride=2))
            self.pyramid_t.append(F.avg_pool2d(self.pyramid_t[-1], 2, stride=2))

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.radius
        c0, c1 = coords0.permute(0, 2, 3, 1), coords1.permute(0, 2, 3, 1)
        b, h, w, _ = c0.shape
        offsets = torch.linspace(-r, r, 2 * r + 1, device=c0.device)
        delta = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)
        outs, outs_t = [], []
        for i in range(self.levels):
            outs.append(_sample(self.pyramid[i], c0.reshape(b * h * w, 1, 1, 2) / 2 ** i + delta).view(b, h, w, -1))
            outs_t.append(_sample(self.pyramid_t[i], c1.reshape(b * h * w, 1, 1, 2) / 2 ** i + delta).view(b, h, w, -1))
        return (torch.cat(outs, -1).permute(0, 3, 1, 2).contiguous().float(),
                torch.cat(outs_t, -1).permute(0, 3, 1, 2).contiguous().float())


def coords_grid(b: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=0).float()[None].repeat(b, 1, 1, 1)


class AMTS(nn.Module):
    """AMT-S: ``forward(img0, img1, embt, scale_factor)`` -> the frame at time ``embt`` in [0, 1] (images [B, 3, H,
    W] in [0, 1], H and W multiples of 16)."""

    def __init__(self, corr_radius: int = 3, corr_lvls: int = 4, num_flows: int = 3,
                 channels: tuple[int, ...] = (20, 32, 44, 56), skip_channels: int = 20) -> None:
        super().__init__()
        self.radius, self.levels, self.num_flows = corr_radius, corr_lvls, num_flows
        c = list(channels)
        self.feat_encoder = SmallEncoder(output_dim=84)
        self.encoder = Encoder(c)
        self.decoder4 = InitDecoder(c[3], c[2], skip_channels)
        self.decoder3 = IntermediateDecoder(c[2], c[1], skip_channels)
        self.decoder2 = IntermediateDecoder(c[1], c[0], skip_channels)
        self.decoder1 = MultiFlowDecoder(c[0], skip_channels, num_flows)
        self.update4 = UpdateBlock(44, None, corr_lvls, corr_radius)
        self.update3 = UpdateBlock(32, 2, corr_lvls, corr_radius)
        self.update2 = UpdateBlock(20, 4, corr_lvls, corr_radius)
        self.comb_block = nn.Sequential(nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1), nn.PReLU(6 * num_flows),
                                        nn.Conv2d(6 * num_flows, 3, 3, 1, 1))

    @staticmethod
    def _lookup(corr: BidirectionalCorrelation, coord: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
                embt: torch.Tensor, downsample: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Correlations at the flows scaled from t to the other frame (linear motion), and the flows themselves."""
        if downsample != 1:
            flow0 = resize(flow0, 1 / downsample) / downsample
            flow1 = resize(flow1, 1 / downsample) / downsample
        corr0, corr1 = corr(coord + flow1 * (1.0 / embt), coord + flow0 * (1.0 / (1.0 - embt)))
        return torch.cat([corr0, corr1], 1), torch.cat([flow0, flow1], 1)

    def _refine(self, update: UpdateBlock, corr: BidirectionalCorrelation, coord: torch.Tensor, flow0: torch.Tensor,
                flow1: torch.Tensor, ft: torch.Tensor, embt: torch.Tensor,
                downsample: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lookup, flow = self._lookup(corr, coord, flow0, flow1, embt, downsample)
        delta_ft, delta_flow = update(ft, flow, lookup)
        d0, d1 = torch.chunk(delta_flow, 2, 1)
        return flow0 + d0, flow1 + d1, ft + delta_ft

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, embt: torch.Tensor,
                scale_factor: float = 1.0) -> torch.Tensor:
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        x0 = resize(img0, scale_factor) if scale_factor != 1.0 else img0
        x1 = resize(img1, scale_factor) if scale_factor != 1.0 else img1
        b, _, h, w = x0.shape
        coord = coords_grid(b, h // 8, w // 8, img0.device)
        fmap0, fmap1 = self.feat_encoder(x0, x1)
        corr = BidirectionalCorrelation(fmap0, fmap1, self.levels, self.radius)
        f0, f1 = self.encoder(x0), self.encoder(x1)

        flow0, flow1, ft = self.decoder4(f0[3], f1[3], embt)
        flow0, flow1, ft = self._refine(self.update4, corr, coord, flow0, flow1, ft, embt, 1)
        flow0, flow1, ft = self.decoder3(ft, f0[2], f1[2], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update3, corr, coord, flow0, flow1, ft, embt, 2)
        flow0, flow1, ft = self.decoder2(ft, f0[1], f1[1], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update2, corr, coord, flow0, flow1, ft, embt, 4)
        flow0, flow1, mask, residual = self.decoder1(ft, f0[0], f1[0], flow0, flow1)
        if scale_factor != 1.0:
            flow0 = resize(flow0, 1.0 / scale_factor) / scale_factor
            flow1 = resize(flow1, 1.0 / scale_factor) / scale_factor
            mask, residual = resize(mask, 1.0 / scale_factor), resize(residual, 1.0 / scale_factor)
        return torch.clamp(self._combine(img0, img1, flow0, flow1, mask, residual, mean), 0, 1)

    def _combine(self, img0: torch.Tensor, img1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
                 mask: torch.Tensor, residual: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Warp both frames by each of the ``num_flows`` flow pairs, blend by the masks, add the residual and the
        mean; average the candidates and add the combination block's correction."""
        b, c, h, w = flow0.shape
        n = c // 2
        warped = (mask.reshape(-1, 1, h, w) * warp(img0.repeat_interleave(n, 0), flow0.reshape(-1, 2, h, w))
                  + (1 - mask.reshape(-1, 1, h, w)) * warp(img1.repeat_interleave(n, 0), flow1.reshape(-1, 2, h, w))
                  + mean.repeat_interleave(n, 0).reshape(-1, 1, 1, 1) + residual.reshape(-1, 3, h, w))
        warped = warped.reshape(b, n, 3, h, w)
        return warped.mean(1) + self.comb_block(warped.view(b, -1, h, w))


def vbench_scale(height: int, width: int, device: torch.device) -> float:
    """VBench's inference scale for a frame size (``MotionSmoothness.initialization`` / ``motion_score``): 1 on the
    CPU; on CUDA from the GPU's memory, ``1 / floor(16 / sqrt(s)) * 16`` with s capped at 1."""
    if device.type != "cuda":
        anchor_resolution, anchor_memory, bias, available = 8192 * 8192, 1.0, 0.0, 1.0
    else:
        anchor_resolution, anchor_memory, bias = 1024 * 512, 1500 * 1024 ** 2, 2500 * 1024 ** 2
        available = float(torch.cuda.get_device_properties(device).total_memory)
    scale = anchor_resolution / (height * width) * math.sqrt((available - bias) / anchor_memory)
    scale = min(scale, 1.0)
    return 1 / math.floor(1 / math.sqrt(scale) * 16) * 16


def pad_amounts(height: int, width: int, divisor: int) -> list[int]:
    """AMT's ``InputPadder``: [left, right, top, bottom] replicate padding to multiples of ``divisor``."""
    pad_h = (((height // divisor) + 1) * divisor - height) % divisor
    pad_w = (((width // divisor) + 1) * divisor - width) % divisor
    return [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]


def interpolate_middle(model: AMTS, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """The middle of two uint8 frames [H, W, 3] as VBench predicts it: ``img2tensor`` (/255), replicate padding to a
    multiple of ``16 / scale``, ``embt = 1/2``, the model, unpad, ``tensor2img`` (x 255, clip, truncate to uint8)."""
    device = next(model.parameters()).device
    x0 = frame0.permute(2, 0, 1)[None].float().div(255.0).to(device)
    x1 = frame1.permute(2, 0, 1)[None].float().div(255.0).to(device)
    h, w = x0.shape[-2:]
    scale = vbench_scale(h, w, device)
    pad = pad_amounts(h, w, int(16 / scale))
    x0, x1 = F.pad(x0, pad, mode="replicate"), F.pad(x1, pad, mode="replicate")
    embt = torch.tensor(0.5, dtype=torch.float32, device=device).view(1, 1, 1, 1)
    with torch.no_grad():
        out = model(x0, x1, embt, scale_factor=scale)
    if not bool(torch.isfinite(out).all()):  # VBench would cast the NaNs to uint8 silently
        raise ValueError(f"AMT-S gave non-finite pixels for {h} x {w} frames: its 4-level correlation pyramid at 1/8 "
                         "resolution needs frames of at least 128 px per side (padded to a multiple of 16)")
    out = out[..., pad[2]:out.shape[-2] - pad[3], pad[0]:out.shape[-1] - pad[1]]
    return (out[0].permute(1, 2, 0) * 255.0).clamp(0, 255).to(torch.uint8).cpu()
