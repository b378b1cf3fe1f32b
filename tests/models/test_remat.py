"""The LLM blocks' remat policies (models/remat.py): each gives the loss and gradients
of no remat, unrolled or with the blocks scanned (``model.scan_layers``), keeps for the
backward exactly the tensors it names, and an unknown name is a one-line error naming
``model.remat``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import tiny
from minigpt4_jax import errors
from minigpt4_jax.families import preset
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.models.params import path_str
from minigpt4_jax.models.remat import REMAT_POLICIES
from minigpt4_jax.models.scanned_layers import unstack_layers
from minigpt4_jax.train.preflight import check_run_inputs

CFG = preset('tiny').llm  # float32 (tests/conftest.py: highest matmul precision)
B, T = 2, 12

# What each policy's backward reads from the forward, per block, as
# jax.ad_checkpoint.print_saved_residuals describes it: (marker, count per block).
SAVED = {
    'full': ('named ', 0),
    'dots': ('output of dot_general', 6),  # q, k, v, o, gate, up (down's output is unused)
    'mlp': ('named ', 3),                  # out_proj, mlp_gate, mlp_up
    'mlp_offloaded': ('<host>', 3),
    'dots_offloaded': ('<host>', 6),
}


def _loss(remat: str, scanned: bool = False):
  """(the model's state, loss of it): next-token cross-entropy over a padded batch."""
  llm = Llama(CFG, remat=remat, rngs=nnx.Rngs(0))
  if scanned:
    llm.scan_layers()
  graphdef, state = nnx.split(llm)
  ids = jax.random.randint(jax.random.key(1), (B, T), 0, CFG.vocab_size)
  mask = jnp.ones((B, T), jnp.int32).at[1, T - 4:].set(0)  # a right-padded row

  def loss(state):
    logits = nnx.merge(graphdef, state)(ids, attention_mask=mask)[:, :-1]
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), ids[:, 1:, None], axis=-1)[..., 0]
    return -jnp.sum(logp * mask[:, 1:]) / jnp.sum(mask[:, 1:])
  return state, loss


def test_every_policy_is_listed_with_what_it_saves():
  assert set(REMAT_POLICIES) == set(SAVED) | {'none'}


@pytest.fixture(scope='module')
def no_remat():
  state, loss = _loss('none')
  return jax.jit(jax.value_and_grad(loss))(state)


@pytest.mark.parametrize('remat', sorted(SAVED))
def test_same_loss_and_gradients_as_no_remat(remat, no_remat, capsys):
  state, loss = _loss(remat)
  value, grads = jax.jit(jax.value_and_grad(loss))(state)
  want_value, want_grads = no_remat
  assert float(value) == pytest.approx(float(want_value), rel=1e-6)
  assert jax.tree.structure(grads) == jax.tree.structure(want_grads)
  for (path, got), want in zip(jax.tree_util.tree_leaves_with_path(grads),
                               jax.tree.leaves(want_grads)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.abs(want).max()),
                               err_msg=jax.tree_util.keystr(path))
  jax.ad_checkpoint.print_saved_residuals(loss, state)
  marker, per_block = SAVED[remat]
  saved = [line for line in capsys.readouterr().out.splitlines() if marker in line]
  assert len(saved) == per_block * CFG.num_layers, saved


def _by_layer(grads) -> dict[str, np.ndarray]:
  """Gradients by per-layer path ('llm/layers/0/...'), whether scanned or not."""
  return unstack_layers({'llm/' + path_str(p): np.asarray(v[...])
                         for p, v in nnx.to_flat_state(grads)})


@pytest.mark.parametrize('remat', ['none', 'full', 'mlp', 'dots'])
def test_scanned_blocks_give_the_loss_and_gradients_of_unrolled_no_remat(remat, no_remat):
  state, loss = _loss(remat, scanned=True)
  value, grads = jax.jit(jax.value_and_grad(loss))(state)
  want_value, want_grads = no_remat
  assert float(value) == pytest.approx(float(want_value), rel=1e-6)
  got, want = _by_layer(grads), _by_layer(want_grads)
  assert sorted(got) == sorted(want)
  for p in want:
    np.testing.assert_allclose(got[p], want[p], rtol=1e-5, atol=1e-6 * np.abs(want[p]).max(),
                               err_msg=p)


def test_unknown_policy_is_a_one_line_error(tmp_path):
  with pytest.raises(ValueError, match="^model.remat='fast': expected one of none, full, dots"):
    Llama(CFG, remat='fast', rngs=nnx.Rngs(0))
  c = tiny.get_config('stage1').unlock()
  c.model.remat = 'fast'
  with pytest.raises(errors.BadInput, match="^model.remat='fast': expected one of none, full"):
    check_run_inputs(c, tmp_path / 'run')
