#!/usr/bin/env python3
"""ONNX files written by torch.onnx.export from torchvision's VGG code, as users make them (run with Debian's
/usr/bin/python3: python3-torch, python3-torchvision; see TOOLCHAIN.md).

torchvision.models.vgg.VGG (features → AdaptiveAvgPool2d(7) → flatten → classifier) built with small layers so
files stay small: make_layers(CFG[, batch_norm]) and a narrow classifier; eval mode; seeded. For each opset
asked for it writes OUT/<name>-opset<N>.onnx exported at 224×224 (batch dimension dynamic in one variant),
plus OUT/<name>.outputs.safetensors with `input.HxW` and torch's own `logits.HxW` for each size.
The exporter writes torchvision's avgpool as a 1×1 AveragePool at 224 (an identity), flattens with Flatten,
runs the classifier as Gemm (transB=1), and stores equal initializers once behind Identity nodes.

usage: export-onnx.py --opsets 11,13,17 --sizes 224x224,256x256,320x240 OUT
"""
import argparse
import os
import sys

import torch
import torchvision
from torchvision.models.vgg import VGG, make_layers

sys.path.insert(0, os.path.dirname(__file__))
from reference import write_safetensors  # noqa: E402

CFG = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M"]  # vgg11's shape, narrower


def small_vgg(batch_norm, seed):
    torch.manual_seed(seed)
    m = VGG(make_layers(CFG, batch_norm=batch_norm), num_classes=10, init_weights=True)
    m.classifier = torch.nn.Sequential(
        torch.nn.Linear(32 * 7 * 7, 64),
        torch.nn.ReLU(True),
        torch.nn.Dropout(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(True),
        torch.nn.Dropout(),
        torch.nn.Linear(64, 10),
    )
    gen = torch.Generator().manual_seed(seed)
    for p in m.parameters():  # random biases too (init_weights zeroes them, which the exporter would alias)
        p.data = 0.1 * torch.randn(p.shape, generator=gen)
    for b in m.modules():
        if isinstance(b, torch.nn.BatchNorm2d):
            b.running_mean.data = 0.1 * torch.randn(b.running_mean.shape, generator=gen)
            b.running_var.data = 0.5 + torch.rand(b.running_var.shape, generator=gen)
    return m.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opsets", default="11,13,17")
    ap.add_argument("--sizes", default="224x224")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(a.seed + 1)
    for name, bn in (("vgg-small", False), ("vgg-small-bn", True)):
        m = small_vgg(bn, a.seed)
        for opset in (int(o) for o in a.opsets.split(",")):
            torch.onnx.export(m, torch.randn(1, 3, 224, 224), os.path.join(a.out, f"{name}-opset{opset}.onnx"),
                              opset_version=opset, input_names=["input"], output_names=["logits"])
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), os.path.join(a.out, f"{name}-dynamic.onnx"),
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        ref = {}
        with torch.no_grad():
            for size in a.sizes.split(","):
                h, w = (int(v) for v in size.split("x"))
                x = torch.randn((2, 3, h, w), generator=gen)
                ref[f"input.{size}"], ref[f"logits.{size}"] = x, m(x)
        write_safetensors(os.path.join(a.out, f"{name}.outputs.safetensors"), ref)
    # The same weights with zero biases: the exporter aliases equal initializers through Identity nodes.
    m = small_vgg(False, a.seed)
    for mod in m.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            mod.bias.data.zero_()
    torch.onnx.export(m, torch.randn(1, 3, 224, 224), os.path.join(a.out, "vgg-small-zero-bias.onnx"),
                      opset_version=13, input_names=["input"], output_names=["logits"])


if __name__ == "__main__":
    main()
