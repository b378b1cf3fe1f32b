"""Tiny annotation files in each benchmark's official layout (the fields the real
files have, a few records each)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

TEN_YES = ['yes'] * 10


def write_json(path: pathlib.Path, obj: Any) -> pathlib.Path:
  path.write_text(json.dumps(obj), encoding='utf-8')
  return path


def vqa_questions() -> dict:
  return {'info': {}, 'task_type': 'Open-Ended', 'data_type': 'mscoco',
          'data_subtype': 'val2014', 'license': {},
          'questions': [
              {'image_id': 42, 'question': 'Is the dog asleep?', 'question_id': 420},
              {'image_id': 42, 'question': 'How many dogs are there?', 'question_id': 421},
              {'image_id': 7, 'question': 'What is the man holding?', 'question_id': 70}]}


def vqa_annotation(question_id: int, image_id: int, answers: list[str], answer_type: str,
                   question_type: str) -> dict:
  return {'question_id': question_id, 'image_id': image_id, 'answer_type': answer_type,
          'question_type': question_type, 'multiple_choice_answer': answers[0],
          'answers': [{'answer': a, 'answer_confidence': 'yes', 'answer_id': i + 1}
                      for i, a in enumerate(answers)]}


def vqa_annotations() -> dict:
  return {'info': {}, 'data_type': 'mscoco', 'data_subtype': 'val2014', 'license': {},
          'annotations': [
              vqa_annotation(420, 42, TEN_YES, 'yes/no', 'is the'),
              vqa_annotation(421, 42, ['2'] * 9 + ['3'], 'number', 'how many'),
              vqa_annotation(70, 7, ['frisbee'] * 4 + ['disc'] * 6, 'other', 'what is the')]}


def aokvqa() -> list:
  return [
      {'split': 'val', 'image_id': 299207, 'question_id': '22MexNkBPpdZGX6sxbxVBH',
       'question': 'What is the man by the bags awaiting?',
       'choices': ['skateboarder', 'train', 'delivery', 'cab'], 'correct_choice_idx': 3,
       'direct_answers': ['ride', 'ride', 'bus', 'taxi', 'travelling', 'traffic', 'taxi',
                          'cab', 'cab', 'his ride'],
       'difficult_direct_answer': False, 'rationales': ['A train would not be on the street.']},
      {'split': 'val', 'image_id': 8211, 'question_id': '2fvnb2Xy3Ue8h8HL7ASC9e',
       'question': 'What color is the sky?', 'choices': ['blue', 'green', 'red', 'black'],
       'correct_choice_idx': 0, 'direct_answers': ['blue'] * 10,
       'difficult_direct_answer': True, 'rationales': []}]


def gqa() -> dict:
  return {'201307251': {'semantic': [], 'entailed': [], 'equivalent': ['201307251'],
                        'question': 'Is it overcast?', 'imageId': 'n161313', 'isBalanced': True,
                        'groups': {'global': None, 'local': '06-weather'}, 'answer': 'no',
                        'semanticStr': 'select: weather->verify weather: overcast',
                        'annotations': {'answer': {}, 'question': {}, 'fullAnswer': {}},
                        'types': {'detailed': 'weatherVerifyC', 'semantic': 'global',
                                  'structural': 'verify'},
                        'fullAnswer': 'No, it is clear.'},
          '20968379': {'question': 'Who is wearing the dress?', 'imageId': 'n288870',
                       'answer': 'woman', 'fullAnswer': 'The woman is wearing a dress.'}}


def coco_images() -> list:
  return [{'license': 1, 'file_name': 'COCO_val2014_000000000042.jpg', 'coco_url': '',
           'height': 480, 'width': 640, 'date_captured': '', 'flickr_url': '', 'id': 42},
          {'license': 1, 'file_name': 'COCO_val2014_000000000007.jpg', 'coco_url': '',
           'height': 480, 'width': 640, 'date_captured': '', 'flickr_url': '', 'id': 7}]


def coco_captions() -> dict:
  return {'info': {}, 'licenses': [], 'images': coco_images(), 'annotations': [
      {'image_id': 42, 'id': 1, 'caption': 'A dog sleeping on a couch.'},
      {'image_id': 7, 'id': 2, 'caption': 'A man throwing a frisbee in a park.'},
      {'image_id': 42, 'id': 3, 'caption': 'A puppy asleep on a sofa next to a remote.'}]}


def coco_instances() -> dict:
  return {'info': {}, 'licenses': [], 'images': coco_images(),
          'categories': [{'supercategory': 'person', 'id': 1, 'name': 'person'},
                         {'supercategory': 'animal', 'id': 18, 'name': 'dog'},
                         {'supercategory': 'furniture', 'id': 63, 'name': 'couch'},
                         {'supercategory': 'sports', 'id': 34, 'name': 'frisbee'}],
          'annotations': [
              {'segmentation': [], 'area': 1.0, 'iscrowd': 0, 'image_id': 42, 'bbox': [0, 0, 1, 1],
               'category_id': 18, 'id': 100},
              {'segmentation': [], 'area': 1.0, 'iscrowd': 0, 'image_id': 42, 'bbox': [0, 0, 1, 1],
               'category_id': 63, 'id': 101},
              {'segmentation': [], 'area': 1.0, 'iscrowd': 0, 'image_id': 7, 'bbox': [0, 0, 1, 1],
               'category_id': 1, 'id': 102},
              {'segmentation': [], 'area': 1.0, 'iscrowd': 0, 'image_id': 42, 'bbox': [0, 0, 1, 1],
               'category_id': 18, 'id': 103}]}


def karpathy() -> dict:
  return {'dataset': 'coco', 'images': [
      {'filepath': 'val2014', 'sentids': [1, 2], 'filename': 'COCO_val2014_000000000042.jpg',
       'imgid': 0, 'split': 'test', 'cocoid': 42,
       'sentences': [{'tokens': ['a', 'dog'], 'raw': 'A dog.', 'imgid': 0, 'sentid': 1},
                     {'tokens': ['a', 'puppy'], 'raw': 'A puppy.', 'imgid': 0, 'sentid': 2}]},
      {'filepath': 'train2014', 'sentids': [3], 'filename': 'COCO_train2014_000000000009.jpg',
       'imgid': 1, 'split': 'train', 'cocoid': 9,
       'sentences': [{'tokens': ['a', 'cat'], 'raw': 'A cat.', 'imgid': 1, 'sentid': 3}]}]}


def pope_lines() -> list[dict]:
  return [{'question_id': 0, 'image': 'COCO_val2014_000000000042.jpg', 'image_id': 42,
           'text': 'Is there a dog in the image?', 'label': 'yes'},
          {'question_id': 1, 'image': 'COCO_val2014_000000000042.jpg', 'image_id': 42,
           'text': 'Is there a zebra in the image?', 'label': 'no'}]


def write_json_lines(path: pathlib.Path, rows: list[dict]) -> pathlib.Path:
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows), encoding='utf-8')
  return path
