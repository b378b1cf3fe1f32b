"""Every command's --help exits 0, describes the command, and does nothing else (issue 14,
item 9: absl's --help exited 1, and the asset builders ignored it and rebuilt)."""

import pathlib

import pytest

from tests.commands import REPO, run_module

LAUNCHERS = sorted(p.stem for p in (REPO / 'launch').glob('*.py') if p.stem != '__init__')
# python -m minigpt4_jax.* commands: the modules with a __main__ block.
PACKAGE_COMMANDS = sorted(
    '.'.join(p.relative_to(REPO).with_suffix('').parts)
    for p in (REPO / 'minigpt4_jax').rglob('*.py') if "__name__ == '__main__'" in p.read_text())
# What each command's help must say, beyond its usage line.
MUST_SAY = {
    'launch.chat': 'training workdir', 'launch.demo': 'training workdir',
    'launch.train': '--config', 'launch.cache_features': 'configs/tiny.py:stage1 \\\n',
}


def _tree_state(folder: pathlib.Path) -> dict[str, float]:
  """Every file's modification time, bytecode caches aside."""
  return {str(p): p.stat().st_mtime for p in folder.rglob('*') if '__pycache__' not in p.parts}


def test_every_command_is_listed():
  assert {'train', 'chat', 'demo', 'curate', 'evaluate', 'convert', 'cache_features',
          'bench'} <= set(LAUNCHERS)
  assert 'minigpt4_jax.tools.tiny_checkpoint' in PACKAGE_COMMANDS


@pytest.mark.parametrize('module', [f'launch.{name}' for name in LAUNCHERS] + PACKAGE_COMMANDS)
def test_help_exits_0_and_changes_nothing(module):
  before = _tree_state(REPO / 'minigpt4_jax')
  result = run_module(module, '--help', timeout=240)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.lstrip().startswith(('usage:', 'Train', 'Precompute')), result.stdout[:300]
  assert MUST_SAY.get(module, '') in result.stdout
  assert 'Traceback' not in result.stderr
  assert _tree_state(REPO / 'minigpt4_jax') == before  # no asset or demo file rewritten
