"""Where log records go when a ``launch.*`` command runs: a quiet console by default.

orbax logs hundreds of INFO lines per run (every read and write, with throughput),
and read-only checkpoint managers warn at every chat start; interleaved with the
progress bar they bury it. By default records of those libraries (absl, orbax, jax,
transformers, tensorstore) below ERROR go only to a log file in the run's folder
(or nowhere when the command has none), while the project's own messages, and every
ERROR, still reach the console. ``--verbose`` leaves logging as the libraries set it.
"""

from __future__ import annotations

import logging
import pathlib
import sys

from absl import logging as absl_logging

LIBRARY_LOGGERS = ('absl', 'orbax', 'jax', 'jaxlib', 'transformers', 'tensorstore')
VERBOSE_HELP = ('show library logs (orbax, absl, jax, transformers) on the console '
                'instead of only in the log file')
_ROUTED = '_minigpt4_jax_routed'  # marks the handlers added here
_FORMAT = '%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d] %(message)s'


def is_library_record(record: logging.LogRecord) -> bool:
  return record.name.split('.', 1)[0] in LIBRARY_LOGGERS


class _ConsoleFilter(logging.Filter):
  """Passes the project's records and library errors; drops library chatter."""

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR or not is_library_record(record)


def _is_console_handler(handler: logging.Handler) -> bool:
  plain_stderr = type(handler) is logging.StreamHandler and handler.stream in (
      sys.stderr, sys.__stderr__)
  return plain_stderr or handler is absl_logging.get_absl_handler()


def route_logs(log_file: str | pathlib.Path | None, verbose: bool = False) -> None:
  """Console: the project's INFO and up, libraries' ERROR and up; ``log_file`` (appended,
  its folder created): every record at INFO and up. ``verbose``: leave logging as is.

  Replaces the console handlers others installed (absl's; the plain stderr one that absl
  logging before flag parsing sets up with basicConfig) and those of an earlier call;
  other handlers (a test's log capture) stay."""
  if verbose:
    return
  root = logging.getLogger()
  for handler in list(root.handlers):
    if _is_console_handler(handler) or getattr(handler, _ROUTED, False):
      root.removeHandler(handler)
      handler.close()
  console = logging.StreamHandler(sys.stderr)
  console.setFormatter(logging.Formatter('%(message)s'))
  console.addFilter(_ConsoleFilter())
  handlers = [console]
  if log_file is not None:
    log_file = pathlib.Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handlers.append(logging.FileHandler(log_file, encoding='utf-8'))
    handlers[-1].setFormatter(logging.Formatter(_FORMAT))
  for handler in handlers:
    setattr(handler, _ROUTED, True)
    root.addHandler(handler)
  root.setLevel(logging.INFO)
  absl_logging.set_verbosity(absl_logging.INFO if log_file is not None else absl_logging.WARNING)
  library = logging.getLogger('transformers')  # has its own stderr handler; now the root's
  for handler in list(library.handlers):
    library.removeHandler(handler)
  library.propagate = True
