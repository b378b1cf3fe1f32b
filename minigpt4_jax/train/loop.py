"""train_and_evaluate: one resumable training run, any family, any stage.

Three parts, each a function: ``setup`` builds everything a run needs (mesh, model,
text encoder, trainable split, shardings, optimizer, data, checkpoints), ``resume``
restores the latest checkpoint if the workdir has one, and ``train_steps`` runs the
step loop with logging and checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from jax.experimental import multihost_utils

from minigpt4_jax import sharding, workdir as workdirs
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.data.prefetch import DevicePrefetch
from minigpt4_jax.errors import BadInput
from minigpt4_jax.loading import run_model
from minigpt4_jax.models.lora import lora_layers
from minigpt4_jax.text.sequences import SequenceEncoder, SequenceLayout, pad_columns
from minigpt4_jax.text.templates import get_template
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.train.metrics import MetricsWriter, drop_logged_after
from minigpt4_jax.train.optimizer import make_optimizer, optimizer_shardings
from minigpt4_jax.train.preemption import PreemptionWatch
from minigpt4_jax.train.preflight import check_run_inputs
from minigpt4_jax.train.step import make_train_step
from minigpt4_jax.train.trainable import TOWERS, split_trainable, summary, trained_paths


def prompt_index(seed: int, step: int, num_prompts: int) -> int:
  """MiniGPT-4 draws one instruction per batch; ours is a function of (seed, step)
  so a resumed run draws the same ones."""
  return int(np.random.default_rng([seed, step]).integers(num_prompts))


def _check_finite(step: int, metrics: dict[str, float]) -> None:
  if not metrics['finite']:
    raise FloatingPointError(
        f'non-finite loss {float(metrics["loss"])}, gradient norm '
        f'{float(metrics["grad_norm"])} or parameters at step {step}; stopping. The last '
        f'checkpoint written before it is intact.')


def _validate(config: ml_collections.ConfigDict, mesh) -> None:
  t = config.train
  data_parallel = mesh.shape['data'] * mesh.shape['fsdp']
  if t.batch_size % t.grad_accum:
    raise ValueError(f'train.batch_size={t.batch_size} must divide by train.grad_accum={t.grad_accum}')
  if (t.batch_size // t.grad_accum) % data_parallel:
    raise ValueError(f'micro-batch {t.batch_size // t.grad_accum} must divide by the '
                     f'{data_parallel} data-parallel devices (mesh.data x mesh.fsdp)')


def _device_batch(mesh, encoder, config: ml_collections.ConfigDict, step: int,
                  raw: dict[str, np.ndarray]) -> tuple[int, dict[str, jax.Array]]:
  """(bad samples skipped, the step's global batch on the mesh): images (uint8, or
  cached features) and token arrays, split over the data-parallel axes."""
  tokens = encoder.encode(list(raw['text']),
                          prompt_index(config.seed, step, encoder.num_instructions))
  if config.text.pad_multiple and jax.process_count() > 1:  # every host, one length
    longest = multihost_utils.process_allgather(np.int32(tokens['input_ids'].shape[1]))
    tokens = pad_columns(tokens, int(np.max(longest)), encoder.pad_id)
  vision = {k: raw[k] for k in ('image', 'features') if k in raw}  # features: cached towers
  arrays = {**vision, **tokens}
  return int(np.sum(raw['skipped'])), {
      k: jax.make_array_from_process_local_data(sharding.batch_sharding(mesh, v.ndim), v)
      for k, v in arrays.items()}


def sequence_encoder(config: ml_collections.ConfigDict, tokenizer_dir: pathlib.Path | str,
                     num_image_tokens: int) -> SequenceEncoder:
  """The run's text encoder, from its ``text`` fields."""
  return SequenceEncoder(load_tokenizer(tokenizer_dir), SequenceLayout(
      template=get_template(config.text.template),
      instructions=tuple(config.text.instructions),
      max_answer_tokens=config.text.max_answer_tokens, max_length=config.text.max_length,
      num_image_tokens=num_image_tokens, pad_multiple=config.text.pad_multiple))


@dataclasses.dataclass
class Run:
  """Everything ``setup`` builds; ``resume`` and ``train_steps`` advance it."""

  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  mesh: jax.sharding.Mesh
  encoder: Any
  trainable: Any
  frozen: Any
  opt_state: Any
  train_step: Callable
  data: DevicePrefetch  # (skipped samples, batch on the mesh), one step ahead
  checkpoints: workdirs.TrainCheckpoints
  step: int = 0
  skipped: int = 0


