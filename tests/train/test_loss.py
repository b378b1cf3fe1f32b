"""The token loss against optax's cross-entropy and the float32 log_softmax it replaced."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from minigpt4_jax.train.loss import token_nll, token_nll_sum

B, T, V = 3, 7, 101


def _log_softmax_nll(logits, targets):
  """The formula the loss had before: float32 log_softmax, target gathered."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def _optax_nll(logits, targets):
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)


def _value_and_grad(nll_fn, logits, targets, weights):
  """(nll, gradient of sum(weights * nll) with respect to the logits)."""
  return nll_fn(logits, targets), jax.grad(
      lambda x: jnp.sum(nll_fn(x, targets) * weights))(logits)


@jax.jit  # one program for the three (eager mode compiles each operation apart)
def _ours_and_references(logits, targets, weights):
  # The references' gradients in float32, as autodiff computes them before its cast.
  return (_value_and_grad(token_nll, logits, targets, weights),
          [_value_and_grad(fn, logits.astype(jnp.float32), targets, weights)
           for fn in (_optax_nll, _log_softmax_nll)])


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_token_nll_equals_optax_and_log_softmax(dtype):
  rng = np.random.default_rng(0)
  logits = jnp.asarray(4 * rng.standard_normal((B, T, V)), dtype)
  targets = jnp.asarray(rng.integers(0, V, (B, T)), jnp.int32)
  weights = jnp.asarray(rng.uniform(size=(B, T)), jnp.float32)  # a cotangent, not all ones
  (ours, ours_grad), references = _ours_and_references(logits, targets, weights)
  assert ours.dtype == jnp.float32 and ours_grad.dtype == dtype
  for value, grad in references:
    # Both accumulate in float32 from the same logits: float32 agreement either way.
    np.testing.assert_allclose(ours, value, rtol=1e-6, atol=1e-6)
    if dtype == jnp.float32:
      np.testing.assert_allclose(ours_grad, grad, rtol=1e-6, atol=1e-7)
    else:  # one bfloat16 rounding of the same float32 value
      np.testing.assert_array_equal(ours_grad, grad.astype(dtype))


def test_token_nll_sum_counts_supervised_tokens_only():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.standard_normal((B, T, V)), jnp.float32)
  ids = rng.integers(0, V, (B, T)).astype(np.int32)
  ids[:, 1] = -200  # an image slot
  mask = np.zeros((B, T), np.float32)
  mask[:, 3:] = 1.0
  total, count = jax.jit(token_nll_sum)(logits, ids, mask)
  expected = jax.jit(_log_softmax_nll)(logits[:, 2:-1], ids[:, 3:])
  np.testing.assert_allclose(total, jnp.sum(expected), rtol=1e-6)
  assert count == B * (T - 3)
