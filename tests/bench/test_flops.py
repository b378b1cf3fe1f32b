"""The analytic FLOP count against a hand count and against XLA's own count."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from minigpt4_jax.tools.bench import flops
from minigpt4_jax.tools.bench.batches import synthetic_batch
from minigpt4_jax.tools.bench.jax_step import JaxTrainStep, compiled_flops
from minigpt4_jax.tools.bench.sizes import STAGE1
from minigpt4_jax.tools.bench.train_bench import train_config
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel


def test_tiny_stage1_step_matches_a_hand_count():
  """preset('tiny'): ViT 64 wide, 2 blocks, MLP 128, 257 tokens; Q-Former 32 wide,
  2 layers, MLP 64, 8 queries, cross-attention in layer 0 to 257 tokens of width 64;
  LLaMA 64 wide, 2 layers, 4 heads + 2 KV heads of 16, MLP 128, vocab 1000;
  stage 1: T = 1 BOS + 8 image + 32 caption = 41."""
  vit = (2 * 256 * (3 * 14 * 14) * 64                   # patch embedding
         + 2 * (2 * 257 * 64 * 192                      # qkv
                + 2 * 2 * 257 * 257 * 64                # scores + context
                + 2 * 257 * 64 * 64                     # proj
                + 2 * 2 * 257 * 64 * 128))              # fc1 + fc2
  qformer = (2 * (4 * 2 * 8 * 32 * 32 + 2 * 2 * 8 * 8 * 32   # self-attention
                  + 2 * 2 * 8 * 32 * 64)                      # query FFN
             + 2 * 2 * 8 * 32 * 32 + 2 * 2 * 257 * 64 * 32   # cross: q, out; k, v
             + 2 * 2 * 8 * 257 * 32)                          # cross: scores + context
  llm_linear = (2 * (2 * 41 * 64 * 64 * 2                # q, o
                     + 2 * 2 * 41 * 64 * 32              # k, v (2 KV heads)
                     + 3 * 2 * 41 * 64 * 128)            # gate, up, down
                + 2 * 41 * 64 * 1000)                    # LM head
  llm_attention = 2 * 2 * 2 * 41 * 41 * 64
  projector = 2 * (2 * 8 * 32 * 64)                      # forward + weight gradient
  expected = flops.StepFlops(
      vit=vit, qformer=qformer, projector=projector,
      llm_forward=llm_linear + llm_attention,
      llm_backward=llm_linear + 2 * llm_attention)
  assert flops.train_step(preset('tiny'), STAGE1, batch=1) == expected
  assert expected.total == 114_684_928
  assert flops.train_step(preset('tiny'), STAGE1, batch=4).total == 4 * expected.total
  assert flops.train_step(preset('tiny'), STAGE1, 1, from_features=True).total == \
      expected.total - vit - qformer
  # Logits from position 8 on (first target 9): the head skips 8 of 41 positions,
  # forward and backward.
  assert flops.train_step(preset('tiny'), STAGE1, 1, logits_from=8).total == \
      expected.total - 2 * (2 * 8 * 64 * 1000)


def _xla_flops(fn, *args) -> float:
  return compiled_flops(jax.jit(fn).lower(*args))


def test_dense_and_attention_match_xla_cost_analysis():
  """XLA:CPU counts a dot as 2 FLOPs per multiply-add, exactly as we do."""
  x, w = jnp.ones((3, 41, 64)), jnp.ones((64, 96))
  assert _xla_flops(lambda x, w: x @ w, x, w) == flops.dense(3 * 41, 64, 96).total
  q, k = jnp.ones((2, 41, 4, 16)), jnp.ones((2, 57, 4, 16))
  scores = lambda q, k: jnp.einsum('BTNH,BSNH->BNTS', q, k)
  context = lambda p, v: jnp.einsum('BNTS,BSNH->BTNH', p, v)
  p = jnp.ones((2, 4, 41, 57))
  counted = _xla_flops(scores, q, k) + _xla_flops(context, p, k)
  assert counted == flops.attention_core(2 * 41, 57, 4 * 16).total


@pytest.mark.parametrize('from_features', [False, True])
@pytest.mark.parametrize('logits_from', [0, 8])
def test_whole_train_step_is_within_elementwise_work_of_xla_count(from_features, logits_from):
  """XLA counts the compiled step (backward included) plus elementwise work, which is
  a few percent at tiny; a wrong backward rule (e.g. LLM weight gradients) would be
  off by tens of percent."""
  cfg = preset('tiny')
  step = JaxTrainStep(VisionLanguageModel(cfg, rngs=nnx.Rngs(0)), train_config())
  batch = jax.device_put(synthetic_batch(cfg, STAGE1, batch=2))
  if from_features:
    batch = step.features_batch(batch)
  xla = step.xla_flops(batch, first_target=logits_from + 1)
  ours = flops.train_step(cfg, STAGE1, 2, from_features=from_features,
                          logits_from=logits_from).total
  assert ours <= xla <= 1.12 * ours
