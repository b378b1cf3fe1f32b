"""MiniGPT-v2's training samples from official-layout files, box text exact, and the
per-batch mixture of conversation sources."""

import json
import pickle

import pytest

from PIL import Image

from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.transforms import eval_image
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.tools import minigptv2_samples as v2data
from tests.evaluate import official
from tests.evaluate.official_v2 import ref


def write_refs(tmp_path):
  with open(tmp_path / 'refs(unc).p', 'wb') as f:
    pickle.dump([ref('train', [(1, 'Left Dog!')]), ref('val', [(2, 'other')])], f, protocol=2)
  (tmp_path / 'instances.json').write_text(json.dumps({
      'images': [{'id': 7, 'file_name': 'COCO_train2014_000000000007.jpg', 'width': 200,
                  'height': 100}],
      'annotations': [{'id': 70, 'image_id': 7, 'bbox': [33.3, 12.7, 100.1, 50.6]}]}))
  return tmp_path / 'refs(unc).p', tmp_path / 'instances.json'


# [33.3, 12.7, 100.1, 50.6] on 200 x 100 -> corners (33.3, 12.7, 133.4, 63.3) -> x / 200 * 100,
# y / 100 * 100 truncated: 16.65 -> 16, 12.7 -> 12, 66.7 -> 66, 63.3 -> 63.
BOX = '{<16><12><66><63>}'


def test_refer_and_identify_samples(tmp_path):
  refs, instances = write_refs(tmp_path)
  [refer] = v2data.refcoco_samples(refs, instances, 'refer', seed=0)
  human, gpt = refer['conversations']
  assert refer['image'] == 'COCO_train2014_000000000007.jpg'
  assert gpt == {'from': 'gpt', 'value': BOX}
  instruction = human['value'].removeprefix('<image>\n')
  assert instruction in [p.format('left dog') for p in v2data.REFER_POOL]  # blip_caption-cleaned
  [identify] = v2data.refcoco_samples(refs, instances, 'identify', seed=0)
  assert identify['conversations'][1]['value'] == 'left dog'
  assert identify['conversations'][0]['value'].removeprefix('<image>\n') in [
      p.format(BOX) for p in v2data.IDENTIFY_POOL]
  # The draw is a function of (seed, sample): the same every time.
  assert v2data.refcoco_samples(refs, instances, 'refer', seed=0) == [refer]


def test_vqa_samples(tmp_path):
  q = official.write_json(tmp_path / 'q.json', official.vqa_questions())
  a = official.write_json(tmp_path / 'a.json', official.vqa_annotations())
  samples = v2data.vqa_samples(q, a, seed=1)
  assert samples[0]['image'] == 'COCO_val2014_000000000042.jpg'
  assert samples[0]['conversations'][0]['value'].removeprefix('<image>\n') in [
      p.format('is the dog asleep?') for p in v2data.VQA_POOL]  # blip_caption, as the original
  assert samples[0]['conversations'][1]['value'] == 'yes'  # ten annotators said yes
  assert samples[2]['conversations'][1]['value'] in ('frisbee', 'disc')


def _qa(sample) -> tuple[str, str]:
  human, gpt = sample['conversations']
  return human['value'].removeprefix('<image>\n'), gpt['value']


def test_aokvqa_samples_draw_a_direct_answer(tmp_path):
  path = official.write_json(tmp_path / 'aokvqa_v1p0_train.json', official.aokvqa())
  first, second = v2data.aokvqa_samples(path, seed=0)
  assert first['image'] == '000000299207.jpg' and first['id'] == 'aokvqa-22MexNkBPpdZGX6sxbxVBH'
  question, answer = _qa(first)
  assert question in [p.format('what is the man by the bags awaiting?') for p in v2data.VQA_POOL]
  assert answer in official.aokvqa()[0]['direct_answers']  # never a multiple-choice option
  assert _qa(second)[1] == 'blue'
  # By frequency: over many seeds 'ride', 'taxi' and 'cab' (2 of 10 each) come up about as
  # often as each other and twice as often as 'bus' (1 of 10).
  drawn = [_qa(v2data.aokvqa_samples(path, seed=s)[0])[1] for s in range(400)]
  assert 0.12 < drawn.count('cab') / 400 < 0.28 and 0.03 < drawn.count('bus') / 400 < 0.17


