"""Train a model of any family (MiniGPT-4, LLaVA; either stage) with JAX.

  python -m launch.train --config configs/tiny.py:stage1 --workdir runs/tiny1
  python -m launch.train --config configs/minigpt4_stage1.py:vicuna13b \\
      --workdir runs/stage1 --config.init_from=ckpt/vicuna13b --config.mesh.fsdp=8

Any config field can be overridden with --config.FIELD=VALUE; the config is locked,
so a misspelt field is an error. Running again with the same --workdir resumes.
Multi-process runs (several hosts, SLURM, TPU pods) add --distributed, which calls
jax.distributed.initialize() with the coordinator, process count and id read from
the environment (minigpt4_jax/distributed.py lists the variables).
"""

import pathlib
import sys

import jax
from absl import flags
from ml_collections import config_flags

from minigpt4_jax import distributed
from minigpt4_jax.cli import run_absl
from minigpt4_jax.errors import BadInput
from minigpt4_jax.generate.describe_images import DESCRIBE_PROMPT, describe_images
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs
from minigpt4_jax.train.loop import train_and_evaluate
from minigpt4_jax.train.preemption import Preempted, exit_code
from minigpt4_jax.train.preflight import check_run_inputs

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, e.g. configs/tiny.py:stage1.', lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Run directory: checkpoints, metrics.jsonl, TensorBoard, config.json.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Join a multi-process run first (jax.distributed.initialize).')
_VERBOSE = flags.DEFINE_bool('verbose', False, VERBOSE_HELP + ' (WORKDIR/train.log)')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise BadInput(f'unexpected arguments: {argv[1:]}')
  check_run_inputs(_CONFIG.value, _WORKDIR.value)
  route_logs(pathlib.Path(_WORKDIR.value) / 'train.log', _VERBOSE.value)
  if _DISTRIBUTED.value:
    distributed.initialize()
  try:
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except Preempted as stopped:
    print(stopped, flush=True)
    sys.exit(exit_code(stopped.signum))
  # Chat runs on one process's devices; in a multi-process run the other processes have
  # left, so a mesh over every process's devices would wait for them forever.
  if _CONFIG.value.describe_images and jax.process_count() == 1:
    print_descriptions(_WORKDIR.value, _CONFIG.value.describe_images)


def print_descriptions(workdir: str, images: tuple[str, ...]) -> None:
  """What the trained model says about a few images (the tiny configs list demo photos)."""
  print(f'{DESCRIBE_PROMPT!r} (greedy, python -m launch.chat --ckpt {workdir} --image ...):')
  for image, answer in describe_images(workdir, images):
    print(f'  {image.name}: {answer or "(no text: the model ended its answer at once)"}')


if __name__ == '__main__':
  run_absl(main)
