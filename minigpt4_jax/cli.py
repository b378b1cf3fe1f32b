"""How every ``python -m launch.*`` command runs: expected errors are one line, exit 2.

An expected mistake (``minigpt4_jax.errors.UserError``: a missing or broken file, a
misspelt config field, a wrong preset) is printed as ``error: MESSAGE`` on stderr and
the command exits with status 2, as argparse does for a bad flag. Anything else is a
bug and keeps its traceback. Setting ``MINIGPT4_JAX_DEBUG=1`` shows the traceback of
expected errors too.

``run`` wraps an argparse ``main(argv)``; ``run_absl`` wraps an absl ``main(argv)``
whose flags include an ml_collections config, and also makes ``--help`` exit 0
(absl exits 1 after printing help).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from typing import Any, Callable, Iterator, NoReturn

from absl import app, flags

from minigpt4_jax.compile_cache import use_compile_cache
from minigpt4_jax.errors import BadInput, UserError

DEBUG_ENV = 'MINIGPT4_JAX_DEBUG'
USER_ERROR_STATUS = 2
# absl's help flags -> whether they list only the main module's flags.
_HELP_FLAGS = {'-h': True, '--help': True, '-?': True, '--helpshort': True, '--helpfull': False}


def debugging() -> bool:
  return os.environ.get(DEBUG_ENV, '') not in ('', '0')


def fail(message: str) -> NoReturn:
  """One line on stderr, exit status 2."""
  sys.stderr.write(f'error: {message}\n')
  sys.exit(USER_ERROR_STATUS)


@contextlib.contextmanager
def reporting_user_errors() -> Iterator[None]:
  """A UserError raised inside becomes ``fail(message)`` (unless MINIGPT4_JAX_DEBUG is set)."""
  try:
    yield
  except UserError as err:
    if debugging():
      raise
    fail(str(err))


def run(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> None:
  """Calls ``main(argv)`` (default ``sys.argv[1:]``), reporting a UserError as one line,
  with the persistent compilation cache on (``minigpt4_jax.compile_cache``)."""
  use_compile_cache()
  with reporting_user_errors():
    main(sys.argv[1:] if argv is None else argv)


def _last_line(text: str) -> str:
  lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
  return lines[-1] if lines else text


def _config_field_error(err: Exception, argv: list[str]) -> BadInput:
  """ml_collections' AttributeError/KeyError for a misspelt ``--config.a.b=...`` field (its
  message is a nested repr: ``'\\'lrr\\'\\nDid you mean "lr" instead of "lrr"?'``), as
  one line naming the flag and the suggestion."""
  text = str(err)
  suggestion = re.search(r'Did you mean "(\w+)" instead of "(\w+)"\?', text)
  name = suggestion.group(2) if suggestion else (re.findall(r'\w+', text) or ['?'])[0]
  flag = next((a.split('=', 1)[0] for a in argv
               if re.match(rf'--\w+(\.\w+)*\.{re.escape(name)}(=|$)', a)), f'field {name!r}')
  hint = f' ({suggestion.group(0)})' if suggestion else ''
  return BadInput(f'{flag}: no such config field{hint}')


def parse_absl_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing with one-line errors (UserError) and a help that exits 0."""
  asked = [a for a in argv[1:] if a in _HELP_FLAGS]
  if asked:
    app.usage(shorthelp=_HELP_FLAGS[asked[0]], writeto_stdout=True, exitcode=0)
  try:
    return flags.FLAGS(argv)
  except flags.Error as err:  # a missing flag, a bad value, a config file that raised
    raise BadInput(_last_line(str(err))) from None
  except (AttributeError, KeyError) as err:  # ml_collections: an override of no field
    raise _config_field_error(err, argv) from None


def run_absl(main: Callable[[list[str]], Any]) -> None:
  """``app.run(main)`` with ``run``'s error handling and compilation cache, for the
  config-file launchers."""
  use_compile_cache()
  with reporting_user_errors():
    app.run(main, flags_parser=parse_absl_flags)


def parse_no_arguments(prog: str, doc: str | None) -> None:
  """For commands that take no arguments (the asset builders): ``--help`` prints ``doc``
  and exits 0; any argument is an error (exit 2) instead of being ignored."""
  argparse.ArgumentParser(prog=prog, description=doc,
                          formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
