"""Expected mistakes in a user's input, told apart from bugs.

Code that checks what a user supplied (a path, a file's contents, a flag) raises one
of these; the command-line wrapper (``minigpt4_jax.cli``) prints their message as one
line and exits with status 2, while any other exception keeps its traceback. Each is
also a subclass of the builtin error it stands for, so ``except FileNotFoundError``
and ``except ValueError`` keep working for library callers.
"""


class UserError(Exception):
  """An input the user can fix; the message names the file, key or flag."""


class MissingInput(UserError, FileNotFoundError):
  """A file or directory the user named does not exist (or lacks a required part)."""


class BadInput(UserError, ValueError):
  """A file or value the user supplied exists but cannot be used as given."""


class OutputExists(UserError, FileExistsError):
  """An output the user named exists and the command would not replace it."""
