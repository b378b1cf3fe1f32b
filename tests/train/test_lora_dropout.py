"""LoRA dropout in the train step: on only there, a function of (seed, step, row), the
same under gradient accumulation and remat, and a resumed run equals an uninterrupted one."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import tiny, tiny_minigptv2
from minigpt4_jax import errors
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import LoraConfig
from minigpt4_jax.models.lora import lora_layers
from minigpt4_jax.train.loop import train_and_evaluate
from minigpt4_jax.train.loss import batch_nll_sum
from minigpt4_jax.train.optimizer import make_optimizer
from minigpt4_jax.train.preflight import check_run_inputs
from minigpt4_jax.train.step import dropout_row_keys, make_loss_and_grad, make_train_step
from minigpt4_jax.train.trainable import split_trainable
from tests import reference
from tests.train.test_loop import _steps_logged, _trained
from tests.train.test_step import _flat, _train_cfg

B, T, RATE, SEED = 8, 24, 0.5, 3
PATTERNS = ('projector/.*', r'llm/.*/lora_[ab]')


def _model(remat: str = 'none') -> VisionLanguageModel:
  """Tiny MiniGPT-4 with adapters on q/v whose B factors are non-zero (at zero, the
  adapters add nothing, with or without dropout)."""
  cfg = dataclasses.replace(preset('tiny'), lora=LoraConfig(4, 8.0, ('q_proj', 'v_proj')))
  model = VisionLanguageModel(cfg, remat=remat, rngs=nnx.Rngs(0))
  for i, layer in enumerate(lora_layers(model)):
    layer.lora_b.set_value(jax.random.normal(jax.random.key(i), layer.lora_b.shape))
  return model


@pytest.fixture(scope='module')
def batch():
  """A train batch with cached-tower features instead of pixels (less to compile)."""
  cfg = preset('tiny')
  raw = reference.training_batch(cfg, B, T)
  del raw['image']
  raw['features'] = np.random.default_rng(1).normal(
      size=(B, cfg.num_image_tokens, cfg.projector_in)).astype(np.float32)
  return {k: jnp.asarray(v) for k, v in raw.items()}


def _loss_fn(model, rate):
  """jit(step -> (mean nll, grads)) of ``model`` at dropout ``rate``."""
  graphdef, trainable, frozen = split_trainable(model, PATTERNS)
  loss_and_grad = make_loss_and_grad(graphdef, lora_dropout=rate)

  @jax.jit
  def run(batch, step):
    (nll, count), grads = loss_and_grad(trainable, frozen, batch,
                                        dropout_row_keys(SEED, step, B))
    return nll / count, grads

  return lambda batch, step: run(batch, jnp.int32(step))


def test_dropout_follows_seed_and_step_and_is_off_at_rate_zero(batch):
  model = _model()
  eval_nll, eval_count = jax.jit(batch_nll_sum)(model, batch)  # as chat / eval run it
  loss = _loss_fn(model, RATE)
  (first, grads), (again, grads_again), (second, _) = loss(batch, 0), loss(batch, 0), loss(batch, 1)
  off, _ = _loss_fn(model, 0.0)(batch, 0)
  assert float(first) == float(again)  # deterministic given (seed, step)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_again)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert float(first) != float(second)  # the masks advance with the step
  assert float(off) == pytest.approx(float(eval_nll / eval_count), rel=1e-6)
  assert abs(float(first) - float(off)) > 1e-4  # dropout changed the loss
  assert all(layer.dropout_keys is None for layer in lora_layers(model))  # never leaked


def test_remat_draws_the_same_masks(batch):
  plain, plain_grads = _loss_fn(_model('none'), RATE)(batch, 2)
  remat, remat_grads = _loss_fn(_model('full'), RATE)(batch, 2)
  assert float(remat) == pytest.approx(float(plain), rel=1e-6)
  for a, b in zip(jax.tree.leaves(plain_grads), jax.tree.leaves(remat_grads)):
    assert reference.max_rel_err(b, a) <= 1e-5


def _steps(batch, grad_accum: int, steps: int = 2):
  graphdef, trainable, frozen = split_trainable(_model(), PATTERNS)
  tx, schedule = make_optimizer(_train_cfg())
  opt_state = tx.init(trainable)
  step_fn = jax.jit(make_train_step(graphdef, tx, schedule, grad_accum, lora_dropout=RATE,
                                    seed=SEED))
  for i in range(steps):
    trainable, opt_state, metrics = step_fn(trainable, frozen, opt_state, batch, jnp.int32(i))
  return trainable, metrics


def test_accumulated_micro_batches_equal_the_full_batch_with_dropout(batch):
  full, m_full = _steps(batch, grad_accum=1)
  accum, m_accum = _steps(batch, grad_accum=4)
  assert float(m_accum['loss']) == pytest.approx(float(m_full['loss']), rel=1e-6)
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(accum)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
  assert not any('dropout' in path for path in _flat(full))  # no keys in the trained state


def _lora_config(rate=RATE, **train):
  """configs/tiny.py stage 1 with adapters on q/v trained beside the projector."""
  c = tiny.get_config('stage1').unlock()
  c.model.update(lora_rank=4, lora_alpha=8.0, lora_targets=('q_proj', 'v_proj'),
                 lora_dropout=rate)
  c.train.trainable = PATTERNS
  c.train.update(batch_size=8, log_every=1, **train)
  return c.lock()


def test_the_v2_recipe_trains_with_the_original_dropout():
  assert tiny_minigptv2.get_config().model.lora_dropout == 0.05
  assert tiny.get_config('stage1').model.lora_dropout == 0.0


def test_a_resumed_run_with_dropout_equals_an_uninterrupted_one(tmp_path):
  one_go = _lora_config(steps=3, checkpoint_every=2)
  train_and_evaluate(one_go, tmp_path / 'a')
  train_and_evaluate(_lora_config(steps=2, checkpoint_every=2), tmp_path / 'b')  # "killed"
  train_and_evaluate(one_go, tmp_path / 'b')
  assert _steps_logged(tmp_path / 'b') == [1, 2, 3]
  for a, b in zip(_trained(tmp_path / 'a', one_go), _trained(tmp_path / 'b', one_go)):
    np.testing.assert_array_equal(a, b)
  # The run's rate reaches the step: without dropout the same run ends elsewhere.
  train_and_evaluate(_lora_config(0.0, steps=3, checkpoint_every=2), tmp_path / 'c')
  assert any(not np.array_equal(a, c) for a, c in
             zip(_trained(tmp_path / 'a', one_go), _trained(tmp_path / 'c', one_go)))


def test_bad_rates_are_one_line_errors(tmp_path):
  c = tiny.get_config('stage1').unlock()
  c.model.lora_dropout = 1.0
  with pytest.raises(errors.BadInput, match=r'model.lora_dropout=1.0: .* \[0, 1\)'):
    check_run_inputs(c, tmp_path / 'run')
  c.model.lora_dropout = 0.1  # tiny MiniGPT-4 has no adapters
  with pytest.raises(errors.BadInput, match='model.lora_dropout=0.1, but the model has no LoRA'):
    train_and_evaluate(c, tmp_path / 'run')
