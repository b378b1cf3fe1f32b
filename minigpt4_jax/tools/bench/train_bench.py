"""The train-step benchmark: minigpt4-jax and the PyTorch reference, same weights, one run.

For each step shape: both steps (and, for stage 1, ours from cached frozen features)
are warmed up, then timed in alternation; medians give images/s, LLM tokens/s and
achieved FLOP/s from the analytic count (``flops.py``), and MFU against the GEMM
peak measured in the same run (``peak.py``). Peak RSS comes from separate processes
(``memory.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import statistics

import jax
import ml_collections
import numpy as np
from flax import nnx

from minigpt4_jax.tools.bench import flops, peak, runtime as runtime_lib
from minigpt4_jax.tools.bench.batches import synthetic_batch
from minigpt4_jax.tools.bench.contention import OtherLoad
from minigpt4_jax.tools.bench.jax_step import JaxTrainStep, model_from_weights
from minigpt4_jax.tools.bench.memory import peak_rss_alone
from minigpt4_jax.tools.bench.runtime import Runtime
from minigpt4_jax.tools.bench.sizes import STAGE1, BenchSize, StepShape
from minigpt4_jax.tools.bench.timing import interleaved
from minigpt4_jax.tools.bench.torch_reference import TorchMiniGPT4, TorchTrainStep, to_torch
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.train.config import base_config

JAX, PYTORCH, JAX_FEATURES = 'jax', 'pytorch', 'jax, cached features'
GEMM = 'gemm '  # prefix of the peak-rate contenders


@dataclasses.dataclass(frozen=True)
class Timed:
  """One contender's timed steps at one shape."""

  framework: str
  step_s: tuple[float, ...]
  flops: int                        # analytic, per step
  xla_flops: float | None           # XLA's count of the same step (JAX only)
  rss: tuple[int, int] | None       # (after imports, peak) bytes, measured alone

  @property
  def median_s(self) -> float:
    return statistics.median(self.step_s)


@dataclasses.dataclass(frozen=True)
class ShapeResult:
  shape: StepShape
  batch: int
  tokens: int                       # LLM sequence length
  first_loss: dict[str, float]      # each contender's first step, before any update
  timed: tuple[Timed, ...]
  gemm_flops: dict[str, float]      # best GEMM rate per framework among these steps
  other_cpu_load: float             # share of the CPUs other processes used meanwhile

  def by_framework(self, name: str) -> Timed:
    return next(t for t in self.timed if t.framework == name)


def train_config() -> ml_collections.ConfigDict:
  """Stage 1's AdamW and schedule (MiniGPT-4's), for both frameworks."""
  return base_config().train


def step_alone(framework: str, cfg: ModelConfig, shape: StepShape, batch: int,
               steps: int) -> None:
  """Builds one framework's model with random weights and runs ``steps`` steps:
  the work whose peak RSS ``memory.peak_rss_alone`` measures."""
  runtime = runtime_lib.detect()
  data = synthetic_batch(cfg, shape, batch)
  if framework == JAX:
    model = VisionLanguageModel(cfg, dtype=runtime.jax_dtype, param_dtype=runtime.jax_dtype,
                     rngs=nnx.Rngs(0))
    jax_step, inputs = JaxTrainStep(model, train_config()), jax.device_put(data)
    step = functools.partial(jax_step, first_target=shape.first_target(cfg.num_image_tokens))
  else:
    step = TorchTrainStep(TorchMiniGPT4(cfg, runtime), train_config())
    inputs = to_torch(data, runtime)
  for _ in range(steps):
    step(inputs)


def _check_losses(first_loss: dict[str, float], runtime: Runtime) -> None:
  """Same weights and batch: the first losses agree to rounding (f32 on a CPU; bf16
  towers on a GPU round more). Otherwise the steps differ and their timings are moot."""
  ours, reference = first_loss[JAX], first_loss[PYTORCH]
  rtol = 3e-2 if runtime.on_gpu else 1e-4
  if not np.isfinite(ours) or abs(ours - reference) > rtol * abs(reference):
    raise AssertionError(f'first-step losses differ (JAX {ours}, PyTorch {reference}): the '
                         'two steps do not compute the same thing')


