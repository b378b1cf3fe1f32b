"""launch.bench refuses the real sizes without a GPU: one line, exit status 2."""

import pytest

from launch import bench
from minigpt4_jax.cli import run


@pytest.mark.parametrize('size', ['7b', '13b'])
def test_real_sizes_need_a_gpu(size, capsys):
  with pytest.raises(SystemExit) as stopped:
    run(bench.main, ['--size', size])
  assert stopped.value.code == 2
  error = capsys.readouterr().err
  assert error.startswith(f'error: --size {size} runs the real MiniGPT-4 shapes and needs a GPU')
  assert error.count('\n') == 1
