"""The attention kernel choice (models/attention_kernels.py), and the Pallas splash kernel
(run by Pallas' interpreter on CPU) against XLA's jax.nn.dot_product_attention: causal
self-attention with left and right padding, grouped-query heads, gradients, on a mesh,
and a tiny LLM block end to end."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from minigpt4_jax import sharding
from minigpt4_jax.models import attention_kernels
from minigpt4_jax.models.configs import tiny_llm
from minigpt4_jax.models.llama import Llama

TOL = 1e-5
BF16, F32 = jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float32)


@pytest.mark.parametrize('requested, backend, dtype, t, s, h, masked, causal, expected', [
    # CPU: XLA always, whatever the shapes (the parity tests' numbers).
    ('auto', 'cpu', F32, 2048, 2048, 128, True, True, 'xla'),
    ('auto', 'cpu', BF16, 2048, 2048, 128, True, True, 'xla'),
    # GPU: cuDNN where it takes the inputs.
    ('auto', 'gpu', BF16, 2048, 2048, 128, True, True, 'cudnn'),
    ('auto', 'gpu', jnp.dtype(jnp.float16), 577, 577, 64, False, False, 'cudnn'),  # CLIP, no mask
    ('auto', 'gpu', F32, 2048, 2048, 128, True, True, 'xla'),      # f32: not cuDNN's
    ('auto', 'gpu', BF16, 257, 257, 88, False, False, 'cudnn'),    # EVA's head dim 88 = 8 x 11
    ('auto', 'gpu', BF16, 32, 257, 100, False, False, 'xla'),      # head dim not a multiple of 8
    ('auto', 'gpu', BF16, 2048, 2048, 256, True, True, 'xla'),     # above 128
    ('auto', 'gpu', BF16, 65, 65, 128, True, True, 'xla'),         # masked, odd length
    ('auto', 'gpu', BF16, 1, 1024, 128, True, False, 'xla'),       # decode against a cache
    # TPU: splash for long causal self-attention, XLA otherwise.
    ('auto', 'tpu', BF16, 2048, 2048, 128, True, True, 'splash'),
    ('auto', 'tpu', F32, 512, 512, 128, True, True, 'splash'),
    ('auto', 'tpu', BF16, 256, 256, 128, True, True, 'xla'),       # short: logits are small
    ('auto', 'tpu', BF16, 2000, 2000, 128, True, True, 'xla'),     # no tile divides 2000
    ('auto', 'tpu', BF16, 2048, 2048, 128, True, False, 'xla'),    # not causal self-attention
    ('auto', 'tpu', BF16, 1, 1024, 128, True, False, 'xla'),       # decode
    ('auto', 'tpu', BF16, 577, 577, 64, False, False, 'xla'),      # a ViT
    # Forced.
    ('xla', 'gpu', BF16, 2048, 2048, 128, True, True, 'xla'),
    ('splash', 'cpu', F32, 128, 128, 16, True, True, 'splash'),    # interpreted (tests)
    ('cudnn', 'gpu', BF16, 64, 64, 64, True, True, 'cudnn'),
])
def test_choose(requested, backend, dtype, t, s, h, masked, causal, expected):
  assert attention_kernels.choose(requested, backend, dtype, t, s, h, masked=masked,
                                  causal_self=causal) == expected


@pytest.mark.parametrize('requested, backend, dtype, t, message', [
    ('cudnn', 'cpu', BF16, 64, 'needs a GPU'),
    ('cudnn', 'gpu', F32, 64, 'float32'),
    ('splash', 'tpu', BF16, 100, 'T=100'),
    ('flash', 'tpu', BF16, 128, "model.attention='flash'"),
])
def test_choose_rejects(requested, backend, dtype, t, message):
  with pytest.raises(ValueError, match=message):
    attention_kernels.choose(requested, backend, dtype, t, t, 64, masked=True, causal_self=True)


def _inputs(b=2, t=256, n=4, k=2, h=64):
  """Random q/k/v, and rows padded on the left (50 tokens) and on the right (30)."""
  kq, kk, kv = jax.random.split(jax.random.key(0), 3)
  q = jax.random.normal(kq, (b, t, n, h))
  keys = jax.random.normal(kk, (b, t, k, h))
  values = jax.random.normal(kv, (b, t, k, h))
  valid = jnp.array([[0] * 50 + [1] * (t - 50), [1] * (t - 30) + [0] * 30], bool)
  return q, keys, values, valid


def _xla(q, k, v, valid):
  allowed = jnp.tril(jnp.ones((q.shape[1],) * 2, bool))[None] & valid[:, None, :]
  return jax.nn.dot_product_attention(q, k, v, mask=allowed[:, None], implementation='xla')


def _valid_rows(x, valid):
  """Padding queries' rows are never used (and differ by design); zero them."""
  return jnp.where(valid[:, :, None, None], x, 0)


