"""Writes PyTorch .pth files with the real torch.save, and the values torch reads back from them, for
test/weights-pth.test.ts.

    /usr/bin/python3 scripts/torch/make-pth.py OUTDIR [--no-big] [--tiny]

Run it with Debian's python3-torch (1.13) and python3-torchvision (0.14): /usr/bin/python3, not the python3
first on PATH (shared toolchain notes). OUTDIR receives, in both serializations where it says so (`-zip`:
torch.save's default zip archive; `-legacy`: _use_new_zipfile_serialization=False, the format of torchvision's
own VGG releases):

  small*            a VGG of test/support/configs.ts `small` (16x16 input, 3x3 and 1x1 convs, FC 20-20-5)
                    in torchvision's layout (features.N, classifier.N): f32, batch norm (random running
                    statistics), f16, bf16, f64 and int32 (refused), nn.DataParallel ('module.'), PyTorch's
                    ImageNet-example checkpoint (model.features in DataParallel, optimizer state), the
                    tutorial checkpoint of nn.Parameters ('model_state_dict'), non-contiguous and shared
                    storages (channels-last convs, a transposed FC, FCs sharing one storage at offsets, an
                    expanded bias), pickle protocol 4, tensors pickled as PyTorch < 0.4 did
                    (torch._utils._rebuild_tensor), zip64 records, a big-endian archive ('byteorder' record)
  vgg11*, vgg11_bn* torchvision.models.vgg11 / vgg11_bn, seeded random init (BN statistics randomised), both
                    serializations (about 531 MB each; left out with --no-big)
  hostile files     __reduce__ to os.system, builtins.eval, builtins.getattr; whole models (torch.save(model),
                    a torchvision VGG and a class of this script); a TorchScript archive; zips with a storage
                    or data.pkl missing, or with deflated entries
  manifest.json     per file: every tensor as torch.load reads it (dtype, shape, and the f32 values as
                    base64 little-endian bits, or their SHA-256 for the big files), whether
                    torch.load(weights_only=True) accepts the file; and reference forwards (inputs, logits)

--tiny writes only the committed fixtures (test/fixtures/pth): a 8x8-input VGG with batch norm in both
serializations and tiny.json (tensors, an input and torch's logits).
"""
import base64
import builtins
import collections
import hashlib
import json
import os
import struct
import sys
import zipfile

import torch
import torch.nn as nn
import torchvision

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


