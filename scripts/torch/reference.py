#!/usr/bin/env python3
"""torchvision's own VGG as the outside reference (run with Debian's /usr/bin/python3: python3-torch,
python3-torchvision; see TOOLCHAIN.md).

Builds torchvision.models.<arch> with seeded random weights (eval mode: dropout off, batch norm from its
running statistics, which are randomised too so that folding them is tested), and writes two safetensors files:
  - WEIGHTS: the state_dict under torchvision's own names (what vggnet's loader reads);
  - OUTPUTS: for each size HxW: `input.HxW` [N,3,H,W], `logits.HxW` = model(input) [N,K], and `<layer>.HxW` for every
    layer asked for, named as vggnet names them (conv1_1 … after their ReLU, pool1 …, fc6/fc7 after their
    ReLU, fc8; '<name>:pre-relu' before it), taken with forward hooks on torchvision's modules.
torchvision's VGG applies AdaptiveAvgPool2d(7) before the classifier, so any size >= 32 runs.

usage: reference.py --arch vgg16 --seed 1 --sizes 224x224,256x256,320x240 --layers conv4_3,pool5,fc7 WEIGHTS OUTPUTS
"""
import argparse
import json
import struct

import torch
import torchvision


def vgg_names(model):
    """Our layer name for each module whose output is that layer's output."""
    names, stage, conv = {}, 1, 0
    feats = list(model.features)
    for i, m in enumerate(feats):
        if isinstance(m, torch.nn.Conv2d):
            conv += 1
            # conv → [BatchNorm2d] → ReLU: the ReLU's output is ours (ReLU fused into the conv); the module
            # before it gives the output before the ReLU (':pre-relu').
            j = i + 1
            while not isinstance(feats[j], torch.nn.ReLU):
                j += 1
            names[feats[j]] = f"conv{stage}_{conv}"
            names[feats[j - 1]] = f"conv{stage}_{conv}:pre-relu"
        elif isinstance(m, torch.nn.MaxPool2d):
            names[m] = f"pool{stage}"
            stage, conv = stage + 1, 0
    c = model.classifier  # Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    names[c[1]], names[c[4]], names[c[6]] = "fc6", "fc7", "fc8"
    names[c[0]], names[c[3]] = "fc6:pre-relu", "fc7:pre-relu"
    return names


def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 1 + 0.1 * torch.randn(m.weight.shape, generator=gen)
            m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=gen)
            m.running_mean.data = 0.1 * torch.randn(m.running_mean.shape, generator=gen)
            m.running_var.data = 0.5 + torch.rand(m.running_var.shape, generator=gen)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.int64:
            data, dtype = t.numpy().tobytes(), "I64"
        else:
            data, dtype = t.to(torch.float32).numpy().tobytes(), "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="vgg16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--sizes", default="224x224")
    ap.add_argument("--layers", default="")
    ap.add_argument("weights")
    ap.add_argument("outputs")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    model = getattr(torchvision.models, a.arch)(weights=None)
    randomise_bn(model, gen)
    model.eval()
    write_safetensors(a.weights, model.state_dict())
    tensors = {}
    names = vgg_names(model)
    wanted = [n for n in a.layers.split(",") if n]
    grabbed = {}
    for module, name in names.items():
        if name in wanted:
            module.register_forward_hook(lambda m, i, o, name=name: grabbed.__setitem__(name, o.clone()))
    with torch.no_grad():
        for size in a.sizes.split(","):
            h, w = (int(v) for v in size.split("x"))
            x = torch.randn((a.batch, 3, h, w), generator=gen)
            grabbed.clear()
            tensors[f"input.{size}"] = x
            tensors[f"logits.{size}"] = model(x)
            for name in wanted:
                tensors[f"{name}.{size}"] = grabbed[name]
    write_safetensors(a.outputs, tensors)


if __name__ == "__main__":
    main()
