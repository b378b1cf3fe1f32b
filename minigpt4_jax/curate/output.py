"""The curated folder: what ``configs/minigpt4_stage2.py`` trains on, and what a person reviews.

  OUT/image/{id}.jpg     the kept images (links to OUT/originals/ where possible)
  OUT/filter_cap.json    {"annotations": [{"image_id", "caption"}]}, the kept pairs
  OUT/review.jsonl       per item: id, where, raw, continued, fixed, status, rule, error
  OUT/review.html        the same as a static page with thumbnails, for the manual check

``status`` is ``kept``, ``dropped`` (``rule`` names why), ``failed`` (the fix failed; the
next run retries it) or ``pending`` (not fixed yet). Every file is written under a
temporary name and renamed, so a reader never sees half a file; ``filter_cap.json``
is written last, after the images it names.
"""

from __future__ import annotations

import collections
import html
import json
import os
import pathlib
import shutil
from typing import Sequence

from minigpt4_jax.atomic import write_text_atomically
from minigpt4_jax.curate.rules import Rule, first_matches
from minigpt4_jax.curate.store import ItemState

ORIGINALS = 'originals'
UNREADABLE_RULE = 'unreadable_image'


def review_row(state: ItemState, rule: str) -> dict[str, str]:
  """The item's outcome; ``rule``: the filter rule that drops its fixed text, or ''."""
  if state.stage == 'fixed':
    status = 'dropped' if rule else 'kept'
  elif state.stage == 'unreadable':
    status, rule = 'dropped', UNREADABLE_RULE
  else:
    status = 'failed' if state.stage == 'fix_failed' else 'pending'
  return {'id': state.id, 'where': state.where, 'raw': state.raw, 'continued': state.continued,
          'fixed': state.fixed, 'status': status, 'rule': rule, 'error': state.error}


def _sync_images(out_dir: pathlib.Path, kept: Sequence[str]) -> None:
  """``image/`` holds exactly the kept images."""
  image_dir = out_dir / 'image'
  image_dir.mkdir(parents=True, exist_ok=True)
  wanted = {f'{i}.jpg' for i in kept}
  for path in image_dir.iterdir():
    if path.name not in wanted:
      path.unlink()
  for name in wanted - {p.name for p in image_dir.iterdir()}:
    source, tmp = out_dir / ORIGINALS / name, image_dir / (name + '.tmp')
    try:
      os.link(source, tmp)
    except OSError:  # another file system, or no hard links
      shutil.copyfile(source, tmp)
    os.replace(tmp, image_dir / name)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Stage-2 curation review</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px;
vertical-align: top; font-size: 13px; max-width: 28em; }}
img {{ max-width: 160px; max-height: 160px; }}
tr.kept {{ background: #eef9ee; }} tr.dropped {{ background: #fbeaea; }}
tr.failed, tr.pending {{ background: #fff6dd; }}
</style></head><body>
<h1>Stage-2 curation review</h1>
<p>{counts}. Columns: the stage-1 answer, its "Continue" answer, the fixed text that
becomes the caption, and the rule that dropped it.</p>
<table><tr><th>image</th><th>id / status</th><th>raw</th><th>continued</th><th>fixed</th></tr>
{rows}
</table></body></html>
"""


def review_html(rows: Sequence[dict[str, str]]) -> str:
  counts = collections.Counter(r['status'] for r in rows)
  summary = ', '.join(f'{counts[s]} {s}' for s in ('kept', 'dropped', 'failed', 'pending'))
  e = html.escape
  body = '\n'.join(
      f'<tr class="{r["status"]}" id="{e(r["id"])}">'
      f'<td><img loading="lazy" src="{ORIGINALS}/{e(r["id"])}.jpg" alt="{e(r["id"])}"></td>'
      f'<td>{e(r["id"])}<br><b>{r["status"]}</b>'
      f'{"<br>rule: " + e(r["rule"]) if r["rule"] else ""}'
      f'{"<br>error: " + e(r["error"]) if r["error"] else ""}</td>'
      f'<td>{e(r["raw"])}</td><td>{e(r["continued"])}</td><td>{e(r["fixed"])}</td></tr>'
      for r in rows)
  return _PAGE.format(counts=f'{len(rows)} images: {summary}', rows=body)


def write_outputs(out_dir: pathlib.Path, states: Sequence[ItemState],
                  rules: Sequence[Rule]) -> list[dict[str, str]]:
  """Filters ``states`` with ``rules`` and writes the folder; returns the review rows."""
  out_dir = pathlib.Path(out_dir)
  # The fixed texts are filtered as one set: some rules (duplicate_caption) compare them.
  fixed = [s for s in states if s.stage == 'fixed']
  drops = dict(zip((s.id for s in fixed), first_matches([s.fixed for s in fixed], rules)))
  rows = [review_row(s, drops.get(s.id) or '') for s in states]
  kept = [r for r in rows if r['status'] == 'kept']
  _sync_images(out_dir, [r['id'] for r in kept])
  write_text_atomically(out_dir / 'review.jsonl',
               ''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows))
  write_text_atomically(out_dir / 'review.html', review_html(rows))
  annotations = [{'image_id': r['id'], 'caption': r['fixed']} for r in kept]
  write_text_atomically(out_dir / 'filter_cap.json',
               json.dumps({'annotations': annotations}, ensure_ascii=False, indent=1) + '\n')
  return rows
