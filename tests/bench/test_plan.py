"""launch.plan: the tiny model's compiled step against its own analytic count and its
own byte sizes, on this host's CPU and (where libtpu is installed) a TPU topology."""

import dataclasses
import importlib.util
import json
import re

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from launch import plan as plan_cli
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import LlamaConfig
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.tools.bench import flops
from minigpt4_jax.tools.bench.sizes import STAGE1
from minigpt4_jax.tools.plan import chips, decode_plan, report, step_flops, table, train_plan

# float32, projector trains; the trainer's rows of 1 + 8 + 32 tokens padded to 48 columns
TINY_STAGE1 = 'configs/tiny.py:stage1'


def _nbytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _plan(tmp_path, capsys, *args) -> tuple[dict, str]:
  out = tmp_path / 'plan.json'
  plan_cli.main(['--config', TINY_STAGE1, *args, '--json', str(out)])
  return json.loads(out.read_text()), capsys.readouterr().out


def _check_tiny_stage1(figures: dict, batch: int, layout_padding: float = 0.0) -> None:
  cfg = preset('tiny')
  # The hand-checked count of tests/bench/test_flops.py, at the trainer's 48 columns
  # (sequences.fixed_length of 41); logits from the image's last slot (first target 9).
  t = 48
  columns = dataclasses.replace(STAGE1, answer=t - 1 - cfg.num_image_tokens)
  analytic = flops.train_step(cfg, columns, batch, logits_from=8).total
  assert figures['analytic_flops'] == analytic
  xla = figures['xla_flops_per_device'] * figures['devices']
  assert analytic <= xla <= 1.12 * analytic  # elementwise work on top of the matmuls
  # Arguments per device (pure data parallel): every weight (float32 here) and AdamW's
  # two moments of the projector, replicated; the device's share of the batch (uint8
  # crops); a few scalars (step, Adam's count) on top.
  model = VisionLanguageModel(cfg, rngs=nnx.Rngs(0))
  projector = _nbytes(nnx.state(model.projector))
  size = cfg.vision.image_size
  rows = batch // figures['devices']
  expected = _nbytes(nnx.state(model)) + 2 * projector + rows * (3 * 4 * t + size * size * 3)
  assert expected <= figures['argument_bytes'] <= expected * (1 + layout_padding) + 64
  assert figures['fits'] and figures['alias_bytes'] > 0  # trainable and optimizer donated


def test_tiny_stage1_on_cpu_matches_its_own_count(tmp_path, capsys):
  figures, printed = _plan(tmp_path, capsys, '--topology', 'cpu', '--batch', '8')
  _check_tiny_stage1(figures, 8)
  assert f'analytic {figures["analytic_flops"] / figures["devices"]:.4g}' in printed
  assert f'ratio {figures["flops_ratio"]:.3f}' in printed
  seconds = figures['analytic_flops'] / (figures['devices'] * chips.CHIPS['cpu'].peak_bf16_flops
                                        * 0.5)
  assert figures['step_seconds']['50%'] == pytest.approx(seconds, rel=1e-12)
  assert figures['images_per_second']['50%'] == pytest.approx(8 / seconds, rel=1e-12)
  # BENCHMARKS.md's row for it.
  row = table.row(tmp_path / 'plan.json')
  assert row.startswith('| plan | 8 x cpu, data 8 | 1 |') and f'{figures["flops_ratio"]:.3f}' in row
  # And its row in the remat policies' table: no remat, the step at half of peak.
  row = table.policy_row(tmp_path / 'plan.json')
  step = figures['xla_flops_per_device'] / (0.5 * chips.CHIPS['cpu'].peak_bf16_flops)
  assert row.startswith('| none | 8 x cpu, data 8, 2 | 1 |')
  assert f'| {step * 1e3:.0f} ms | - |' in row
  # The LLM's blocks scanned: the same parameters and batch, one block's loop compiled.
  scanned, printed = _plan(tmp_path, capsys, '--topology', 'cpu', '--batch', '8', '--scan-layers')
  assert not figures['scan_layers'] and scanned['scan_layers']
  assert scanned['argument_bytes'] == figures['argument_bytes']
  assert f'2 LLM layers (scanned); compiled in {scanned["compile_seconds"]:.1f} s' in printed


