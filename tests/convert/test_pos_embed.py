"""The position-embedding resize against torch F.interpolate(bicubic, align_corners=False)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minigpt4_jax.convert.pos_embed import resize_pos_embed
from tests.reference import max_rel_err


def torch_interpolate_pos_embed(pos: np.ndarray, grid_out: int) -> np.ndarray:
  """EVA's interpolate_pos_embed (eva_vit.py:373-394), in torch."""
  t = torch.from_numpy(pos)
  extra, grid = t[:, :1], t[:, 1:]
  g = int(grid.shape[1] ** 0.5)
  grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
  grid = F.interpolate(grid, size=(grid_out, grid_out), mode='bicubic', align_corners=False)
  grid = grid.permute(0, 2, 3, 1).flatten(1, 2)
  return torch.cat([extra, grid], dim=1).numpy()


@pytest.mark.parametrize('grid_in, grid_out', [(16, 32), (16, 24), (7, 16), (32, 16)])
def test_resize_matches_torch_bicubic(grid_in, grid_out):
  pos = np.random.default_rng(0).normal(size=(1, 1 + grid_in * grid_in, 40)).astype(np.float32)
  ours = resize_pos_embed(pos, grid_out)
  ref = torch_interpolate_pos_embed(pos, grid_out)
  assert ours.shape == ref.shape == (1, 1 + grid_out * grid_out, 40)
  assert ours.dtype == np.float32
  np.testing.assert_array_equal(ours[:, 0], pos[:, 0])  # CLS kept first, untouched
  assert max_rel_err(ours, ref) <= 1e-6


def test_jax_cubic_is_not_torchs():
  """Why the resize is written out: jax.image.resize (Keys a=-0.5) differs from torch."""
  pos = np.random.default_rng(1).normal(size=(1, 1 + 16 * 16, 8)).astype(np.float32)
  grid = jnp.asarray(pos[0, 1:].reshape(16, 16, 8))
  jax_grid = np.asarray(jax.image.resize(grid, (32, 32, 8), 'cubic')).reshape(1, -1, 8)
  ref = torch_interpolate_pos_embed(pos, 32)[:, 1:]
  assert max_rel_err(jax_grid, ref) > 1e-3


def test_same_grid_is_a_no_op_and_non_square_is_refused():
  pos = np.zeros((1, 1 + 16 * 16, 4), np.float32)
  assert resize_pos_embed(pos, 16) is pos
  with pytest.raises(ValueError, match='250 patch positions: not a square grid'):
    resize_pos_embed(np.zeros((1, 251, 4), np.float32), 32)