def setup(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> Run:
  """Builds the run: model in its shards, trainable split, optimizer, data, checkpoints."""
  mesh = sharding.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
  _validate(config, mesh)
  start = run_model(config, mesh)
  model = start.model
  encoder = sequence_encoder(config, start.tokenizer_dir, model.cfg.num_image_tokens)
  logging.info('token arrays of %s columns: %d compilation(s) of the step at most',
               encoder.batch_lengths, len(encoder.batch_lengths))
  graphdef, trainable, frozen = split_trainable(model, tuple(config.train.trainable))
  if config.data.kind == 'features' and any(p.startswith(TOWERS) for p in trained_paths(trainable)):
    raise ValueError('data.kind=features stands in for the frozen towers, but '
                     f'train.trainable={tuple(config.train.trainable)} trains tower parameters: '
                     'train from images')
  if config.model.lora_dropout and not lora_layers(model):
    raise BadInput(f'model.lora_dropout={config.model.lora_dropout}, but the model has no '
                     'LoRA adapters (model.lora_rank=0 and none in init_from)')
  logging.info('%s', summary(trainable, frozen))  # the console shows the project's INFO
  trainable_sh = sharding.state_shardings(trainable, mesh)
  frozen_sh = sharding.state_shardings(frozen, mesh)
  trainable = jax.device_put(trainable, trainable_sh)
  frozen = jax.device_put(frozen, frozen_sh)
  tx, schedule = make_optimizer(config.train)
  opt_sh = optimizer_shardings(tx, trainable, trainable_sh, mesh)
  opt_state = jax.jit(tx.init, out_shardings=opt_sh)(trainable)
  train_step = jax.jit(
      make_train_step(graphdef, tx, schedule, config.train.grad_accum, encoder.first_target,
                      lora_dropout=config.model.lora_dropout, seed=config.seed),
      in_shardings=(trainable_sh, frozen_sh, opt_sh, None, None),
      out_shardings=(trainable_sh, opt_sh, None),
      donate_argnums=(0, 2),  # trainable and optimizer state; never the frozen towers
  )
  host_batches = make_train_iterator(config.data, global_batch_size=config.train.batch_size,
                                     seed=config.seed)
  data = DevicePrefetch(host_batches, lambda step, raw: _device_batch(
      mesh, encoder, config, step, raw))
  checkpoints = workdirs.TrainCheckpoints(workdir, config.train.keep_checkpoints,
                                         run_config=json.loads(config.to_json_best_effort()))
  return Run(config, workdir, mesh, encoder, trainable, frozen, opt_state, train_step, data,
             checkpoints)


def resume(run: Run) -> None:
  """Continues after the workdir's newest intact checkpoint, if any (same next batch, no
  step logged twice); damaged newer steps are moved aside with a warning."""
  step, restored = run.checkpoints.restore_newest_intact(
      workdirs.abstract_like(run.trainable), workdirs.abstract_like(run.opt_state))
  if restored is None:
    return
  run.trainable, run.opt_state = restored['trainable'], restored['opt_state']
  run.data.set_state(restored['data'], step)
  run.step, run.skipped = step, restored['meta']['skipped_samples']
  drop_logged_after(run.workdir, step)
  logging.info('resumed from %s at step %d', run.checkpoints.directory, step)


def train_steps(run: Run, writer: MetricsWriter) -> dict[str, float]:
  """Runs steps until ``train.steps``; returns the metrics of the last logged step."""
  t = run.config.train
  progress = tqdm.tqdm(total=t.steps, initial=run.step, desc='train', unit='step',
                       disable=jax.process_index() != 0, dynamic_ncols=True)
  pending = None  # (step, device metrics): read one step late so dispatch runs ahead
  window_start, window_steps, last = time.perf_counter(), 0, {}
  preemption = PreemptionWatch()  # SIGTERM / SIGINT: save at the next step, raise Preempted
  try:
    while run.step < t.steps:
      skipped, batch = next(run.data)
      run.skipped += skipped
      with jax.set_mesh(run.mesh):  # the splash attention kernel's shard_map reads it
        run.trainable, run.opt_state, metrics = run.train_step(
            run.trainable, run.frozen, run.opt_state, batch, jnp.int32(run.step))
      if pending is not None:
        _check_finite(pending[0], jax.device_get(pending[1]))
      run.step += 1
      window_steps += 1
      pending = (run.step, metrics)
      progress.update(1)
      if run.step % t.log_every == 0 or run.step == t.steps:
        host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        _check_finite(run.step, host)
        elapsed = time.perf_counter() - window_start
        host.update(images_per_sec=window_steps * t.batch_size / elapsed,
                    steps_per_sec=window_steps / elapsed, skipped_samples=run.skipped)
        writer.write(run.step, host)
        progress.set_postfix(loss=f'{host["loss"]:.4f}', lr=f'{host["lr"]:.2e}')
        window_start, window_steps, last = time.perf_counter(), 0, host
      stop = preemption.agreed_signal()  # every process, every step: the same answer
      if run.step % t.checkpoint_every == 0 or run.step == t.steps or stop:
        _check_finite(run.step, jax.device_get(metrics))
        save(run)
      if stop:
        run.checkpoints.wait()
        raise preemption.preempted(stop, run.step, run.checkpoints.directory)
    run.checkpoints.wait()
  finally:
    preemption.close()
    progress.close()
  return last


def save(run: Run) -> None:
  """A checkpoint of the run at its current step (asynchronous; orbax commits it whole)."""
  run.checkpoints.save(run.step, run.trainable, run.opt_state, run.data.get_state(),
                       {'step': run.step, 'skipped_samples': run.skipped})


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains ``config.train.steps`` steps in ``workdir``, resuming if it holds checkpoints.

  Returns the metrics of the last logged step.
  """
  workdir = pathlib.Path(workdir)
  check_run_inputs(config, workdir)  # one-line errors, before anything is written
  config = config.copy_and_resolve_references()
  config.init_from = workdirs.absolute_init_from(config.init_from)
  workdir.mkdir(parents=True, exist_ok=True)
  run = setup(config, workdir)
  try:
    resume(run)  # before the writer opens metrics.jsonl, which a resume may rewrite
    # Written once the resume has passed: a run refused for settings that do not fit the
    # workdir's checkpoints leaves the config that wrote them in place.
    if jax.process_index() == 0:
      workdirs.write_run_config(workdir, config)
    writer = MetricsWriter(workdir)
    try:
      return train_steps(run, writer)
    finally:
      writer.close()
  finally:
    run.data.close()
    run.checkpoints.close()
