"""Named rematerialisation policies for the LLM blocks (``model.remat``).

Under ``jax.checkpoint`` a block keeps only what its policy lets it save for the
backward pass and recomputes the rest. Every projection output a policy may save is
tagged with ``jax.ad_checkpoint.checkpoint_name`` in ``llama.py`` (MaxText's
``layers/llama2.py`` and ``layers/attentions.py`` tag the same tensors for its
``remat_policy``). At LLaMA-7B's widths each of these tensors costs the same to
recompute per byte held (one matmul of depth D = 4096 per element), so a policy trades
memory for FLOPs linearly; the attention core (Q K^T, softmax, P V) always recomputes,
since its [B, N, T, S] probabilities are far larger than the matmuls that make them.
The ``*_offloaded`` policies send their saved tensors to host memory (``pinned_host``)
and back; in libtpu's ahead-of-time v5p compiles of 2 and 4 layers that did not lower
the HBM each layer adds (BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Callable

import jax

# Names of the tensors a policy may save (``checkpoint_name`` tags in ``llama.py``).
QUERY, KEY, VALUE = 'query', 'key', 'value'  # float[B, T, N|K, H], after rotary
OUT_PROJ = 'out_proj'                          # o_proj's output float[B, T, D]
MLP_GATE, MLP_UP = 'mlp_gate', 'mlp_up'        # gate_proj / up_proj outputs float[B, T, F]

_PROJECTIONS = (QUERY, KEY, VALUE, OUT_PROJ, MLP_GATE, MLP_UP)
_MLP = (OUT_PROJ, MLP_GATE, MLP_UP)


def _offloaded(names: tuple[str, ...]) -> Callable:
  return jax.checkpoint_policies.save_and_offload_only_these_names(
      names_which_can_be_saved=(), names_which_can_be_offloaded=names,
      offload_src='device', offload_dst='pinned_host')


# name -> policy for jax.checkpoint (None: no jax.checkpoint at all).
REMAT_POLICIES: dict[str, Callable | None] = {
    # Everything the backward needs stays from the forward: fastest, most memory.
    'none': None,
    # Only each block's input is kept; the backward recomputes the whole block
    # (LLaVA's gradient checkpointing).
    'full': jax.checkpoint_policies.nothing_saveable,
    # Every matmul output without a batch dimension (the seven projections) is kept;
    # norms, rotary and the attention core recompute.
    'dots': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    # The MLP's gate and up outputs and o_proj's output are kept: q/k/v and the
    # attention core recompute (about a third of the block's forward at 7B, 2048 tokens).
    'mlp': jax.checkpoint_policies.save_only_these_names(*_MLP),
    # As 'mlp', the kept tensors in host memory.
    'mlp_offloaded': _offloaded(_MLP),
    # Every projection output (as 'dots') in host memory: only the attention core recomputes.
    'dots_offloaded': _offloaded(_PROJECTIONS),
}


def policy(name: str) -> Callable | None:
  """The policy called ``name``; a one-line error naming ``model.remat`` otherwise."""
  if name not in REMAT_POLICIES:
    raise ValueError(f'model.remat={name!r}: expected one of {", ".join(REMAT_POLICIES)}')
  return REMAT_POLICIES[name]
