"""Decoding against transformers: the cache, greedy, processors, beams, batching."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from minigpt4_jax.generate import decode
from minigpt4_jax.generate.compile_log import compile_log
from minigpt4_jax import families
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.models.llama import KVCache, positions_from_mask
from tests import reference
from tests.generate.conftest import (EOS_PRONE, MAX_NEW, hf_generate, ours, reference_llm,
                                    spliced_prompts)

GREEDY = GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False, min_new_tokens=0)


def test_cached_decoding_matches_uncached_forward(model, hf_llm):
  """Prefill of a left-padded batch + 6 cached steps = one full forward over prompt
  + tokens (ours, and transformers' on the unpadded rows)."""
  llm = model.llm
  lengths = [20, 13]
  embeds, mask = spliced_prompts(model, lengths)
  steps = np.random.default_rng(1).integers(3, llm.cfg.vocab_size, size=(2, 6)).astype(np.int32)
  t = embeds.shape[1]

  logits, cache, positions = nnx.jit(decode.prefill, static_argnums=3)(
      llm, jnp.asarray(embeds), jnp.asarray(mask), t + steps.shape[1])
  cached = [logits]
  feed = nnx.jit(decode.feed)
  for i in range(steps.shape[1]):
    logits, cache = feed(llm, jnp.asarray(steps[:, i]), positions + i, cache)
    cached.append(logits)
  cached_btv = np.stack(cached, axis=1)[:, :-1]  # logits predicting each fed position

  full_embeds = np.concatenate([embeds, np.asarray(llm.embed(jnp.asarray(steps)))], axis=1)
  full_mask = np.concatenate([mask, np.ones_like(steps, bool)], axis=1)
  uncached = nnx.jit(lambda m, e, a: m(inputs_embeds=e, attention_mask=a))(
      llm, jnp.asarray(full_embeds), jnp.asarray(full_mask))
  uncached_btv = np.asarray(uncached)[:, t - 1:-1]
  assert reference.max_rel_err(cached_btv, uncached_btv) < 1e-5

  for b, n in enumerate(lengths):
    with torch.no_grad():
      hf = hf_llm(inputs_embeds=torch.from_numpy(full_embeds[b:b + 1, t - n:])).logits.numpy()
    assert reference.max_rel_err(cached_btv[b], hf[0, n - 1:-1]) < 1e-5


def test_a_shared_cache_index_writes_what_per_row_indices_write(model):
  """The generator's cache (one index for every row, one dynamic_update_slice a step)
  and the server's (an index per row, here all equal) hold the same keys and values
  and give the same logits, through prefill and cached steps."""
  llm = model.llm
  embeds, mask = spliced_prompts(model, [20, 13])
  steps = np.random.default_rng(2).integers(3, llm.cfg.vocab_size, size=(2, 4)).astype(np.int32)
  t = embeds.shape[1]

  def run(llm, embeds, mask, steps, per_row_index):
    cache = KVCache.empty(llm.cfg, 2, t + steps.shape[1], llm.embed_tokens.dtype,
                          per_row_index=per_row_index)
    positions = positions_from_mask(mask)
    logits, cache = llm(inputs_embeds=embeds, attention_mask=mask, positions=positions,
                        cache=cache, first_logit=t - 1)
    all_logits = [logits[:, 0]]
    for i in range(steps.shape[1]):
      logits, cache = decode.feed(llm, steps[:, i], positions[:, -1] + 1 + i, cache)
      all_logits.append(logits)
    return jnp.stack(all_logits, axis=1), cache

  program = nnx.jit(run, static_argnums=4)
  args = (llm, jnp.asarray(embeds), jnp.asarray(mask), jnp.asarray(steps))
  shared_logits, shared = program(*args, False)
  per_row_logits, per_row = program(*args, True)
  assert shared.index.shape == () and per_row.index.shape == (2,)
  np.testing.assert_array_equal(per_row.index, [shared.index] * 2)
  np.testing.assert_array_equal(shared.slot_valid, per_row.slot_valid)
  # The same values, up to float32 rounding where XLA fuses the two programs differently.
  for a, b in zip(shared.k + shared.v, per_row.k + per_row.v):
    assert reference.max_rel_err(np.asarray(a), np.asarray(b)) < 1e-6
  assert reference.max_rel_err(np.asarray(shared_logits), np.asarray(per_row_logits)) < 1e-6


def test_greedy_matches_transformers(model, hf_llm):
  embeds, mask = spliced_prompts(model, [20])
  ours = Generator(model.llm).generate(embeds, mask, GREEDY)
  theirs = hf_generate(hf_llm, embeds, mask, do_sample=False)
  assert ours.sequences() == theirs
  assert len(theirs[0]) == MAX_NEW and len(set(theirs[0])) > 10  # not a degenerate loop


@pytest.mark.filterwarnings('ignore:Passing `repetition_penalty`')
def test_repetition_penalty_and_min_new_tokens_match_transformers(pairs):
  hf_llm_eos, model_eos = pairs(EOS_PRONE)
  embeds, mask = spliced_prompts(model_eos, [20])
  gen = Generator(model_eos.llm)
  plain = gen.generate(embeds, mask, GREEDY).sequences()[0]
  assert plain[-1] == 2 and len(plain) < 12, 'the EOS-prone model should end early'
  for penalty, min_new in ((1.3, 0), (1.0, 14), (1.3, 14)):
    config = GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False,
                              repetition_penalty=penalty, min_new_tokens=min_new)
    ours = gen.generate(embeds, mask, config).sequences()
    theirs = hf_generate(hf_llm_eos, embeds, mask, do_sample=False,
                         repetition_penalty=penalty, min_new_tokens=min_new)
    assert ours == theirs, (penalty, min_new)
    assert len(ours[0]) > min_new