class SmallVGG(nn.Module):
    """torchvision's VGG layout (make_layers + classifier) for any config: cfg lists conv widths, (width, kernel)
    for a 1x1 conv, 'M' for a 2x2 max pool. 3x3 convs pad 1, 1x1 convs pad 0, as the paper's config C."""

    def __init__(self, cfg, fc, classes, pool5, bn=False, in_ch=3):
        super().__init__()
        layers, c = [], in_ch
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            k = 3
            if isinstance(v, tuple):
                v, k = v
            layers.append(nn.Conv2d(c, v, k, padding=k // 2))
            if bn:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c = v
        self.features = nn.Sequential(*layers)
        head, n = [], c * pool5 * pool5
        for w in fc:
            head += [nn.Linear(n, w), nn.ReLU(True), nn.Dropout()]
            n = w
        head.append(nn.Linear(n, classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def small(bn=False, seed=1):
    torch.manual_seed(seed)
    return randomise_bn(SmallVGG([8, "M", 12, (12, 1), "M"], [20, 20], 5, pool5=4, bn=bn), seed).eval()


def tiny(seed=3):
    torch.manual_seed(seed)
    return randomise_bn(SmallVGG([4, "M", 6, "M"], [10], 3, pool5=2, bn=True), seed).eval()


def randomise_bn(model, seed):
    """Fresh BatchNorm2d layers are the identity (γ 1, β 0, μ 0, σ² 1): give them statistics so folding shows."""
    g = torch.Generator().manual_seed(seed + 100)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            k = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(k, generator=g))
                m.bias.copy_(0.1 * torch.randn(k, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(k, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(k, generator=g))
                m.num_batches_tracked.fill_(7)
    return model


def b64(t):
    return base64.b64encode(t.detach().contiguous().float().numpy().astype("<f4").tobytes()).decode()


def sha256(t):
    a = t.detach().contiguous().float().numpy()
    return hashlib.sha256(memoryview(a if a.dtype.byteorder != ">" else a.astype("<f4"))).hexdigest()


def describe(obj, big):
    """Every tensor torch.load holds in a state dict (found as pth.ts finds it), by its key."""
    out = collections.OrderedDict()
    for k, t in state_dict_of(obj).items():
        e = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if t.is_floating_point():
            e["sha256" if big else "f32"] = sha256(t) if big else b64(t)
        out[k] = e
    return out


def state_dict_of(obj):
    if all(torch.is_tensor(v) for v in obj.values()):
        return obj
    for key in ("state_dict", "model_state_dict"):
        if key in obj:
            return obj[key]
    raise ValueError("no state dict")


manifest = {"files": {}, "forward": {}}


def weights_only_accepts(path):
    try:
        torch.load(path, weights_only=True)
        return True
    except Exception:  # noqa: BLE001 (any refusal counts)
        return False


def save(obj, out, name, legacy=False, describe_tensors=True, big=None, **kw):
    """torch.save(obj) to out/name and its manifest entry. For the big files `big` is describe(obj, True), computed
    once for both serializations (what was saved, not re-read: the small files check torch's own reading)."""
    path = os.path.join(out, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy, **kw)
    entry = {}
    if big is not None:
        entry["tensors"] = big
    else:
        entry["weights_only"] = weights_only_accepts(path)
        if describe_tensors:
            # What torch itself reads back, not what was saved: the reference is the tool's own reading.
            entry["tensors"] = describe(torch.load(path), False)
    manifest["files"][name] = entry
    return path


def both(obj, out, stem, **kw):
    save(obj, out, f"{stem}-zip.pth", **kw)
    save(obj, out, f"{stem}-legacy.pth", legacy=True, **kw)


def forward_reference(model, shape, seed, name, file):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g) * 2 - 1
    with torch.no_grad():
        y = model.float().eval()(x)
    manifest["forward"][name] = {"file": file, "shape": list(shape), "input": b64(x), "logits": b64(y)}


def views_state_dict(model):
    """The same values as model.state_dict(), held as non-contiguous views and shared storages."""
    sd = collections.OrderedDict()
    for k, v in model.to(memory_format=torch.channels_last).state_dict().items():
        sd[k] = v  # 4-D conv weights: channels-last strides (N, H, W, C order in memory)
    fc6 = sd["classifier.0.weight"]
    sd["classifier.0.weight"] = fc6.t().contiguous().t()  # stride (1, out): a transposed view
    fc7, fc8 = sd["classifier.3.weight"], sd["classifier.6.weight"]
    shared = torch.zeros(7 + fc7.numel() + 3 + fc8.numel())
    a = shared[7 : 7 + fc7.numel()].view_as(fc7)
    b = shared[7 + fc7.numel() + 3 :].view_as(fc8)
    a.copy_(fc7)
    b.copy_(fc8)
    sd["classifier.3.weight"], sd["classifier.6.weight"] = a, b  # one storage, offsets 7 and 410
    sd["classifier.3.bias"] = sd["classifier.3.bias"][:1].expand(20)  # stride 0
    return sd


class OldStyleTensors:
    """Tensors pickled as PyTorch < 0.4 did (torchvision's 2017 VGG files): torch._utils._rebuild_tensor(storage,
    storage_offset, size, stride) instead of _rebuild_tensor_v2."""

    def __enter__(self):
        self.saved = torch.Tensor.__reduce_ex__
        torch.Tensor.__reduce_ex__ = lambda t, proto: (
            torch._utils._rebuild_tensor,
            (t.storage(), t.storage_offset(), tuple(t.size()), t.stride()),
        )

    def __exit__(self, *a):
        torch.Tensor.__reduce_ex__ = self.saved


class Evil:
    """A pickle that runs code when unpickled by an unrestricted loader."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def zip64ify(src, dst):
    """The same archive with zip64 records: every central-directory size and offset in the zip64 extra field,
    a zip64 end-of-central-directory record and locator (what archives past 4 GiB or 65535 entries carry)."""
    raw = open(src, "rb").read()
    infos = zipfile.ZipFile(src).infolist()
    eocd = raw.rfind(b"PK\x05\x06")
    cd_off = struct.unpack("<I", raw[eocd + 16 : eocd + 20])[0]
    body, cd = raw[:cd_off], b""
    for i in infos:
        name = i.filename.encode()
        extra = struct.pack("<HHQQQ", 1, 24, i.file_size, i.compress_size, i.header_offset)
        cd += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, 45, 45, 0, i.compress_type, 0, 0x21, i.CRC, 0xFFFFFFFF, 0xFFFFFFFF,
            len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF,
        ) + name + extra
    n = len(infos)
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), len(body))
    loc = struct.pack("<IIQI", 0x07064B50, 0, len(body) + len(cd), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, "wb") as f:
        f.write(body + cd + z64 + loc + end)
    zipfile.ZipFile(dst).testzip()  # Python's reader agrees it is a valid zip64 archive


def rezip(src, dst, drop=(), compress=zipfile.ZIP_STORED):
    """The archive rewritten by Python's zipfile: entries ending in one of `drop` left out, others compressed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compress) as zout:
        for i in zin.infolist():
            if not any(i.filename.endswith(d) for d in drop):
                zout.writestr(i.filename, zin.read(i.filename))


def big_endian(src, dst):
    """The archive as a big-endian host writes it (PyTorch >= 2.1): every float32 storage byte-swapped, and a
    'byteorder' record saying 'big'. torch 1.13 reads no byteorder record, so the reference is src's."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for i in zin.infolist():
            data = zin.read(i.filename)
            if "/data/" in i.filename:
                data = b"".join(data[k : k + 4][::-1] for k in range(0, len(data), 4))
            zout.writestr(i.filename, data)
            if i.filename.endswith("/data.pkl"):
                zout.writestr(i.filename[: -len("data.pkl")] + "byteorder", "big")


def write_tiny(out):
    """The committed fixtures: tiny_bn-{zip,legacy}.pth and tiny.json."""
    m = tiny()
    sd = m.state_dict()
    for name, legacy in (("tiny_bn-zip.pth", False), ("tiny_bn-legacy.pth", True)):
        torch.save(sd, os.path.join(out, name), _use_new_zipfile_serialization=not legacy)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    with torch.no_grad():
        y = m(x)
    ref = {
        "tensors": describe(torch.load(os.path.join(out, "tiny_bn-legacy.pth")), False),
        "forward": {"shape": [2, 3, 8, 8], "input": b64(x), "logits": b64(y)},
        "torch": torch.__version__,
    }
    with open(os.path.join(out, "tiny.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def main(out, big):
    os.makedirs(out, exist_ok=True)
    s, sbn = small(), small(bn=True)
    both(s.state_dict(), out, "small")
    both(sbn.state_dict(), out, "small_bn")
    forward_reference(s, (2, 3, 16, 16), 11, "small", "small-zip.pth")
    forward_reference(sbn, (2, 3, 16, 16), 12, "small_bn", "small_bn-legacy.pth")
    both(small(seed=2).half().state_dict(), out, "small-f16")
    save(small(seed=2).bfloat16().state_dict(), out, "small-bf16-zip.pth")
    save(small().double().state_dict(), out, "small-f64-zip.pth")
    ints = s.state_dict()
    ints["features.3.weight"] = ints["features.3.weight"].round().int()
    save(ints, out, "small-int-zip.pth")
    save(nn.DataParallel(small()).state_dict(), out, "small-dataparallel-zip.pth")

    # PyTorch's ImageNet example (examples/imagenet/main.py) wraps a VGG's features in DataParallel and saves
    # {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer', 'scheduler'}.
    m = small(bn=True)
    m.features = nn.DataParallel(m.features)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m.train()
    m(torch.rand(2, 3, 16, 16)).sum().backward()
    opt.step()
    m.eval()
    ckpt = {
        "epoch": 3,
        "arch": "vgg_small_bn",
        "state_dict": m.state_dict(),
        "best_acc1": torch.tensor(41.5),
        "optimizer": opt.state_dict(),
    }
    both(ckpt, out, "small-checkpoint")

    # The tutorial's checkpoint: {'epoch', 'model_state_dict', ...} here holding nn.Parameters.
    params = collections.OrderedDict(small().named_parameters())
    save({"epoch": 1, "model_state_dict": params, "loss": 0.25}, out, "small-params-zip.pth")
    both(views_state_dict(small()), out, "small-views")
    save(s.state_dict(), out, "small-p4-zip.pth", pickle_protocol=4)
    with OldStyleTensors():
        save(s.state_dict(), out, "small-v1-legacy.pth", legacy=True)
    zip64ify(os.path.join(out, "small-zip.pth"), os.path.join(out, "small-zip64.pth"))
    big_endian(os.path.join(out, "small-zip.pth"), os.path.join(out, "small-big-endian-zip.pth"))
    manifest["files"]["small-zip64.pth"] = {
        "weights_only": weights_only_accepts(os.path.join(out, "small-zip64.pth")),
        "tensors": describe(torch.load(os.path.join(out, "small-zip64.pth")), False),
    }

    # Hostile and refused files (the marker file appears only if something runs the pickled call).
    marker = os.path.join(out, "PWNED")
    t = {"features.0.weight": torch.zeros(8, 3, 3, 3)}
    both({**t, "x": Evil(os.system, (f"touch {marker}",))}, out, "evil-system", describe_tensors=False)
    both({**t, "x": Evil(builtins.eval, (f"open({marker!r}, 'w')",))}, out, "evil-eval", describe_tensors=False)
    save({**t, "x": Evil(builtins.getattr, ("x", "upper"))}, out, "evil-getattr-legacy.pth", legacy=True,
         describe_tensors=False)
    both(small(), out, "model", describe_tensors=False)  # torch.save(model): __main__.SmallVGG
    v = torchvision.models.vgg.VGG(torchvision.models.vgg.make_layers([8, "M"]), num_classes=5, init_weights=False)
    v.classifier = nn.Sequential(nn.Linear(8 * 7 * 7, 5))  # keep the file small; the class is what matters
    save(v, out, "vggmodel-legacy.pth", legacy=True, describe_tensors=False)
    torch.jit.save(torch.jit.script(small()), os.path.join(out, "torchscript.pth"))
    src = os.path.join(out, "small-zip.pth")
    rezip(src, os.path.join(out, "zip-missing-storage.pth"), drop=("/data/2",))  # features.3.weight's storage
    rezip(src, os.path.join(out, "zip-no-data-pkl.pth"), drop=("/data.pkl",))
    rezip(src, os.path.join(out, "zip-deflated.pth"), compress=zipfile.ZIP_DEFLATED)

    if big:
        for arch in ("vgg11", "vgg11_bn"):
            torch.manual_seed(7)
            model = randomise_bn(getattr(torchvision.models, arch)(), 7).eval()
            sd = model.state_dict()
            both(sd, out, arch, big=describe(sd, True))
            if arch == "vgg11_bn":
                forward_reference(model, (1, 3, 224, 224), 13, arch, f"{arch}-zip.pth")

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    if "--tiny" in sys.argv:
        os.makedirs(args[0], exist_ok=True)
        write_tiny(args[0])
    else:
        main(args[0], big="--no-big" not in sys.argv)
