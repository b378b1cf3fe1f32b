"""minigpt4-jax: MiniGPT-4 in JAX/Flax NNX."""

import os
import sys

# ``python -m launch.X`` runs this first, before anything imports transformers (the
# minigpt4_jax package does): its import-time notices, e.g. "PyTorch was not found"
# (about transformers' own model classes, which this project does not use), stay off
# the console unless --verbose. An explicit TRANSFORMERS_VERBOSITY wins.
if '--verbose' not in sys.argv[1:]:
  os.environ.setdefault('TRANSFORMERS_VERBOSITY', 'error')
