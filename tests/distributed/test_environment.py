"""The variables a plain multi-process launch sets, and their errors."""

import subprocess
import sys

import pytest

from minigpt4_jax.distributed import settings_from_environment
from tests.multiprocess import REPO, environment


def test_our_variables_become_initialize_arguments():
  assert settings_from_environment({
      'JAX_COORDINATOR_ADDRESS': '10.0.0.1:1234', 'JAX_NUM_PROCESSES': '4',
      'JAX_PROCESS_ID': '3'}) == {'coordinator_address': '10.0.0.1:1234', 'num_processes': 4,
                                  'process_id': 3}
  # Unset: JAX detects them (SLURM, Open MPI, TPU pods).
  assert settings_from_environment({}) == {'coordinator_address': None, 'num_processes': None,
                                           'process_id': None}


@pytest.mark.parametrize('environ, message', [
    ({'JAX_NUM_PROCESSES': 'two'}, "JAX_NUM_PROCESSES='two' is not an integer"),
    ({'JAX_NUM_PROCESSES': '0'}, 'JAX_NUM_PROCESSES=0 must be >= 1'),
    ({'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '2'}, r'JAX_PROCESS_ID=2 must be in \[0, 2\)'),
])
def test_bad_variables_are_named(environ, message):
  with pytest.raises(ValueError, match=message):
    settings_from_environment(environ)


def test_cli_with_a_bad_variable_exits_2(tmp_path):
  env = {**environment(0, 1, 0), 'JAX_NUM_PROCESSES': 'two'}
  result = subprocess.run([sys.executable, '-m', 'launch.evaluate', '--ckpt', str(tmp_path),
                           '--task', 'pope', '--data', str(tmp_path), '--distributed'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip() == ("error: environment variable JAX_NUM_PROCESSES='two' is not "
                                   'an integer')