def test_accumulated_step_counts_every_micro_batch(tmp_path, capsys):
  """XLA's cost analysis counts the accumulation loop's body once: the plan scales its
  FLOPs to the whole step, which does the same matmuls as one pass over the batch."""
  whole, _ = _plan(tmp_path, capsys, '--topology', 'cpu', '--batch', '16')
  accumulated, printed = _plan(tmp_path, capsys, '--topology', 'cpu', '--batch', '16',
                               '--grad-accum', '2')
  assert (whole['grad_accum'], accumulated['grad_accum']) == (1, 2)
  assert accumulated['analytic_flops'] == whole['analytic_flops']
  assert accumulated['xla_flops_per_device'] == pytest.approx(whole['xla_flops_per_device'],
                                                              rel=1e-3)
  assert accumulated['temp_bytes'] < whole['temp_bytes']  # one micro-batch's activations live
  assert '2 LLM layers, 2 micro-batches of 8;' in printed
  row = table.row(tmp_path / 'plan.json')
  assert '| 8 x cpu, data 8 | 2 in 2 micro-batches |' in row and ' a micro-step |' in row


def test_policy_table_counts_recompute_against_the_step_without_remat(tmp_path, capsys):
  """Recompute is XLA's FLOPs above the same step planned with remat 'none' (a Pallas
  kernel's own FLOP count cancels out), or above the analytic count without one."""
  plans = {}
  for remat in ('none', 'full'):
    plans[remat], _ = _plan(tmp_path, capsys, '--topology', 'cpu', '--batch', '8',
                            '--remat', remat)
    (tmp_path / f'{remat}.json').write_text(json.dumps(plans[remat]))
  paths = [tmp_path / 'none.json', tmp_path / 'full.json']
  baselines = table.no_remat_flops(paths)
  assert list(baselines.values()) == [plans['none']['xla_flops_per_device']]
  against_none = 1 - plans['none']['xla_flops_per_device'] / plans['full']['xla_flops_per_device']
  assert against_none > 0.05  # the frozen LLM's forward runs again in the backward
  assert f'| {against_none:.1%} |' in table.policy_row(paths[1], baselines)
  assert f'| {plans["full"]["recompute_share"]:.1%} |' in table.policy_row(paths[1])
  assert '| 0.0% |' in table.policy_row(paths[0], baselines)
  # A --find-max-batch file counts by its largest clean plan, as its row shows it.
  search = tmp_path / 'none_search.json'
  search.write_text(json.dumps({'largest_clean': plans['none'], 'tried': [plans['none']]}))
  assert table.no_remat_flops([search, paths[1]]) == baselines
  assert table.policy_row(search, baselines).endswith('| 1 |')


@pytest.mark.skipif(importlib.util.find_spec('libtpu') is None,
                    reason="needs the TPU compiler: pip install '.[tpu]' (CI's tpu venv)")
def test_tiny_stage1_on_a_v5e_slice_matches_its_own_count(tmp_path, capsys):
  figures, _ = _plan(tmp_path, capsys, '--topology', 'v5e:2x2', '--batch', '8')
  assert figures['devices'] == 4 and figures['mesh']['data'] == 4
  # TPU arrays live in (8, 128) tiles: the tiny model's 16/64-wide dims are padded.
  _check_tiny_stage1(figures, 8, layout_padding=0.5)


def test_llm_training_adds_weight_gradients():
  """LLaVA stage 2 trains the LLM: each linear's weight gradient (1x its forward) on
  top of stage 1's count; the mlp2x_gelu projector: both weight gradients and the
  second layer's input gradient."""
  cfg = preset('tiny_llava')
  seq, q = 64, cfg.num_image_tokens
  llm = flops.llm_forward(cfg.llm, seq, q)
  frozen_llm = step_flops.train_step(cfg, seq, 2, q, llm_trains=False)
  assert step_flops.train_step(cfg, seq, 2, q, llm_trains=True) == frozen_llm + 2 * llm.linear
  first = flops.dense(q, cfg.projector_in, cfg.llm.hidden).total
  second = flops.dense(q, cfg.llm.hidden, cfg.llm.hidden).total
  assert step_flops.projector_step(cfg) == 2 * first + 3 * second
  # Cached features (data.kind=features, launch.plan --features): no tower forward.
  towers = flops.vit_forward(cfg.vision).total
  assert step_flops.train_step(cfg, seq, 2, q, False, from_features=True) == frozen_llm - 2 * towers


