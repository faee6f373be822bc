#!/usr/bin/env python3
"""PyTorch + cuDNN peer for `vggnet_harness cuda-bench`, run by bench/gpu-check.sh on the GPU machine.

Times torchvision's vgg16/vgg19 (random weights, eval mode, inference_mode) at 224x224 with
cudnn.benchmark on, at the same batch sizes and precisions as cuda-bench, input already on the GPU,
median of R runs after warm-up (cuDNN autotunes on the first calls of each shape):
  fp32: TF32 off for cuDNN convolutions and cuBLAS matmuls ('ieee');
  tf32: TF32 on for both;
  bf16 / fp16: torch.autocast('cuda', dtype=...) (fp32 weights, convs/linears in 16-bit, fp32 accumulation).
FLOPs = 2 x multiply-adds of the Conv2d/Linear layers, counted with forward hooks at batch 1 (the same
formula as the harness). Prints `RESULT torch model=... precision=... batch=... ms=... ips=... tflops=...`.
"""
import argparse
import contextlib
import statistics
import sys
import time

import torch
import torchvision


def set_fp32_precision(tf32: bool) -> str:
    """TF32 on or off for cuDNN convolutions and cuBLAS matmuls; returns what was set, for the log."""
    value = 'tf32' if tf32 else 'ieee'
    conv = getattr(torch.backends.cudnn, 'conv', None)
    matmul = torch.backends.cuda.matmul
    if conv is not None and hasattr(conv, 'fp32_precision') and hasattr(matmul, 'fp32_precision'):
        conv.fp32_precision = value  # PyTorch >= 2.9 API (the allow_tf32 flags are deprecated there)
        matmul.fp32_precision = value
        return f'cudnn.conv.fp32_precision={value} cuda.matmul.fp32_precision={value}'
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return f'cudnn.allow_tf32={tf32} cuda.matmul.allow_tf32={tf32}'


def count_macs(model: torch.nn.Module) -> int:
    macs = 0
    hooks = []

    def conv_hook(m, _inp, out):
        nonlocal macs
        macs += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, _inp, out):
        nonlocal macs
        macs += out.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.inference_mode():
        model(torch.zeros(1, 3, 224, 224, device='cuda'))
    for h in hooks:
        h.remove()
    return macs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='vgg16,vgg19')
    ap.add_argument('--batches', default='1,8,64')
    ap.add_argument('--precisions', default='fp32,tf32,bf16')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--seconds', type=float, default=3.0, help='rough time budget per configuration')
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print('torch_peer: torch.cuda.is_available() is False')
        return 1
    torch.backends.cudnn.benchmark = True
    print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, cuDNN {torch.backends.cudnn.version()}, '
          f'{torch.cuda.get_device_name(0)}')
    torch.manual_seed(0)
    failures = 0
    for name in args.models.split(','):
        model = getattr(torchvision.models, name)(weights=None).cuda().eval()
        macs = count_macs(model)
        print(f'{name}: {macs / 1e9:.3f} GMACs per image at 224')
        for prec in args.precisions.split(','):
            setting = set_fp32_precision(prec == 'tf32')
            if prec in ('bf16', 'fp16'):
                dtype = torch.bfloat16 if prec == 'bf16' else torch.float16
                ctx = lambda: torch.autocast('cuda', dtype=dtype)  # noqa: E731
            elif prec in ('fp32', 'tf32'):
                ctx = contextlib.nullcontext
            else:
                print(f'unknown precision {prec}')
                failures += 1
                continue
            for batch in [int(b) for b in args.batches.split(',')]:
                try:
                    x = torch.randn(batch, 3, 224, 224, device='cuda')
                    times = []
                    with torch.inference_mode(), ctx():
                        t0 = time.perf_counter()
                        for _ in range(max(1, args.warmup)):
                            model(x)
                        torch.cuda.synchronize()
                        per = (time.perf_counter() - t0) / max(1, args.warmup)
                        runs = max(3, min(args.runs, int(args.seconds / max(per, 1e-6))))
                        for _ in range(runs):
                            t0 = time.perf_counter()
                            model(x)
                            torch.cuda.synchronize()
                            times.append(time.perf_counter() - t0)
                    ms = statistics.median(times) * 1e3
                    tflops = 2.0 * macs * batch / (ms * 1e-3) / 1e12
                    print(f'{name:6s} {prec:5s} batch {batch:3d}: {ms:9.3f} ms {batch / (ms * 1e-3):9.1f} img/s '
                          f'{tflops:7.1f} TFLOP/s  ({len(times)} runs; {setting})')
                    print(f'RESULT torch model={name} precision={prec} batch={batch} ms={ms:.4f} '
                          f'ips={batch / (ms * 1e-3):.2f} tflops={tflops:.2f}', flush=True)
                except Exception as e:  # report and go on: a peer failure must not hide the other rows
                    print(f'{name} {prec} batch {batch}: {type(e).__name__}: {e}', flush=True)
                    failures += 1
        del model
        torch.cuda.empty_cache()
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