def bench_shape(jax_step: JaxTrainStep, torch_step: TorchTrainStep, cfg: ModelConfig,
                shape: StepShape, batch: int, reps: int, warmup: int,
                rss: dict[str, tuple[int, int]]) -> ShapeResult:
  """Times one shape, with the GEMMs of ``peak.py`` interleaved among the steps.

  ``rss``: each framework's (after imports, peak) RSS, if measured.
  """
  data = synthetic_batch(cfg, shape, batch)
  # Ours projects onto the vocabulary only where a target follows, as the trainer does;
  # the reference, as MiniGPT-4 (HF's LlamaForCausalLM), at every position.
  first_target = shape.first_target(cfg.num_image_tokens)
  jax_batches = {JAX: jax.device_put(data)}
  contenders = {JAX: functools.partial(jax_step, jax_batches[JAX], first_target),
                PYTORCH: functools.partial(torch_step, to_torch(data, torch_step.model.runtime))}
  if shape == STAGE1:  # stage 1 can train from cached features (no augmentation)
    jax_batches[JAX_FEATURES] = jax_step.features_batch(jax_batches[JAX])
    contenders[JAX_FEATURES] = functools.partial(jax_step, jax_batches[JAX_FEATURES],
                                                 first_target)
  step_flops = {name: flops.train_step(cfg, shape, batch, from_features=name == JAX_FEATURES,
                                       logits_from=0 if name == PYTORCH else first_target - 1).total
                for name in contenders}
  xla_flops = {name: jax_step.xla_flops(b, first_target) for name, b in jax_batches.items()}
  first_loss = {name: call() for name, call in contenders.items()}
  gemm_flops, gemms = peak.gemm_calls(torch_step.model.runtime)
  with OtherLoad() as load:
    times = interleaved({**contenders, **{GEMM + k: call for k, call in gemms.items()}}, reps,
                        max(warmup - 1, 0))
  timed = tuple(Timed(name, tuple(times[name]), step_flops[name], xla_flops.get(name),
                      rss.get(name))
                for name in contenders)
  gemm_rates = {k: gemm_flops / min(times[GEMM + k]) for k in gemms}
  return ShapeResult(shape, batch, shape.sequence_length(cfg.num_image_tokens), first_loss, timed,
                     gemm_rates, load.fraction)


@dataclasses.dataclass(frozen=True)
class TrainBench:
  size: str
  dtype: str                        # both frameworks' compute dtype
  machine: dict[str, str | int]
  shapes: tuple[ShapeResult, ...]

  @property
  def gemm_flops(self) -> dict[str, float]:
    """Each framework's best GEMM rate in the run, FLOP/s."""
    return {k: max(r.gemm_flops[k] for r in self.shapes) for k in self.shapes[0].gemm_flops}

  @property
  def peak_flops(self) -> float:
    """The MFU denominator: the better framework's best GEMM rate."""
    return max(self.gemm_flops.values())


def run(size_name: str, size: BenchSize, shapes: tuple[StepShape, ...], reps: int,
        warmup: int = 2, batch: int | None = None, memory: bool = True) -> TrainBench:
  """The whole train benchmark at one size (both frameworks on the same weights)."""
  runtime = runtime_lib.detect()
  cfg = size.model
  batches = {shape.name: batch or size.batch[shape.name] for shape in shapes}
  # Before anything is built here, so that on a GPU the children find it free.
  rss = {shape.name: {name: peak_rss_alone(step_alone, name, cfg, shape, batches[shape.name], 2)
                      for name in (JAX, PYTORCH)} if memory else {}
         for shape in shapes}
  torch_model = TorchMiniGPT4(cfg, runtime)
  torch_step = TorchTrainStep(torch_model, train_config())
  jax_step = JaxTrainStep(model_from_weights(cfg, runtime.jax_dtype, torch_model.weights_for_jax()),
                          train_config())
  results = []
  for shape in shapes:
    result = bench_shape(jax_step, torch_step, cfg, shape, batches[shape.name], reps, warmup,
                         rss[shape.name])
    if not results:  # only the first shape's first steps start from identical projectors
      _check_losses(result.first_loss, runtime)
    results.append(result)
  return TrainBench(size_name, runtime.jax_dtype.name, runtime_lib.machine(), tuple(results))
