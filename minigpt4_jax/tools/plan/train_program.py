"""The trainer's step (``train.loop.setup``) lowered for a topology from abstract shapes.

Nothing is allocated: the model is built under ``jax.eval_shape``, its states carry
the project's shardings, and the step is jitted with the trainer's shardings and
donation, then compiled for the topology's devices.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax.sharding import Mesh

from minigpt4_jax import sharding
from minigpt4_jax.loading import architecture, lora_config
from minigpt4_jax.models import attention_kernels
from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.models.vlm import VisionLanguageModel
from minigpt4_jax.text.sequences import fixed_length
from minigpt4_jax.train.optimizer import make_optimizer, optimizer_shardings
from minigpt4_jax.train.step import make_train_step
from minigpt4_jax.train.trainable import split_trainable, trained_paths


@dataclasses.dataclass(frozen=True)
class TrainShape:
  """One step's shape: global batch, tokens per row, and the first supervised position."""

  batch: int
  seq_len: int
  first_target: int
  from_features: bool = False  # cached tower outputs (data.kind=features), not images


def model_config(config: ml_collections.ConfigDict) -> ModelConfig:
  return architecture(config.model)


def default_shape(config: ml_collections.ConfigDict, cfg: ModelConfig, batch: int) -> TrainShape:
  """The widest batch the trainer compiles: ``text.max_length`` where the run caps
  whole sequences (LLaVA), else BOS + image tokens + ``text.max_answer_tokens`` (stage
  1's longest row) rounded up to the multiple of 8 that every encoder pads to
  (``text.sequences.fixed_length``; 48 columns for the tiny stage 1, 72 for 7B's, as
  its widest ``text.pad_multiple`` bucket). Capped at the LLM's context; the answer
  starts after the image."""
  seq = config.text.max_length or fixed_length(
      1 + cfg.num_image_tokens + config.text.max_answer_tokens)
  seq = min(seq, cfg.llm.max_position_embeddings)
  return TrainShape(batch, seq, 1 + cfg.num_image_tokens, config.data.kind == 'features')


def make_mesh(config: ml_collections.ConfigDict, devices: Sequence[jax.Device]) -> Mesh:
  return sharding.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor,
                            devices=devices)


def _abstract_batch(cfg: ModelConfig, shape: TrainShape, mesh: Mesh) -> dict:
  """The trainer's batch as shapes: uint8 crops, as the input pipeline sends them
  (``train.loss.batch_nll_sum`` normalises them in the step), or cached features in
  ``feature_cache.write_cache``'s default float16."""
  b, t, size = shape.batch, shape.seq_len, cfg.vision.image_size
  arrays = {'input_ids': ((b, t), jnp.int32), 'attention_mask': ((b, t), jnp.int32),
            'target_mask': ((b, t), jnp.float32)}
  if shape.from_features:
    arrays['features'] = ((b, cfg.num_image_tokens, cfg.projector_in), jnp.float16)
  else:
    arrays['image'] = ((b, size, size, 3), jnp.uint8)
  return {k: jax.ShapeDtypeStruct(s, d, sharding=sharding.batch_sharding(mesh, len(s)))
          for k, (s, d) in arrays.items()}


def _with_shardings(abstract, shardings):
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      abstract, shardings)


@dataclasses.dataclass(frozen=True)
class LoweredTrainStep:
  lowered: jax.stages.Lowered
  llm_trains: bool  # a weight of the LLM's blocks is trained (for the analytic count)
  lower_seconds: float  # tracing and lowering the step (not the abstract model's build)


def lower_train_step(config: ml_collections.ConfigDict, cfg: ModelConfig, shape: TrainShape,
                     mesh: Mesh, remat: str, scan_layers: bool) -> LoweredTrainStep:
  """The jitted train step as ``train.loop.setup`` builds it, lowered on abstract args;
  ``scan_layers``: the towers' blocks stacked under ``lax.scan`` (``model.scan_layers``)."""
  dtype = jnp.dtype(config.model.dtype)
  patterns = tuple(config.train.trainable)
  lora = lora_config(config.model)

  def create() -> VisionLanguageModel:
    model = VisionLanguageModel(cfg, dtype=dtype, param_dtype=dtype, remat=remat,
                                rngs=nnx.Rngs(0))
    if lora is not None:
      model.add_lora(lora, rngs=nnx.Rngs(0))
    attention_kernels.set_implementation(model, config.model.attention)
    if scan_layers:
      model.scan_layers()
    return model

  # One abstract build (a 7B/13B model's Python takes ~10 s); the graph definition is
  # static, so it comes out of eval_shape whole.
  graphdef, trainable, frozen = jax.eval_shape(lambda: split_trainable(create(), patterns))
  t_sh = sharding.state_shardings(trainable, mesh)
  f_sh = sharding.state_shardings(frozen, mesh)
  tx, schedule = make_optimizer(config.train)
  o_sh = optimizer_shardings(tx, trainable, t_sh, mesh)
  opt_state = jax.eval_shape(tx.init, trainable)
  step = jax.jit(
      make_train_step(graphdef, tx, schedule, config.train.grad_accum, shape.first_target),
      in_shardings=(t_sh, f_sh, o_sh, None, None),
      out_shardings=(t_sh, o_sh, None),
      donate_argnums=(0, 2),
  )
  start = time.perf_counter()
  with jax.set_mesh(mesh):  # as the trainer steps (the splash kernel's shard_map reads it)
    lowered = step.lower(_with_shardings(trainable, t_sh), _with_shardings(frozen, f_sh),
                         _with_shardings(opt_state, o_sh), _abstract_batch(cfg, shape, mesh),
                         jax.ShapeDtypeStruct((), jnp.int32))
  llm_trains = any(p.startswith('llm/layers') and 'lora_' not in p
                   for p in trained_paths(trainable))
  return LoweredTrainStep(lowered, llm_trains, time.perf_counter() - start)