def test_decode_ideal_bytes_are_the_weights_and_the_cache(tmp_path, capsys):
  figures, printed = _plan(tmp_path, capsys, '--topology', 'cpu', '--what', 'decode',
                           '--batch', '2', '--cache-len', '64')
  cfg = preset('tiny').llm
  llm = Llama(cfg, dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  assert figures['weight_bytes'] == _nbytes(nnx.state(llm))
  assert figures['cache_bytes'] == 2 * cfg.num_layers * 2 * 64 * cfg.num_kv_heads \
      * cfg.head_dim * 2
  assert figures['bytes_accessed'] >= figures['ideal_bytes'] * 0.5
  assert f'{figures["bytes_ratio"]:.2f}x' in printed
  assert f'= {figures["bytes_ratio"]:.2f}x' in table.row(tmp_path / 'plan.json')
  # A CPU program has no on-chip memory space to prefetch into.
  assert figures['prefetch_copies'] == figures['prefetch_bytes'] == 0
  assert figures['bytes_less_prefetch_copies'] == figures['bytes_accessed']
  assert f'counted once: {report.gib(figures["bytes_less_prefetch_copies"])}' in printed
  assert 'prefetches counted once' in table.row(tmp_path / 'plan.json')


def test_on_chip_prefetches_are_the_copy_starts_into_memory_space_1():
  """Two prefetches (a bf16 kernel, a pred vector) and an eviction back to HBM, as a
  compiled TPU program prints them."""
  text = """
  %copy-start = (bf16[4096,4096]{1,0:T(8,128)(2,1)S(1)}, bf16[4096,4096]{1,0:T(8,128)(2,1)}, u32[]{:S(2)}) copy-start(%kernel), cross_program_prefetch_index=0
  %copy-start.1 = (pred[8]{0:T(512)(128)(4,1)S(1)}, pred[8]{0:T(512)(128)(4,1)}, u32[]{:S(2)}) copy-start(%valid)
  %copy-start.2 = (f32[8,128]{1,0:T(8,128)}, f32[8,128]{1,0:T(8,128)S(1)}, u32[]{:S(2)}) copy-start(%spilled)
  %copy-done = bf16[4096,4096]{1,0:T(8,128)(2,1)S(1)} copy-done(%copy-start)
"""
  assert decode_plan.on_chip_prefetches(text) == (2, 4096 * 4096 * 2 + 8)


def _copied_parameters(hlo_text: str) -> set[str]:
  """Names of the parameters that a ``copy`` in the entry computation reads (through
  bitcasts): a copy of a weight is a per-call relayout of it."""
  entry = hlo_text[hlo_text.index('\nENTRY '):]
  operand = dict(re.findall(r'%([\w.\-]+) = [^\n]*? (?:bitcast|copy)\(%([\w.\-]+)\)', entry))
  copies = re.findall(r'%[\w.\-]+ = [^\n]*? copy\(%([\w.\-]+)\)', entry)
  names = set()
  for name in copies:
    while name in operand:
      name = operand[name]
    names.add(name)
  return names


@pytest.mark.skipif(importlib.util.find_spec('libtpu') is None,
                    reason="needs the TPU compiler: pip install '.[tpu]' (CI's tpu venv)")
def test_decode_on_a_v5e_chip_reads_the_kernels_in_their_stored_layout():
  """A 1-layer LLM with 128-wide heads (the 7B's), compiled for v5e: no q/k/v kernel
  is copied into another layout (the head split folded into the matmul did that every
  step before ``llama.project_heads``)."""
  cfg = LlamaConfig(vocab_size=1024, hidden=512, num_layers=1, num_heads=4, num_kv_heads=4,
                    head_dim=128, mlp_dim=1024)
  device = chips.devices(chips.parse('v5e:2x2'))[0]
  compiled, _, _ = decode_plan.compile_decode_step(cfg, device, batch=8, cache_len=256)
  copied = _copied_parameters(compiled.as_text())
  assert not [name for name in copied if 'kernel' in name], copied


@pytest.mark.parametrize('args, message', [
    (['--topology', 'v9:2x2'], '--topology'),
    (['--topology', 'cpu', '--batch', '6'], 'batch 6 must divide by 8'),
    (['--mesh', '1,4'], '--mesh'),
    (['--topology', 'cpu', '--llm-layers', '0'], '--llm-layers 0: expected at least 1'),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
  with pytest.raises(SystemExit) as exit_:
    plan_cli.main(['--config', TINY_STAGE1, *args])
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert message in err and err.count('\n') == 1


def test_a_missing_config_file_exits_2(capsys):
  with pytest.raises(SystemExit) as exit_:
    plan_cli.main(['--config', 'configs/nope.py:x', '--topology', 'cpu'])
  assert exit_.value.code == 2 and 'configs/nope.py' in capsys.readouterr().err


@pytest.mark.parametrize('largest', [0, 1, 5, 8, 13])
def test_find_max_batch_bisects_to_the_largest_clean_multiple(monkeypatch, largest):
  """The search over multiples of the data-parallel size (8 CPU devices here), with
  compiles replaced by a rule: clean up to ``largest`` multiples."""
  compiled = []

  @dataclasses.dataclass
  class Plan:
    batch: int
    clean: bool
    flops_ratio: float = 1.2  # a remat policy's own recompute
    policy_ratio: float = 1.0

  def plan(request, batch, policy_ratio=1.0):
    compiled.append(batch)
    assert policy_ratio == (1.0 if len(compiled) == 1 else 1.2)  # the first plan's ratio
    return Plan(batch, batch <= largest * 8)

  monkeypatch.setattr(train_plan, 'plan_train', plan)
  request = train_plan.TrainRequest(train_plan.load_config(TINY_STAGE1), chips.CHIPS['cpu'],
                                    jax.devices())
  best, tried = train_plan.find_max_batch(request)
  assert (best.batch if best else 0) == largest * 8
  assert len(tried) == len(compiled) <= 2 * max(largest, 1).bit_length() + 1


def test_tiny_llava_stage2_counts_the_llm_weight_gradients_and_remat(tmp_path, capsys):
  """Stage 2 trains the LLM: XLA's count sits within elementwise work above ours, so the
  weight-gradient term (about a third of the LLM's step) is neither missing nor doubled.
  Remat adds what its policy recomputes: 'full' every block matmul whose output the
  backward needs (all but down_proj's), 'mlp' only q/k/v and the attention core."""
  def xla_flops(remat: str) -> dict:
    out = tmp_path / f'{remat}.json'
    plan_cli.main(['--config', 'configs/tiny_llava.py:stage2', '--topology', 'cpu',
                   '--batch', '8', '--seq', '128', '--remat', remat, '--json', str(out)])
    return json.loads(out.read_text())

  figures = xla_flops('none')
  cfg = preset('tiny_llava')
  q = cfg.num_image_tokens
  assert figures['analytic_flops'] == step_flops.train_step(cfg, 128, 8, q, llm_trains=True)
  assert 1.0 <= figures['flops_ratio'] <= 1.12
  llm, t = cfg.llm, 128
  heads, kv = llm.num_heads * llm.head_dim, llm.num_kv_heads * llm.head_dim
  qkv_core = (flops.dense(t, llm.hidden, heads) + flops.dense(t, llm.hidden, kv) * 2
              + flops.attention_core(t, t, heads)).total * llm.num_layers * 8
  o_gate_up = (flops.dense(t, heads, llm.hidden) + flops.dense(t, llm.hidden, llm.mlp_dim) * 2
               ).total * llm.num_layers * 8
  none = figures['xla_flops_per_device']
  full = xla_flops('full')['xla_flops_per_device'] - none
  mlp = xla_flops('mlp')['xla_flops_per_device'] - none
  assert 1.0 <= full * 8 / (qkv_core + o_gate_up) <= 1.12
  assert qkv_core <= mlp * 8 < full * 8 - 0.9 * o_gate_up
