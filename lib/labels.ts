/**
 * Class labels. IMAGENET_1K: the 1000 ILSVRC-2012 classes in the standard index order used by torchvision
 * and Caffe (0 = tench … 999 = toilet tissue), from data/imagenet-1k-labels.json (WordNet synonyms, comma
 * separated; `shortLabel` keeps the first).
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidArgumentError } from './errors';
import { packageRoot } from './native';

let imagenet: string[] | undefined;

export function imagenetLabels(): string[] {
  imagenet ??= JSON.parse(
    fs.readFileSync(path.join(packageRoot(), 'data', 'imagenet-1k-labels.json'), 'utf8'),
  ) as string[];
  return imagenet;
}

/** 'tench, Tinca tinca' → 'tench'. */
export function shortLabel(label: string): string {
  return label.split(',')[0].trim();
}

/** Checks a label list against the model's number of classes. Throws InvalidArgumentError. */
export function checkLabels(labels: unknown, numClasses: number): string[] {
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
    throw new InvalidArgumentError('labels: expected an array of strings');
  if (labels.length !== numClasses)
    throw new InvalidArgumentError(`labels: the model has ${numClasses} classes, the label list has ${labels.length}`);
  return labels;
}

/** Default labels for a model with `numClasses` classes: ImageNet-1k for 1000, class indices otherwise. */
export function defaultLabels(numClasses: number): string[] {
  return numClasses === 1000 ? imagenetLabels() : Array.from({ length: numClasses }, (_, i) => String(i));
}