def test_gqa_samples(tmp_path):
  path = official.write_json(tmp_path / 'train_balanced_questions.json', official.gqa())
  samples = v2data.gqa_samples(path, seed=2)
  assert [s['image'] for s in samples] == ['n161313.jpg', 'n288870.jpg']
  assert _qa(samples[0])[0] in [p.format('is it overcast?') for p in v2data.VQA_POOL]
  assert [_qa(s)[1] for s in samples] == ['no', 'woman']  # the short answer, not fullAnswer


def test_ocrvqa_samples_keep_the_training_split(tmp_path):
  path = official.write_json(tmp_path / 'dataset.json', {
      '1234567': {'imageURL': 'http://ecx.images-amazon.com/images/I/51x.jpg', 'title': 'A Book',
                  'authorName': 'Someone', 'genre': 'Travel', 'split': 1,
                  'questions': ['Who wrote this book?', 'Is this a travel book?'],
                  'answers': ['Someone', 'Yes']},
      '7654321': {'imageURL': 'http://ecx.images-amazon.com/images/I/41y.png', 'title': 'B',
                  'authorName': 'X', 'genre': 'Art', 'split': 3,
                  'questions': ['What is the title?'], 'answers': ['B']}})
  samples = v2data.ocrvqa_samples(path)
  assert [s['image'] for s in samples] == ['1234567.jpg', '1234567.jpg']
  assert [_qa(s)[1] for s in samples] == ['someone', 'yes']
  assert _qa(samples[0])[0] in [p.format('who wrote this book?') for p in v2data.VQA_POOL]
  broken = official.write_json(tmp_path / 'broken.json', {
      '1': {'imageURL': 'a.jpg', 'split': 1, 'questions': ['q1', 'q2'], 'answers': ['a']}})
  with pytest.raises(ValueError, match=r"broken.json: record id='1': field 'answers': 2 questions"):
    v2data.ocrvqa_samples(broken)


def test_caption_samples(tmp_path):
  karpathy = official.write_json(tmp_path / 'dataset_coco.json', official.karpathy())
  [coco] = v2data.coco_caption_samples(karpathy, seed=0)  # the train split only
  assert coco['image'] == 'COCO_train2014_000000000009.jpg'
  instruction, caption = _qa(coco)
  assert instruction in [f'[caption] {p}' for p in v2data.CAPTION_POOL] and caption == 'a cat'
  textcaps = official.write_json(tmp_path / 'TextCaps_0.1_train.json', {'data': [
      {'image_id': '011e7e629fb9ae7b', 'caption_str': 'A sign that says "STOP: No Entry."',
       'image_classes': ['Sign'], 'caption_id': 1}]})
  [sample] = v2data.textcaps_samples(textcaps, seed=0)
  assert sample['image'] == '011e7e629fb9ae7b.jpg'
  assert _qa(sample)[1] == 'a sign that says stop no entry'
  assert len(v2data.CAPTION_POOL) == 17


def test_flickr_detection_samples(tmp_path):
  captions = official.write_json(tmp_path / 'captiontobbox.json', [
      {'image_id': '1000092795', 'caption': 'Two young guys are outside.',
       'output': '<p>two young guys</p> {<10><20><30><40>}<delim>{<50><20><70><40>}'}])
  [caption] = v2data.flickr_caption_to_object_samples(captions)
  assert caption['image'] == 'flickr30k-images/1000092795.jpg'  # as the grounded captions'
  assert _qa(caption) == ('[detection] Two young guys are outside.',
                          '<p>two young guys</p> {<10><20><30><40>}<delim>{<50><20><70><40>}')
  phrases = official.write_json(tmp_path / 'phrasetobbox.json', [
      {'image_id': 42, 'phrase': 'a red hat', 'bbox': '{<1><2><3><4>}'}])
  [phrase] = v2data.flickr_phrase_to_object_samples(phrases)
  assert phrase['image'] == 'flickr30k-images/42.jpg'
  assert _qa(phrase) == ('[detection] a red hat', '<p>a red hat</p> {<1><2><3><4>}')


