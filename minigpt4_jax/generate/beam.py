"""Beam search with transformers' semantics (HF 5.x ``_beam_search``), in one while_loop.

Per prompt, W running beams; each step scores all W x V continuations, keeps the best
K = 2W (sampled without replacement when ``do_sample``), moves those that end (EOS, a
stop string, or the length budget) and are among the top W into the finished set,
scored ``sum(logprob) / length**length_penalty`` (length = generated tokens, the
final one included), and continues with the best W that did not end. The search
stops as HF's default ``early_stopping=False`` does: when no running beam, at its
current length, could beat the worst of W finished hypotheses, or at the budget.
The -1e9 masks and their order are HF's, so scores match it to float precision.
Letters: B batch, W beams, K candidates, V vocabulary, M max new tokens, S stop strings.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from minigpt4_jax.generate import sampling
from minigpt4_jax.generate.decode import feed, is_eos, prefill
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models.llama import KVCache, Llama

_MASKED = -1.0e9  # HF's "never pick this" score


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BeamState:
  """running_*: the W live beams of each prompt; finished_*: the W best ended ones.

  running_tokens / finished_tokens: int32[B, W, M]; running_scores / finished_scores:
  float32[B, W] (running: sum of processed logprobs; finished: length-penalised);
  running_seen: bool[B, W, V]; running_stop: int32[B, W, S]; finished_lengths:
  int32[B, W]; finished_ended: bool[B, W] (EOS or stop string, not the budget);
  is_finished: bool[B, W] the slot holds a hypothesis; improvable: bool[B] a running
  beam may still beat the finished ones; all_ended: bool[] every candidate of the
  last step ended; logits float32[B*W, V], positions int32[B*W], cache (B*W rows).
  """

  running_tokens: jax.Array
  running_scores: jax.Array
  running_seen: jax.Array
  running_stop: jax.Array
  finished_tokens: jax.Array
  finished_scores: jax.Array
  finished_lengths: jax.Array
  finished_ended: jax.Array
  is_finished: jax.Array
  improvable: jax.Array
  all_ended: jax.Array
  logits: jax.Array
  positions: jax.Array
  cache: KVCache
  step: jax.Array


def gather_beams(x: jax.Array, index_bk: jax.Array) -> jax.Array:
  """x[b, index[b, k], ...]: float/int[B, W, ...] -> [B, K, ...]."""
  index = index_bk.reshape(index_bk.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, index, axis=1)


def top_candidates(scores_bn: jax.Array, k: int, do_sample: jax.Array,
                   key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(scores, indices) float32/int32[B, k], best first: the top k, or k drawn without
  replacement from softmax(scores) (Gumbel top-k, the distribution of HF's
  ``torch.multinomial``) when sampling."""

  def drawn(scores_bn):
    _, idx = jax.lax.top_k(scores_bn + jax.random.gumbel(key, scores_bn.shape), k)
    picked = jnp.take_along_axis(scores_bn, idx, axis=-1)
    order = jnp.argsort(-picked, axis=-1, stable=True)
    return jnp.take_along_axis(picked, order, axis=-1), jnp.take_along_axis(idx, order, axis=-1)

  return jax.lax.cond(do_sample, drawn, lambda x: tuple(jax.lax.top_k(x, k)), scores_bn)


def init_state(llm: Llama, embeds_btd: jax.Array, mask_bt: jax.Array, *, num_beams: int,
               max_new_tokens: int, num_stop_strings: int, pad_id: jax.Array,
               start_id: jax.Array) -> BeamState:
  """Prefill once per prompt, then copy each prompt's cache row to its W beams."""
  b, t, _ = embeds_btd.shape
  w, m = num_beams, max_new_tokens
  logits_bv, cache, positions_b = prefill(llm, embeds_btd, mask_bt, t + m)
  cache = cache.take_rows(jnp.repeat(jnp.arange(b), w))  # HF's reorder_cache, as in search
  # Only beam 0 is live at first, so the first step does not pick W copies of one token.
  first_live = jnp.where(jnp.arange(w) == 0, 0.0, _MASKED)
  return BeamState(
      running_tokens=jnp.full((b, w, m), pad_id, jnp.int32),
      running_scores=jnp.broadcast_to(first_live, (b, w)),
      running_seen=sampling.initially_seen(b * w, logits_bv.shape[-1], start_id).reshape(
          b, w, -1),
      running_stop=jnp.zeros((b, w, num_stop_strings), jnp.int32),
      finished_tokens=jnp.full((b, w, m), pad_id, jnp.int32),
      finished_scores=jnp.full((b, w), _MASKED),
      finished_lengths=jnp.zeros((b, w), jnp.int32),
      finished_ended=jnp.zeros((b, w), bool),
      is_finished=jnp.zeros((b, w), bool),
      improvable=jnp.ones(b, bool),
      all_ended=jnp.zeros((), bool),
      logits=jnp.repeat(logits_bv, w, axis=0),
      positions=jnp.repeat(positions_b, w, axis=0),
      cache=cache,
      step=jnp.zeros((), jnp.int32),
  )