@pytest.mark.parametrize('length_penalty', [1.0, 0.5, 2.0])
def test_beam_search_matches_transformers(pairs, length_penalty):
  hf_llm_eos, model_eos = pairs(EOS_PRONE)
  embeds, mask = spliced_prompts(model_eos, [20])
  config = GenerationConfig(max_new_tokens=MAX_NEW, num_beams=3, do_sample=False,
                            min_new_tokens=0, length_penalty=length_penalty)
  ours = Generator(model_eos.llm).generate(embeds, mask, config)
  theirs = hf_generate(hf_llm_eos, embeds, mask, do_sample=False, num_beams=3,
                       length_penalty=length_penalty)
  assert ours.sequences() == theirs
  assert ours.ended[0] == (theirs[0][-1] == 2)


def test_beam_search_length_penalty_changes_the_answer(pairs):
  """The case above is not trivial: a short EOS-ended hypothesis competes with longer ones."""
  model_eos = pairs(EOS_PRONE)[1]
  embeds, mask = spliced_prompts(model_eos, [20])
  gen = Generator(model_eos.llm)
  answers = {tuple(gen.generate(embeds, mask, GenerationConfig(
      max_new_tokens=MAX_NEW, num_beams=3, do_sample=False, min_new_tokens=0,
      length_penalty=lp)).sequences()[0]) for lp in (1.0, 0.5, 2.0)}
  assert len(answers) >= 2 and (2,) in answers


def test_mixed_length_batch_equals_each_prompt_alone(model):
  lengths = [20, 13, 9]
  embeds, mask = spliced_prompts(model, lengths)
  gen = Generator(model.llm)
  batch = gen.generate(embeds, mask, GREEDY).sequences()
  alone = [gen.generate(embeds[b:b + 1, -n:], mask[b:b + 1, -n:], GREEDY).sequences()[0]
           for b, n in enumerate(lengths)]
  assert batch == alone


def test_sampling_is_seeded_and_streaming_gives_the_same_tokens(model):
  embeds, mask = spliced_prompts(model, [20])
  gen = Generator(model.llm)
  config = GenerationConfig(max_new_tokens=MAX_NEW, temperature=1.5, top_k=0)
  once = gen.generate(embeds, mask, config, seed=7).sequences()[0]
  streamed = sum((chunk[0] for chunk in gen.stream(embeds, mask, config, seed=7, chunk=5)), [])
  assert streamed == once
  assert gen.generate(embeds, mask, config, seed=8).sequences()[0] != once
  greedy = gen.generate(embeds, mask, GREEDY).sequences()[0]
  assert once != greedy


def test_jitted_programs_are_reused_across_calls(model):
  embeds, mask = spliced_prompts(model, [20])
  gen = Generator(model.llm)
  gen.generate(embeds, mask, GREEDY)
  with compile_log() as compiled:
    gen.generate(embeds, mask, GenerationConfig(max_new_tokens=MAX_NEW, temperature=0.7))
    gen.generate(embeds[:, 3:], mask[:, 3:], GREEDY)  # shorter prompt, same bucket
    list(gen.stream(embeds, mask, GREEDY, chunk=8))
  assert not {'start_program', 'decode_program'} & set(compiled), compiled


def bos_started(hf_llm, embeds, mask, **kwargs) -> list[list[int]]:
  """transformers ``generate`` with ``input_ids=[[BOS]]`` beside the embeddings: the
  sequence transformers 4.30's ``generate(inputs_embeds=...)`` built; BOS dropped."""
  bos = torch.full((embeds.shape[0], 1), hf_llm.config.bos_token_id)
  rows = hf_generate(hf_llm, embeds, mask, input_ids=bos, **kwargs)
  assert all(row[0] == hf_llm.config.bos_token_id for row in rows)
  return [row[1:] for row in rows]


@pytest.fixture(scope='module')
def bos_prone(arch):
  """An oracle (and ours) whose BOS logit is large, so penalising it changes answers."""
  hf = reference_llm(arch, 1.0)
  with torch.no_grad():
    hf.lm_head.weight[arch.llm.bos_token_id] *= 6.0
  return hf, ours(arch, hf)


@pytest.mark.filterwarnings('ignore:Passing `repetition_penalty`')
def test_bos_started_sequence_matches_transformers(bos_prone, pairs):
  """MiniGPT-4's chat under 4.30: min_length 1 counts the BOS (never bans EOS) and the
  repetition penalty counts it too: MiniGPT-4's chat defaults (greedy here)."""
  chat = GenerationConfig(**{**families.get('minigpt4').chat_defaults,
                             'max_new_tokens': MAX_NEW, 'do_sample': False})
  assert (chat.repetition_penalty, chat.min_new_tokens, chat.starts_with_bos) == (1.05, 0, True)
  for hf_llm, model, penalty in ((*bos_prone, 1.05), (*bos_prone, 3.0), (*pairs(EOS_PRONE), 1.3)):
    embeds, mask = spliced_prompts(model, [20])
    config = dataclasses.replace(chat, repetition_penalty=penalty)
    theirs = bos_started(hf_llm, embeds, mask, do_sample=False, min_length=1,
                         repetition_penalty=penalty)
    assert Generator(model.llm).generate(embeds, mask, config).sequences() == theirs, penalty
  # Not vacuous: counting the BOS changes this model's answer.
  hf_llm, model = bos_prone
  embeds, mask = spliced_prompts(model, [20])
  config = dataclasses.replace(chat, repetition_penalty=3.0)
  gen = Generator(model.llm)
  assert (gen.generate(embeds, mask, config).sequences()
          != gen.generate(embeds, mask, dataclasses.replace(config, starts_with_bos=False))
          .sequences())
