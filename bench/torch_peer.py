#!/usr/bin/env python3
"""PyTorch + cuDNN peer for `vggnet_harness cuda-bench`, run by bench/gpu-check.sh on the GPU machine.

Times torchvision's vgg16/vgg19 (random weights, eval mode, inference_mode) at 224x224 with
cudnn.benchmark on, at the same batch sizes and precisions as cuda-bench (fp32, tf32, bf16, fp16 by
default), input already on the GPU, as a PyTorch user tuning for speed would run them:
  - channels_last memory format for the model and the input (cuDNN's fast NHWC tensor-core kernels;
    --no-channels-last for NCHW);
  - fp32: TF32 off for cuDNN convolutions and cuBLAS matmuls ('ieee'); tf32: TF32 on for both;
  - bf16 / fp16: the model converted once to that type (like vggnet's packed weights; fp32 accumulation,
    reduced-precision reductions in cuBLAS off); --autocast to use torch.autocast instead, which re-casts
    the fp32 weights on every forward;
  - times from CUDA events around each forward (median of R runs after warm-up; cuDNN autotunes on the
    first calls of each shape), so host-side timing noise stays out;
  - at batch 1 also a CUDA graph of the forward, replayed: what a latency-bound user does to remove the
    eager launch overhead of ~40 kernels. The RESULT line's ms is then the graph's (eager_ms beside it).
FLOPs = 2 x multiply-adds of the Conv2d/Linear layers, counted with forward hooks at batch 1 (the same
formula as the harness). Prints `RESULT torch model=... precision=... batch=... ms=... ips=... tflops=...`.
"""
import argparse
import contextlib
import copy
import statistics
import sys

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


def time_events(fn, warmup: int, runs: int, seconds: float) -> list:
    """Milliseconds of fn() per run from CUDA events, after `warmup` calls; the run count is capped so that
    one configuration takes about `seconds`."""
    for _ in range(max(1, warmup)):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    per = start.elapsed_time(end) / 1e3
    runs = max(3, min(runs, int(seconds / max(per, 1e-6))))
    times = []
    for _ in range(runs):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def graph_of(fn):
    """A CUDA graph of fn() (warmed up on a side stream first, as torch.cuda.graph requires) and its
    replay; None when capture fails."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='vgg16,vgg19')
    ap.add_argument('--batches', default='1,8,64')
    ap.add_argument('--precisions', default='fp32,tf32,bf16,fp16')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--seconds', type=float, default=3.0, help='rough time budget per configuration')
    ap.add_argument('--no-channels-last', action='store_true', help='NCHW model and input')
    ap.add_argument('--autocast', action='store_true', help='bf16/fp16 through torch.autocast (fp32 weights)')
    ap.add_argument('--no-graph', action='store_true', help='no CUDA graph at batch 1')
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print('torch_peer: torch.cuda.is_available() is False')
        return 1
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    fmt = torch.contiguous_format if args.no_channels_last else torch.channels_last
    print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, cuDNN {torch.backends.cudnn.version()}, '
          f'{torch.cuda.get_device_name(0)}; {"NCHW" if args.no_channels_last else "channels_last"}, '
          f'16-bit by {"autocast" if args.autocast else "converted model"}, CUDA events'
          f'{"" if args.no_graph else ", CUDA graph at batch 1"}')
    torch.manual_seed(0)
    failures = 0
    for name in args.models.split(','):
        base = getattr(torchvision.models, name)(weights=None).cuda().eval()
        macs = count_macs(base)
        base = base.to(memory_format=fmt)
        print(f'{name}: {macs / 1e9:.3f} GMACs per image at 224')
        for prec in args.precisions.split(','):
            if prec not in ('fp32', 'tf32', 'bf16', 'fp16'):
                print(f'unknown precision {prec}')
                failures += 1
                continue
            setting = set_fp32_precision(prec == 'tf32')
            dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(prec, torch.float32)
            cast = dtype != torch.float32 and not args.autocast
            model = copy.deepcopy(base).to(dtype) if cast else base  # Module.to converts in place
            use_autocast = args.autocast and dtype != torch.float32
            autocast = contextlib.nullcontext
            if use_autocast:
                autocast = lambda: torch.autocast('cuda', dtype=dtype)  # noqa: E731
            for batch in [int(b) for b in args.batches.split(',')]:
                try:
                    x = torch.randn(batch, 3, 224, 224, device='cuda').to(dtype if cast else torch.float32)
                    x = x.contiguous(memory_format=fmt)

                    def forward():
                        with torch.inference_mode(), autocast():
                            return model(x)

                    eager = statistics.median(time_events(forward, args.warmup, args.runs, args.seconds))
                    ms, how = eager, 'eager'
                    if batch == 1 and not args.no_graph:
                        try:
                            replay = graph_of(forward)
                            ms = statistics.median(time_events(replay, args.warmup, args.runs, args.seconds))
                            how = f'graph (eager {eager:.3f} ms)'
                        except Exception as e:  # report and keep the eager time
                            how = f'eager (graph capture failed: {type(e).__name__}: {e})'
                    tflops = 2.0 * macs * batch / (ms * 1e-3) / 1e12
                    print(f'{name:6s} {prec:5s} batch {batch:3d}: {ms:9.3f} ms {batch / (ms * 1e-3):9.1f} img/s '
                          f'{tflops:7.1f} TFLOP/s  ({how}; {setting})')
                    print(f'RESULT torch model={name} precision={prec} batch={batch} ms={ms:.4f} '
                          f'ips={batch / (ms * 1e-3):.2f} tflops={tflops:.2f} eager_ms={eager:.4f}', flush=True)
                except Exception as e:  # report and go on: a peer failure must not hide the other rows
                    print(f'{name} {prec} batch {batch}: {type(e).__name__}: {e}', flush=True)
                    failures += 1
            if cast:
                del model
        del base
        torch.cuda.empty_cache()
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