def search(llm: Llama, state: BeamState, knobs: sampling.Knobs, stops: StopTables,
           eos_ids: jax.Array, key: jax.Array) -> BeamState:
  """Runs beam search to the end; the best hypothesis is ``finished_*[:, 0]``."""
  b, w, m = state.running_tokens.shape
  k = max(2, 1 + eos_ids.shape[0]) * w  # HF: enough that W beams survive all-EOS steps
  vocab = state.logits.shape[-1]

  def step(s: BeamState) -> BeamState:
    logprobs = jax.nn.log_softmax(s.logits, axis=-1)
    logprobs = sampling.process(logprobs, s.running_seen.reshape(b * w, vocab), s.step, knobs,
                                eos_ids)
    logprobs = jax.lax.cond(knobs.do_sample,
                            lambda x: sampling.warp(x, knobs, min_keep=1 + eos_ids.shape[0]),
                            lambda x: x, logprobs)
    totals_bn = (logprobs.reshape(b, w, vocab) + s.running_scores[..., None]).reshape(b, w * vocab)
    cand_scores, cand_idx = top_candidates(totals_bn, k, knobs.do_sample,
                                           jax.random.fold_in(key, s.step))
    src_bk, token_bk = cand_idx // vocab, (cand_idx % vocab).astype(jnp.int32)
    cand_tokens = gather_beams(s.running_tokens, src_bk).at[:, :, s.step].set(token_bk)
    cand_seen = gather_beams(s.running_seen, src_bk)
    cand_seen = cand_seen.at[jnp.arange(b)[:, None], jnp.arange(k)[None, :], token_bk].set(True)
    cand_stop, hit_stop = stops.advance(gather_beams(s.running_stop, src_bk).reshape(b * k, -1),
                                        token_bk.reshape(-1))
    ended_bk = is_eos(token_bk.reshape(-1), eos_ids).reshape(b, k) | hit_stop.reshape(b, k)
    hits_bk = ended_bk | (s.step + 1 >= m)

    # Live beams: the best W candidates that did not end.
    running_scores, keep_bw = jax.lax.top_k(cand_scores + jnp.where(hits_bk, _MASKED, 0.0), w)
    src_bw = gather_beams(src_bk, keep_bw)

    # Finished: ended candidates among the top W join the W best so far.
    length = (s.step + 1).astype(jnp.float32)
    just_finished = hits_bk & (jnp.arange(k) < w)[None, :]
    fin_scores = cand_scores / length ** knobs.length_penalty
    fin_scores = fin_scores + jnp.where(s.improvable[:, None], 0.0, _MASKED)
    fin_scores = fin_scores + jnp.where(just_finished, 0.0, _MASKED)
    merged_scores = jnp.concatenate([s.finished_scores, fin_scores], axis=1)
    _, best_bw = jax.lax.top_k(merged_scores, w)

    def merged(old, new):
      return gather_beams(jnp.concatenate([old, new], axis=1), best_bw)

    finished_scores = gather_beams(merged_scores, best_bw)
    is_finished = merged(s.is_finished, just_finished)
    rows = (jnp.arange(b)[:, None] * w + src_bw).reshape(-1)
    running_tokens = gather_beams(cand_tokens, keep_bw)
    logits, cache = feed(llm, running_tokens[:, :, s.step].reshape(-1), s.positions[rows],
                         s.cache.take_rows(rows))

    # HF's early-stop test, at the new length.
    best_running_b1 = running_scores[:, :1] / length ** knobs.length_penalty
    worst_finished_bw = jnp.where(is_finished, jnp.min(finished_scores, axis=1, keepdims=True),
                                  _MASKED)
    improvable = s.improvable & jnp.any(best_running_b1 > worst_finished_bw, axis=1)
    return BeamState(
        running_tokens=running_tokens,
        running_scores=running_scores,
        running_seen=gather_beams(cand_seen, keep_bw),
        running_stop=gather_beams(cand_stop.reshape(b, k, -1), keep_bw),
        finished_tokens=merged(s.finished_tokens, cand_tokens),
        finished_scores=finished_scores,
        finished_lengths=merged(s.finished_lengths, jnp.full((b, k), s.step + 1)),
        finished_ended=merged(s.finished_ended, ended_bk),
        is_finished=is_finished,
        improvable=improvable,
        all_ended=jnp.all(hits_bk),
        logits=logits,
        positions=s.positions + 1,
        cache=cache,
        step=s.step + 1,
    )

  def running(s: BeamState) -> jax.Array:
    return (s.step < m) & jnp.any(s.improvable) & ~s.all_ended

  return jax.lax.while_loop(running, step, state)
