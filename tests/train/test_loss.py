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


def _weighted(nll_fn, weights):
  return lambda logits, targets: jnp.sum(nll_fn(logits, targets) * weights)


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_token_nll_equals_optax_and_log_softmax(dtype):
  keys = jax.random.split(jax.random.key(0), 3)
  logits = (4 * jax.random.normal(keys[0], (B, T, V))).astype(dtype)
  targets = jax.random.randint(keys[1], (B, T), 0, V)
  weights = jax.random.uniform(keys[2], (B, T))  # a cotangent that is not all ones
  ours = token_nll(logits, targets)
  assert ours.dtype == jnp.float32
  ours_grad = jax.grad(_weighted(token_nll, weights))(logits, targets)
  assert ours_grad.dtype == dtype
  for reference in (_optax_nll, _log_softmax_nll):
    # Both accumulate in float32 from the same logits: float32 agreement either way.
    np.testing.assert_allclose(ours, reference(logits, targets), rtol=1e-6, atol=1e-6)
    # The reference's float32 gradient, cast to the logits' dtype as autodiff does.
    expected = jax.grad(_weighted(reference, weights))(logits.astype(jnp.float32), targets)
    if dtype == jnp.float32:
      np.testing.assert_allclose(ours_grad, expected, rtol=1e-6, atol=1e-7)
    else:  # one bfloat16 rounding of the same float32 value
      np.testing.assert_array_equal(ours_grad, expected.astype(dtype))


def test_token_nll_sum_counts_supervised_tokens_only():
  keys = jax.random.split(jax.random.key(1), 2)
  logits = jax.random.normal(keys[0], (B, T, V))
  ids = jax.random.randint(keys[1], (B, T), 0, V).at[:, 1].set(-200)  # an image slot
  mask = jnp.zeros((B, T)).at[:, 3:].set(1.0)
  total, count = token_nll_sum(logits, ids, mask)
  expected = _log_softmax_nll(logits[:, 2:-1], ids[:, 3:])
  np.testing.assert_allclose(total, jnp.sum(expected), rtol=1e-6)
  assert count == B * (T - 3)
