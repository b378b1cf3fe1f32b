"""transformers' "PyTorch was not found" notice stays off the console unless --verbose
(issue 14, item 5), shown on a machine without PyTorch: a sitecustomize hides it."""

import pytest

from tests.commands import REPO, run_module

NOTICE = 'PyTorch was not found'


@pytest.fixture(scope='module')
def without_torch(tmp_path_factory) -> str:
  folder = tmp_path_factory.mktemp('no_torch')
  # importlib.util.find_spec (transformers' availability check) answers None for a None entry.
  (folder / 'sitecustomize.py').write_text("import sys\nsys.modules['torch'] = None\n")
  return f'{folder}:{REPO}'


@pytest.mark.parametrize('verbose', [False, True])
def test_pytorch_notice_only_with_verbose(without_torch, verbose):
  result = run_module('launch.chat', '--help', *(['--verbose'] if verbose else []),
                      PYTHONPATH=without_torch)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (NOTICE in result.stderr) == verbose, result.stderr
