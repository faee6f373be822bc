"""torchvision.transforms on image files: the reference for vggnet's preprocessing.

Usage: /usr/bin/python3 scripts/torch/transforms.py OUT_DIR JOBS_JSON

JOBS_JSON is a JSON list of jobs {"name": str, "image": path, "resize": Q, "crop": C or null, "grey": bool}.
Each image is read as torchvision's ImageFolder does (PIL, convert('RGB')), converted to 'L' when grey
(transforms.Grayscale), then transforms.Resize(Q) (PIL bilinear, antialiased) and, when crop is set,
transforms.CenterCrop(C). For each job it writes
  OUT_DIR/<name>.u8   the resulting PIL image, HWC uint8
  OUT_DIR/<name>.f32  transforms.ToTensor + transforms.Normalize, CHW float32 little-endian: ImageNet
                      mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) for RGB; grey: ToTensor only
and prints {name: {"width": w, "height": h, "channels": c}} as JSON on stdout.
Run with Debian's python3-torchvision and python3-pil (test/support/python.ts).
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def run(out_dir, jobs):
    index = {}
    for job in jobs:
        img = Image.open(job['image']).convert('RGB')
        steps = [T.Grayscale()] if job.get('grey') else []
        steps.append(T.Resize(job['resize']))
        if job.get('crop'):
            steps.append(T.CenterCrop(job['crop']))
        img = T.Compose(steps)(img)
        to_tensor = [T.ToTensor()] if job.get('grey') else [T.ToTensor(), T.Normalize(MEAN, STD)]
        x = T.Compose(to_tensor)(img)
        pixels = np.asarray(img, dtype=np.uint8)
        pixels.tofile(os.path.join(out_dir, job['name'] + '.u8'))
        x.numpy().astype('<f4').tofile(os.path.join(out_dir, job['name'] + '.f32'))
        index[job['name']] = {'width': img.size[0], 'height': img.size[1], 'channels': 1 if pixels.ndim == 2 else 3}
    index['_versions'] = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'pil': Image.__version__}
    return index


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        print(json.dumps(run(sys.argv[1], json.load(f))))
