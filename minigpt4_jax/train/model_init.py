"""Builds the model a run starts from, straight into its shards.

``init_from`` is one of: '' (random towers of ``model.preset``: the tiny demo and
tests), a converted checkpoint (``python -m launch.convert``), or an earlier run's
workdir (its towers, found through its own recorded ``init_from``, plus its trained
parameters). Models are built abstractly first, so a 13B LLM is never materialised
unsharded on one device or twice in host memory.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax.sharding import Mesh

from minigpt4_jax import checkpoint as converted
from minigpt4_jax import sharding
from minigpt4_jax.models import MiniGPT4, preset
from minigpt4_jax.models.configs import MiniGPT4Config
from minigpt4_jax.models.llava import build_model
from minigpt4_jax.models.llava_config import PRESETS as LLAVA_PRESETS
from minigpt4_jax.models.llava_config import LLaVAConfig
from minigpt4_jax.models.llava_config import preset as llava_preset
from minigpt4_jax.models.minigpt4 import make_projector
from minigpt4_jax.train.checkpoints import TrainCheckpoints, abstract_like
from minigpt4_jax.train.lora import apply_lora
from minigpt4_jax.train.trainable import split_for_config

TINY_TOKENIZER = pathlib.Path(__file__).resolve().parent.parent / 'assets' / 'tiny_tokenizer'
RESOLVED_CONFIG = 'config.json'


@dataclasses.dataclass
class InitialModel:
  model: MiniGPT4
  tokenizer_dir: pathlib.Path


def architecture(model_cfg: ml_collections.ConfigDict) -> MiniGPT4Config | LLaVAConfig:
  """The architecture for random init: the preset with the config's ablations."""
  if model_cfg.preset in LLAVA_PRESETS:
    return dataclasses.replace(llava_preset(model_cfg.preset), projector=model_cfg.projector)
  cfg = preset(model_cfg.preset)
  if model_cfg.no_qformer:
    cfg = dataclasses.replace(cfg, qformer=None)
  return dataclasses.replace(cfg, projector=model_cfg.projector)


def random_model(cfg: MiniGPT4Config | LLaVAConfig, dtype, mesh: Mesh, seed: int) -> MiniGPT4:
  """Random weights, created by a jitted initializer directly in their shards."""
  def create() -> MiniGPT4:
    return build_model(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(seed))

  graphdef, abstract = nnx.split(nnx.eval_shape(create))
  state = jax.jit(lambda: nnx.split(create())[1],
                  out_shardings=sharding.state_shardings(abstract, mesh))()
  return nnx.merge(graphdef, state)


def _use_projector(model: MiniGPT4, kind: str, seed: int) -> None:
  """Swaps in a fresh projector when the run asks for another kind (ablation b)."""
  if model.cfg.projector != kind:
    model.cfg = dataclasses.replace(model.cfg, projector=kind)
    model.projector = make_projector(model.cfg, rngs=nnx.Rngs(seed))


def _float32_llm(model: MiniGPT4) -> None:
  """A trained LLM keeps float32 master weights (compute stays in ``model.dtype``), as
  mixed-precision training does: bf16 weights would round lr 2e-5 updates away."""
  params = nnx.state(model.llm, nnx.Param)
  nnx.update(model.llm, jax.tree.map(lambda x: x.astype(jnp.float32), params))


def is_workdir(path: pathlib.Path) -> bool:
  return (path / 'checkpoints').is_dir() and (path / RESOLVED_CONFIG).is_file()


def initial_model(config: ml_collections.ConfigDict, mesh: Mesh) -> InitialModel:
  """The model (sharded over ``mesh``) and tokenizer directory a run starts from."""
  dtype = jnp.dtype(config.model.dtype)
  source = pathlib.Path(config.init_from) if config.init_from else None
  if source is None:
    model = random_model(architecture(config.model), dtype, mesh, config.seed)
    tokenizer_dir = TINY_TOKENIZER
  elif is_workdir(source):
    earlier = ml_collections.ConfigDict(json.loads((source / RESOLVED_CONFIG).read_text()))
    start = initial_model(earlier, mesh)
    model, tokenizer_dir = start.model, start.tokenizer_dir
    _, trainable, _ = split_for_config(model, earlier.model)
    restored = TrainCheckpoints(source, read_only=True).restore_trainable(
        abstract_like(trainable))
    nnx.update(model, restored)
  elif (source / 'config.json').is_file():
    model = converted.load(source, dtype=dtype, mesh=mesh)
    tokenizer_dir = converted.tokenizer_dir(source)
  else:
    raise FileNotFoundError(
        f'init_from={str(source)!r} is neither a converted checkpoint (config.json) '
        f'nor a training workdir (checkpoints/ + {RESOLVED_CONFIG})')
  _use_projector(model, config.model.projector, config.seed)
  if config.model.get('lora_rank', 0) > 0:  # a no-op where an earlier stage added them
    apply_lora(model.llm, config.model.lora_rank, config.model.lora_alpha, seed=config.seed)
  model.llm.remat = bool(config.model.remat)
  if config.model.get('train_llm', False):
    _float32_llm(model)
  if config.model.tokenizer:
    tokenizer_dir = pathlib.Path(config.model.tokenizer)
  return InitialModel(model, tokenizer_dir)


def load_trained(path: str | pathlib.Path, dtype) -> InitialModel:
  """A model to use (chat, evaluation): a converted checkpoint, or a training workdir
  (its frozen towers plus the trained parameters of its latest checkpoint)."""
  path = pathlib.Path(path)
  if not is_workdir(path):
    return InitialModel(converted.load(path, dtype=dtype), converted.tokenizer_dir(path))
  config = ml_collections.ConfigDict(json.loads((path / RESOLVED_CONFIG).read_text()))
  config.init_from = str(path)
  config.model.dtype = jnp.dtype(dtype).name
  return initial_model(config, sharding.make_mesh(devices=jax.local_devices()[:1]))
