"""launch.bench refuses the real sizes without a GPU."""

import pytest

from launch import bench


@pytest.mark.parametrize('size', ['7b', '13b'])
def test_real_sizes_need_a_gpu(size):
  with pytest.raises(SystemExit, match='needs a GPU'):
    bench.main(['--size', size])