def test_refvg_samples_keep_small_regions(tmp_path):
  regions = official.write_json(tmp_path / 'region_descriptions.json', [{'id': 1, 'regions': [
      {'region_id': 11, 'image_id': 1, 'x': 421, 'y': 57, 'width': 82, 'height': 139,
       'phrase': 'Shade is along the street.'},
      {'region_id': 12, 'image_id': 1, 'x': 0, 'y': 0, 'width': 128, 'height': 128,
       'phrase': 'too big: 16384 px'}]}])
  images = official.write_json(tmp_path / 'image_data.json', [
      {'image_id': 1, 'url': 'https://cs.stanford.edu/people/rak248/VG_100K_2/1.jpg',
       'width': 800, 'height': 600, 'coco_id': None, 'flickr_id': None}])
  [sample] = v2data.refvg_samples(regions, images, seed=0)
  assert sample['image'] == 'VG_100K_2/1.jpg'
  # (421, 57, 82, 139) on 800 x 600: 52.6 -> 52, 9.5 -> 9, 503 / 8 = 62.9 -> 62, 196 / 6 -> 32.
  question, answer = _qa(sample)
  assert answer == '{<52><9><62><32>}'
  assert question in [p.format('shade is along the street') for p in v2data.REFER_POOL]
  orphan = official.write_json(tmp_path / 'no_images.json', [])
  with pytest.raises(ValueError, match=r"region 0: field 'image_id': image 1 is not in"):
    v2data.refvg_samples(regions, orphan)


def test_multitask_conversation_samples(tmp_path):
  path = official.write_json(tmp_path / 'multitask_conversation.json', [{
      'id': '000000033471', 'conversations': [
          {'from': 'human', 'value': '<image>\nWhat are the colors of the bus?'},
          {'from': 'gpt', 'value': 'White and red.'},
          {'from': 'human', 'value': '[refer] the bus'},
          {'from': 'gpt', 'value': '{<10><20><90><80>}'}]}])
  [sample] = v2data.multitask_conversation_samples(path)
  assert sample['image'] == 'COCO_train2014_000000033471.jpg'
  assert [t['value'] for t in sample['conversations']] == [
      '<image>\nWhat are the colors of the bus?', 'White and red.', '[refer] the bus',
      '{<10><20><90><80>}']
  odd = official.write_json(tmp_path / 'odd.json', [{'id': '1', 'conversations': [
      {'from': 'human', 'value': 'q'}]}])
  with pytest.raises(ValueError, match='1 turns; expected question, answer pairs'):
    v2data.multitask_conversation_samples(odd)


FLICKR_XML = """<annotation><filename>42.jpg</filename>
<size><width>500</width><height>333</height><depth>3</depth></size>
<object><name>18</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>110</xmax><ymax>220</ymax></bndbox></object>
<object><name>19</name><name>21</name><bndbox><xmin>250</xmin><ymin>0</ymin><xmax>499</xmax><ymax>332</ymax></bndbox></object>
<object><name>19</name><bndbox><xmin>0</xmin><ymin>100</ymin><xmax>50</xmax><ymax>200</ymax></bndbox></object>
<object><name>20</name><nobndbox>1</nobndbox></object>
</annotation>"""


