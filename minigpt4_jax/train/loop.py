"""train_and_evaluate: the whole run, resumable, for both MiniGPT-4 stages."""

from __future__ import annotations

import logging
import pathlib
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from jax.experimental import multihost_utils

from minigpt4_jax import sharding
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.train.checkpoints import TrainCheckpoints, abstract_like
from minigpt4_jax.train.llava_text import make_encoder
from minigpt4_jax.train.metrics import MetricsWriter, drop_logged_after
from minigpt4_jax.train.model_init import RESOLVED_CONFIG, initial_model
from minigpt4_jax.train.optimizer import make_optimizer, optimizer_shardings
from minigpt4_jax.train.preemption import PreemptionWatch
from minigpt4_jax.train.step import make_train_step
from minigpt4_jax.train.text import TextLayout, pad_columns
from minigpt4_jax.train.trainable import split_for_config


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
  if config.data.kind == 'features' and config.model.train_qformer:
    raise ValueError('data.kind=features stands in for the frozen towers, but '
                     'model.train_qformer=True trains the Q-Former: train from images')
  if (t.batch_size // t.grad_accum) % data_parallel:
    raise ValueError(f'micro-batch {t.batch_size // t.grad_accum} must divide by the '
                     f'{data_parallel} data-parallel devices (mesh.data x mesh.fsdp)')


def _device_batch(mesh, arrays: dict[str, np.ndarray]) -> dict[str, jax.Array]:
  """Host-local numpy arrays -> global arrays split over the data-parallel axes."""
  return {k: jax.make_array_from_process_local_data(sharding.batch_sharding(mesh, v.ndim), v)
          for k, v in arrays.items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains ``config.train.steps`` steps in ``workdir``, resuming if it holds checkpoints.

  Returns the metrics of the last logged step.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  mesh = sharding.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
  _validate(config, mesh)
  if jax.process_index() == 0:
    (workdir / RESOLVED_CONFIG).write_text(config.to_json_best_effort(indent=2))

  start = initial_model(config, mesh)
  model = start.model
  encoder = make_encoder(load_tokenizer(start.tokenizer_dir), TextLayout(
      template=config.text.template, instructions=tuple(config.text.instructions),
      end_sym=config.text.end_sym, max_txt_len=config.text.max_txt_len,
      num_image_tokens=model.cfg.num_image_tokens, pad_multiple=config.text.pad_multiple))
  graphdef, trainable, frozen = split_for_config(model, config.model)
  trainable_sh = sharding.state_shardings(trainable, mesh)
  frozen_sh = sharding.state_shardings(frozen, mesh)
  trainable = jax.device_put(trainable, trainable_sh)
  frozen = jax.device_put(frozen, frozen_sh)
  tx, schedule = make_optimizer(config.train)
  opt_sh = optimizer_shardings(tx, trainable, trainable_sh, mesh)
  opt_state = jax.jit(tx.init, out_shardings=opt_sh)(trainable)

  data = make_train_iterator(config.data, global_batch_size=config.train.batch_size,
                             seed=config.seed)
  checkpoints = TrainCheckpoints(workdir, config.train.keep_checkpoints)
  step = checkpoints.latest_step() or 0
  skipped = 0
  if step:
    restored = checkpoints.restore(step, abstract_like(trainable), abstract_like(opt_state))
    trainable, opt_state = restored['trainable'], restored['opt_state']
    data.set_state(restored['data'])
    skipped = restored['meta']['skipped_samples']
    drop_logged_after(workdir, step)
    logging.info('resumed from %s at step %d', checkpoints.directory, step)

  train_step = jax.jit(
      make_train_step(graphdef, tx, schedule, config.train.grad_accum, encoder.first_target),
      in_shardings=(trainable_sh, frozen_sh, opt_sh, None, None),
      out_shardings=(trainable_sh, opt_sh, None),
      donate_argnums=(0, 2),  # trainable and optimizer state; never the frozen towers
  )
  writer = MetricsWriter(workdir)
  total = config.train.steps
  progress = tqdm.tqdm(total=total, initial=step, desc='train', unit='step',
                       disable=jax.process_index() != 0, dynamic_ncols=True)
  pending = None  # (step, device metrics): read one step late so dispatch runs ahead
  window_start, window_steps, last = time.perf_counter(), 0, {}
  preemption = PreemptionWatch()  # SIGTERM / SIGINT: save at the next step, raise Preempted
  try:
    while step < total:
      raw = next(data)
      skipped += int(np.sum(raw['skipped']))
      tokens = encoder.encode(list(raw['text']), prompt_index(config.seed, step, encoder.num_prompts))
      if config.text.pad_multiple and jax.process_count() > 1:  # every host, one length
        longest = multihost_utils.process_allgather(np.int32(tokens['input_ids'].shape[1]))
        tokens = pad_columns(tokens, int(np.max(longest)), encoder.pad_id)
      vision = {k: raw[k] for k in ('image', 'features') if k in raw}  # features: cached towers
      batch = _device_batch(mesh, {**vision, **tokens})
      trainable, opt_state, metrics = train_step(trainable, frozen, opt_state, batch,
                                                 jnp.int32(step))
      if pending is not None:
        _check_finite(pending[0], jax.device_get(pending[1]))
      step += 1
      window_steps += 1
      pending = (step, metrics)
      progress.update(1)
      if step % config.train.log_every == 0 or step == total:
        host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        _check_finite(step, host)
        elapsed = time.perf_counter() - window_start
        host.update(images_per_sec=window_steps * config.train.batch_size / elapsed,
                    steps_per_sec=window_steps / elapsed, skipped_samples=skipped)
        writer.write(step, host)
        progress.set_postfix(loss=f'{host["loss"]:.4f}', lr=f'{host["lr"]:.2e}')
        window_start, window_steps, last = time.perf_counter(), 0, host
      stop = preemption.agreed_signal()  # every process, every step: the same answer
      if step % config.train.checkpoint_every == 0 or step == total or stop:
        _check_finite(step, jax.device_get(metrics))
        checkpoints.save(step, trainable, opt_state, data.get_state(),
                         {'step': step, 'skipped_samples': skipped})
      if stop:
        checkpoints.wait()
        raise preemption.preempted(stop, step, checkpoints.directory)
    checkpoints.wait()
  finally:
    preemption.close()
    data.close()
    progress.close()
    writer.close()
    checkpoints.close()
  return last