def test_splash_matches_xla_with_padding_and_gqa():
  """Outputs and gradients, under the trainer's kind of mesh: rows over data x fsdp,
  heads over tensor (the kernel runs per shard, in shard_map)."""
  q, k, v, valid = _inputs()
  mesh = sharding.make_mesh(data=2, fsdp=1, tensor=2, devices=jax.devices()[:4])
  heads = NamedSharding(mesh, PartitionSpec(sharding.BATCH_AXES, None, 'tensor', None))
  q, k, v = (jax.device_put(x, heads) for x in (q, k, v))
  scale = 1.0 / np.sqrt(q.shape[-1])

  def splash(q, k, v):
    return attention_kernels.splash(q, k, v, valid, scale, interpret=True)

  def loss(attend):
    def value(q, k, v):
      out = _valid_rows(attend(q, k, v), valid)
      return jnp.sum(out * jnp.cos(q)), out
    return jax.value_and_grad(value, argnums=(0, 1, 2), has_aux=True)

  with jax.set_mesh(mesh):
    lowered = jax.jit(loss(splash)).lower(q, k, v)
    (_, got), got_grads = lowered.compile()(q, k, v)
  assert 'sdy.manual_computation' in lowered.as_text()  # shard_map's op in the program
  (_, want), want_grads = loss(lambda q, k, v: _xla(q, k, v, valid))(q, k, v)
  np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL)
  for name, g, w in zip('qkv', got_grads, want_grads):
    np.testing.assert_allclose(g, w, atol=TOL * np.abs(w).max(), rtol=TOL, err_msg=name)


def test_llm_with_splash_matches_xla():
  """One tiny LLM block (grouped-query heads) on left- and right-padded rows: every
  real position's logits."""
  model = Llama(dataclasses.replace(tiny_llm, num_layers=1), rngs=nnx.Rngs(0))
  _, _, _, valid = _inputs(t=128)
  ids = jax.random.randint(jax.random.key(1), valid.shape, 0, tiny_llm.vocab_size)
  forward = nnx.jit(lambda m, ids, mask: m(ids, attention_mask=mask))
  want = forward(model, ids, valid)  # 'auto' on CPU: XLA
  attention_kernels.set_implementation(model, 'splash')
  assert {m.attention_impl for _, m in nnx.iter_modules(model)
          if hasattr(m, 'attention_impl')} == {'splash'}
  got = forward(model, ids, valid)  # a static attribute: jit traces again
  mask = valid[:, :, None]
  np.testing.assert_allclose(jnp.where(mask, got, 0), jnp.where(mask, want, 0),
                             atol=TOL * np.abs(want).max(), rtol=TOL)


def test_set_implementation_rejects_unknown_names():
  with pytest.raises(ValueError, match="model.attention='fast'"):
    attention_kernels.set_implementation(Llama(tiny_llm, rngs=nnx.Rngs(0)), 'fast')
