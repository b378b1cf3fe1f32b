"""LoRA dropout vs peft's: eval mode (no dropout) and train mode given the same mask,
with the mask where peft puts it (the adapter's input only)."""

import jax
import jax.numpy as jnp
import numpy as np
import peft
import pytest
import torch
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.lora import LoRALinear, dropout_scale, lora_layers, with_dropout
from tests import reference

B, T, IN, OUT, RANK, ALPHA, RATE = 3, 5, 16, 12, 4, 8.0, 0.3


class _Holder(torch.nn.Module):
  def __init__(self):
    super().__init__()
    self.proj = torch.nn.Linear(IN, OUT)


class _FixedMask(torch.nn.Module):
  """Stands in for peft's ``nn.Dropout``: multiplies by our drawn 1/(1-p)-or-0 factor."""

  def __init__(self, scale: np.ndarray):
    super().__init__()
    self.scale = torch.from_numpy(scale.copy())

  def forward(self, x):
    return x * self.scale


@pytest.fixture(scope='module')
def pair():
  """(peft-adapted torch Linear, our LoRALinear with the same weights)."""
  torch.manual_seed(0)
  holder = peft.inject_adapter_in_model(
      peft.LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=RATE, target_modules=['proj']),
      _Holder())
  with torch.no_grad():
    holder.proj.lora_B['default'].weight.normal_()  # B starts at zero: make it count
  base = layers.linear(IN, OUT, (None, None), use_bias=True, rngs=nnx.Rngs(0))
  ours = LoRALinear(base, RANK, ALPHA, rngs=nnx.Rngs(1))
  state = {k: v.detach().numpy() for k, v in holder.state_dict().items()}
  ours.kernel.set_value(jnp.asarray(state['proj.base_layer.weight'].T))
  ours.bias.set_value(jnp.asarray(state['proj.base_layer.bias']))
  ours.lora_a.set_value(jnp.asarray(state['proj.lora_A.default.weight'].T))
  ours.lora_b.set_value(jnp.asarray(state['proj.lora_B.default.weight'].T))
  return holder, ours


def _x(seed=0) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(B, T, IN)).astype(np.float32)


def test_eval_mode_equals_peft_eval(pair):
  holder, ours = pair
  holder.eval()
  with torch.no_grad():
    expected = holder.proj(torch.from_numpy(_x())).numpy()
  assert ours.dropout_keys is None  # nothing switched dropout on
  assert reference.max_rel_err(ours(jnp.asarray(_x())), expected) <= 1e-6


def test_train_mode_equals_peft_train_with_the_same_mask(pair):
  holder, ours = pair
  row_keys = jax.random.split(jax.random.key(7), B)
  with_dropout(ours, RATE, row_keys)
  try:
    got = np.asarray(ours(jnp.asarray(_x())))
  finally:
    ours.dropout_keys, ours.dropout_rate = None, 0.0
  # The factor adapter 0 drew: fold_in(row key, 0) per row, as with_dropout documents.
  scale = np.asarray(dropout_scale(jax.vmap(jax.random.fold_in, (0, None))(row_keys, 0),
                                   RATE, (T, IN)))
  assert set(np.unique(scale)) == {0.0, np.float32(1 / (1 - RATE))}
  holder.train()
  dropout = holder.proj.lora_dropout['default']
  holder.proj.lora_dropout['default'] = _FixedMask(scale)
  try:
    with torch.no_grad():
      x = torch.from_numpy(_x())
      expected = holder.proj(x).numpy()
      p = holder.proj
      mask = torch.from_numpy((scale > 0).astype(np.float32))
      manual = (p.base_layer(x) + p.lora_B['default'](p.lora_A['default'](mask * x / (1 - RATE)))
                * p.scaling['default']).numpy()
  finally:
    holder.proj.lora_dropout['default'] = dropout
  holder.eval()
  with torch.no_grad():
    without = holder.proj(x).numpy()
  assert reference.max_rel_err(got, expected) <= 1e-6
  assert reference.max_rel_err(got, manual) <= 1e-6
  assert reference.max_rel_err(got, without) > 1e-3  # the mask changed the output


def test_the_mask_keeps_one_minus_the_rate():
  keys = jax.random.split(jax.random.key(0), 64)
  scale = np.asarray(dropout_scale(keys, RATE, (100, 50)))
  kept = float(np.mean(scale > 0))
  # 320,000 draws: the standard error of the kept fraction is below 0.001.
  assert abs(kept - (1 - RATE)) < 0.005
  assert np.allclose(scale[scale > 0], 1 / (1 - RATE))


def test_adapters_draw_different_masks_and_rows_their_own(pair):
  _, ours = pair
  model = nnx.List([ours, LoRALinear(layers.linear(IN, OUT, (None, None), rngs=nnx.Rngs(2)),
                                     RANK, ALPHA, rngs=nnx.Rngs(3))])
  keys = jax.random.split(jax.random.key(1), B)
  with_dropout(model, RATE, keys)
  try:
    first, second = (layer.dropout_keys[...] for layer in lora_layers(model))
    a, b = (np.asarray(dropout_scale(k, RATE, (T, IN))) for k in (first, second))
    assert not np.array_equal(a, b)
    # A row's mask depends on its own key only, not on the rows beside it.
    np.testing.assert_array_equal(np.asarray(dropout_scale(first[1:2], RATE, (T, IN))), a[1:2])
  finally:
    for layer in lora_layers(model):
      layer.dropout_keys, layer.dropout_rate = None, 0.0


def test_a_rate_outside_zero_to_one_is_an_error(pair):
  with pytest.raises(ValueError, match=r'LoRA dropout rate 1.0 is not in \[0, 1\)'):
    with_dropout(pair[1], 1.0, jax.random.split(jax.random.key(0), B))
