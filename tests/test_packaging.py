"""setup.py's extras say what the README tells users to install (issue 14, item 6)."""

import ast

from tests.commands import REPO


def _extras() -> dict[str, list[str]]:
  call = next(n for n in ast.walk(ast.parse((REPO / 'setup.py').read_text()))
              if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'setup')
  extras = next(k.value for k in call.keywords if k.arg == 'extras_require')
  return ast.literal_eval(extras)


def test_tensorboard_viewer_is_an_extra_the_readme_names():
  assert 'tensorboard' in _extras()['tensorboard']
  assert "pip install -e '.[tensorboard]' && tensorboard --logdir runs" in (
      REPO / 'README.md').read_text()
