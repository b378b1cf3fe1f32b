"""Resizing a ViT's position embeddings to another patch grid, as EVA does at load.

EVA's ``interpolate_pos_embed`` (Vision-CAIR/MiniGPT-4 d94738a
``minigpt4/models/eva_vit.py:373-394``) keeps the CLS position first and resizes the
square grid of patch positions with ``F.interpolate(mode='bicubic',
align_corners=False)``. MiniGPT-v2 runs BLIP-2's 224-px ``eva_vit_g.pth`` (16x16) at
448 px (32x32) this way. ``jax.image.resize``'s cubic kernel is Keys' a = -0.5;
torch's is a = -0.75 with edge-clamped taps, so the torch kernel is written out here
as a [out, in] matrix per axis.
"""

from __future__ import annotations

import math

import numpy as np

TORCH_CUBIC_A = -0.75  # aten/src/ATen/native/UpSample.h: upsample_bicubic2d's A


def _cubic_weights(t: np.ndarray, a: float = TORCH_CUBIC_A) -> np.ndarray:
  """The 4 tap weights float[..., 4] at fractional offset ``t`` (taps -1, 0, 1, 2)."""
  def near(x):  # |x| <= 1
    return ((a + 2) * x - (a + 3)) * x * x + 1

  def far(x):  # 1 < |x| < 2
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

  return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
  """float64[size_out, size_in]: torch's bicubic (align_corners=False) resize along one axis.

  Source coordinate (i + 0.5) * in / out - 0.5 (not clamped at 0 for bicubic), taps
  at floor - 1 .. floor + 2, indices outside the input clamped to its edge.
  """
  scale = size_in / size_out
  src = (np.arange(size_out) + 0.5) * scale - 0.5
  floor = np.floor(src)
  weights = _cubic_weights(src - floor)
  out = np.zeros((size_out, size_in))
  for tap in range(4):
    index = np.clip(floor.astype(int) - 1 + tap, 0, size_in - 1)
    np.add.at(out, (np.arange(size_out), index), weights[:, tap])
  return out


def resize_pos_embed(pos_embed: np.ndarray, grid_out: int, extra_tokens: int = 1) -> np.ndarray:
  """float[1, extra + g*g, C] -> float[1, extra + grid_out**2, C] in the input's dtype.

  The first ``extra_tokens`` (CLS) are kept as they are; the g x g grid (row-major,
  as the ViT flattens its patches) is resized bicubically in float64.
  """
  extra, grid = pos_embed[:, :extra_tokens], pos_embed[:, extra_tokens:]
  g = math.isqrt(grid.shape[1])
  if g * g != grid.shape[1]:
    raise ValueError(f'pos_embed has {grid.shape[1]} patch positions: not a square grid')
  if g == grid_out:
    return pos_embed
  m = bicubic_matrix(g, grid_out)
  grid_hwc = grid[0].reshape(g, g, -1).astype(np.float64)
  resized = np.einsum('Hh,hwC,Ww->HWC', m, grid_hwc, m).reshape(1, grid_out * grid_out, -1)
  return np.concatenate([extra, resized.astype(pos_embed.dtype)], axis=1)
