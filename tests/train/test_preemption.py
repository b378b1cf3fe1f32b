"""Real SIGTERM / SIGINT sent to one ``python -m launch.train`` process."""

import re
import signal

import pytest

from minigpt4_jax.workdir import TrainCheckpoints
from minigpt4_jax.train.loop import train_and_evaluate
from tests.multiprocess import Processes, last_logged_step
from tests.train.test_loop import _config, _steps_logged

# Never reached: the signal stops the run.
ARGS = ['--config', 'configs/tiny.py:stage1', '--config.train.batch_size=8',
        '--config.train.log_every=1', '--config.train.steps=1000',
        '--config.train.checkpoint_every=1000']


@pytest.mark.parametrize('signum, code', [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_saves_at_the_next_step_and_the_rerun_resumes(tmp_path, signum, code):
  run = Processes('launch.train', [*ARGS, '--workdir', str(tmp_path)], tmp_path / 'logs', 1)
  run.wait_until(lambda: last_logged_step(tmp_path) >= 2)
  run.send(0, signum)
  assert run.wait() == [code], run.tails()
  saved = re.search(rf'{signum.name}: saved step (\d+) in (\S+), ([\d.]+) s after the signal',
                    run.output(0))
  assert saved, run.tails()
  step = int(saved[1])
  print(saved[0])
  assert saved[2] == str(tmp_path / 'checkpoints')
  assert TrainCheckpoints(tmp_path, read_only=True).latest_step() == step
  # The rerun (here in this process) resumes there: no step trained or logged twice.
  train_and_evaluate(_config(steps=step + 2, checkpoint_every=1000), tmp_path)
  assert _steps_logged(tmp_path) == list(range(1, step + 3))


def test_a_second_sigint_exits_at_once(tmp_path):
  run = Processes('launch.train', [*ARGS, '--workdir', str(tmp_path)], tmp_path / 'logs', 1)
  run.wait_until(lambda: last_logged_step(tmp_path) >= 1)
  run.send(0, signal.SIGINT)
  # (two signals sent back to back may reach the process as one)
  run.wait_until(lambda: 'SIGINT received' in run.output(0))
  run.send(0, signal.SIGINT)
  assert run.wait() == [130], run.tails()
  assert 'second SIGINT: exiting without saving' in run.output(0)
  assert 'saved step' not in run.output(0)