def test_flickr_grounded_caption(tmp_path):
  (tmp_path / 'Annotations').mkdir()
  (tmp_path / 'Sentences').mkdir()
  (tmp_path / 'Annotations' / '42.xml').write_text(FLICKR_XML)
  (tmp_path / 'Sentences' / '42.txt').write_text(
      '[/EN#18/people A man] walks [/EN#19/animals two dogs] under [/EN#20/scene the sky] .\n'
      '[/EN#18/people Someone] outside .\n')
  [sample] = v2data.flickr_grounded_samples(tmp_path, ['42'])
  assert sample['image'] == 'flickr30k-images/42.jpg'
  assert sample['conversations'][0]['value'].removeprefix('<image>\n') in v2data.GROUNDING_POOL
  # 10/500 -> 2, 20/333 -> 6.006 -> 6, 110/500 -> 22, 220/333 -> 66.07 -> 66; entity 19's two
  # boxes (one shared with entity 21) joined by <delim>; entity 20 has no box: plain text.
  assert sample['conversations'][1]['value'] == (
      '<p>A man</p> {<2><6><22><66>} walks <p>two dogs</p> {<50><0><99><99>}<delim>'
      '{<0><30><10><60>} under the sky .')


def test_squash_keeps_no_aspect():
  image = Image.new('RGB', (300, 100), (255, 0, 0))
  image.paste((0, 0, 255), (150, 0, 300, 100))  # right half blue
  out = eval_image(image, 448, 'resize')
  assert out.shape == (448, 448, 3)
  # No padding: the left half is red to the top row, the right half blue.
  assert tuple(out[0, 10]) == (255, 0, 0) and tuple(out[0, 440]) == (0, 0, 255)


def test_mixture_draws_each_batch_from_one_source_by_ratio(tmp_path):
  for name, colour in (('a', (255, 0, 0)), ('b', (0, 255, 0))):
    (tmp_path / name).mkdir()
    Image.new('RGB', (40, 30), colour).save(tmp_path / name / 'x.png')
    v2data.write_samples([v2data.conversation(f'{name}{i}', 'x.png', f'[vqa] q{i}', name)
                          for i in range(5)], tmp_path / f'{name}.json')
  cfg = default_config()
  cfg.kind = 'llava_mixture'
  cfg.llava_jsons = (str(tmp_path / 'a.json'), str(tmp_path / 'b.json'))
  cfg.llava_image_dirs = (str(tmp_path / 'a'), str(tmp_path / 'b'))
  cfg.weights = (3.0, 1.0)
  cfg.augment = False
  cfg.image_transform = 'resize'
  cfg.image_size = 56
  cfg.num_workers = 0
  it = make_train_iterator(cfg, global_batch_size=2, seed=0, process_index=0, process_count=1)
  sources = []
  for _ in range(80):
    batch = next(it)
    answers = {json.loads(t)[1]['value'] for t in batch['text']}
    assert answers == {'ab'[int(batch['source'])]}  # a whole batch from one source
    sources.append(int(batch['source']))
  assert 0.6 < sources.count(0) / 80 < 0.9  # ratio 3 : 1


def test_demo_grounding_set_is_the_builders_and_parses_back():
  from minigpt4_jax import grounding
  from minigpt4_jax.bundled import demo_paths
  from minigpt4_jax.tools import minigptv2_demo
  samples = minigptv2_demo.demo_grounding_samples()
  shipped = json.loads(open(demo_paths().minigptv2_grounding_json, encoding='utf-8').read())
  assert shipped == samples  # shipped = built
  by_id = {s['id']: s['conversations'][1]['value'] for s in samples}
  # astronaut.jpg is 256 x 256: (75, 8, 152, 95) -> 29.3, 3.1, 59.4, 37.1 -> truncated.
  assert by_id['astronaut-refer-0-1'] == '{<29><3><59><37>}'
  found = grounding.parse_grounded(by_id['coffee-grounding-0'])
  assert [g.phrase for g in found] == ['a red cup', 'a spoon', 'a saucer']
  # one sample per instruction: 5 [grounding] per photograph, 7 [refer] + 2 [identify] per box
  assert len(samples) == 5 * 6 + 9 * 14
  assert grounding.strip_box_syntax(by_id['coffee-grounding-0']) == \
      'a red cup of espresso with a spoon rests on a saucer.'
