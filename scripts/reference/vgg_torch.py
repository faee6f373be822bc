"""A seeded VGG-style network in torchvision's layout (features / avgpool / classifier), the reference the
Keras and Caffe fixture scripts convert from, and the reference outputs the tests compare with.

Config: a VggConfig as JSON ({"inChannels", "inputSize", "stages": [[64, 64], ...] where an entry is a width
(3x3 conv) or {"channels", "kernel": 1}, "fc": [4096, 4096], "numClasses"}) or an architecture name that
torchvision builds itself (vgg11, vgg13, vgg16, vgg19).

write_reference(dir, model, config, seed) writes:
  ref.json   {"tensors": [{"name", "shape", "offset"}], "input": [1, C, S, S], "logits": [1, K]}
  ref.bin    the state_dict tensors, float32 little-endian, in state_dict order (offsets in bytes)
  input.bin  a seeded input, float32 [1, C, S, S] (values ~ N(0, 1))
  logits.bin torchvision's forward of that input in eval mode, float32 [1, K]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

TORCHVISION_ARCHS = ("vgg11", "vgg13", "vgg16", "vgg19")
PAPER = {"inChannels": 3, "inputSize": 224, "fc": [4096, 4096], "numClasses": 1000}
STAGES = {
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def conv_def(c):
    """(channels, kernel) of a stage entry."""
    return (c, 3) if isinstance(c, int) else (c["channels"], c["kernel"])


def parse_config(text):
    if text in TORCHVISION_ARCHS:
        return dict(PAPER, name=text, stages=STAGES[text])
    return json.loads(text)


class TorchvisionLayoutVgg(nn.Module):
    """torchvision.models.VGG for any widths: the same module names, so the same state_dict keys."""

    def __init__(self, cfg):
        super().__init__()
        layers, c = [], cfg["inChannels"]
        for stage in cfg["stages"]:
            for entry in stage:
                k, r = conv_def(entry)
                layers += [nn.Conv2d(c, k, kernel_size=r, padding=r // 2), nn.ReLU(inplace=True)]
                c = k
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        p = cfg["inputSize"] // 2 ** len(cfg["stages"])
        self.avgpool = nn.AdaptiveAvgPool2d((p, p))
        head, n = [], c * p * p
        for w in cfg["fc"]:
            head += [nn.Linear(n, w), nn.ReLU(True), nn.Dropout()]
            n = w
        head.append(nn.Linear(n, cfg["numClasses"]))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(cfg, seed):
    """The model in eval mode, every parameter drawn from a seeded generator (non-zero biases, so a bias
    read from the wrong place shows)."""
    torch.manual_seed(seed)
    name = cfg.get("name")
    paper = name in TORCHVISION_ARCHS and cfg["stages"] == STAGES[name] and all(cfg[k] == v for k, v in PAPER.items())
    if paper:
        import torchvision  # only here: importing it takes seconds

        model = getattr(torchvision.models, name)()
    else:
        model = TorchvisionLayoutVgg(cfg)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("weight"):
                fan_in = int(np.prod(p.shape[1:]))
                p.normal_(0.0, (2.0 / fan_in) ** 0.5)
            else:
                p.uniform_(-0.1, 0.1)
    return model.eval()


def features_and_head(model):
    """[(kind, module)] in program order: ("conv", Conv2d), ("pool", MaxPool2d), ("fc", Linear)."""
    out = []
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            out.append(("conv", m))
        elif isinstance(m, nn.MaxPool2d):
            out.append(("pool", m))
    out += [("fc", m) for m in model.classifier if isinstance(m, nn.Linear)]
    return out


def write_reference(out_dir, model, cfg, seed):
    os.makedirs(out_dir, exist_ok=True)
    tensors, offset = [], 0
    with open(os.path.join(out_dir, "ref.bin"), "wb") as f:
        for name, t in model.state_dict().items():
            a = t.detach().numpy().astype("<f4")
            f.write(a.tobytes())
            tensors.append({"name": name, "shape": list(a.shape), "offset": offset})
            offset += a.nbytes
    g = torch.Generator().manual_seed(seed + 1)
    s, c = cfg["inputSize"], cfg["inChannels"]
    x = torch.randn(1, c, s, s, generator=g)
    with torch.no_grad():
        logits = model(x)
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, "input.bin"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, "logits.bin"))
    with open(os.path.join(out_dir, "ref.json"), "w") as f:
        json.dump({"tensors": tensors, "input": list(x.shape), "logits": list(logits.shape)}, f)


def fixture_main(doc, flag, choices, default):
    """The fixture scripts' command line: OUT CONFIG [--seed N] [--<flag> a,b,...]. Builds the seeded model,
    writes its reference into OUT and returns (out, model, config, [chosen names])."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("config")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--" + flag, default=",".join(default))
    a = ap.parse_args()
    chosen = getattr(a, flag).split(",")
    for c in chosen:
        if c not in choices:
            sys.exit(f"unknown {flag[:-1]} '{c}': expected one of {', '.join(choices)}")
    cfg = parse_config(a.config)
    model = build(cfg, a.seed)
    write_reference(a.out, model, cfg, a.seed)
    return a.out, model, cfg, chosen
