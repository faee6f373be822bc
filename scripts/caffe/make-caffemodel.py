#!/usr/bin/env python3
"""Writes Caffe .caffemodel files with the real protobuf serializer (python3-protobuf, message classes compiled
by protoc from scripts/caffe/caffe.proto, the subset of BVLC's caffe.proto), from a seeded torchvision-layout
VGG (scripts/reference/vgg_torch.py), plus that model's reference tensors and forward (ref.json, ref.bin,
input.bin, logits.bin).

    /usr/bin/python3 scripts/caffe/make-caffemodel.py OUT_DIR CONFIG [--seed N] [--variants a,b,...]

CONFIG: a VggConfig as JSON, or vgg11/vgg13/vgg16/vgg19. Variants (OUT_DIR/<variant>.caffemodel):
  v1          as the authors' VGG_ILSVRC_16_layers.caffemodel: NetParameter with input 'data' and input_dim
              [10, C, S, S], V1 `layers` with enum types (CONVOLUTION, RELU in place, POOLING MAX 2/2,
              INNER_PRODUCT, DROPOUT, SOFTMAX), blobs with num/channels/height/width: conv weights K×C×R×S,
              biases 1×1×1×K, FC weights 1×1×out×in (in in C,H,W order, as Caffe flattens pool5).
  v2          the V2 format newer Caffe writes: `layer` with string types, an Input layer, BlobShape dims
              (conv [K,C,R,S], bias [K], FC [out, in]).
  v2_transpose  V2 with InnerProduct transpose: true and FC weights stored [in, out].
  v1_unpacked float data written unpacked (one tag per value: caffe.proto compiled with packed = false).
  v2_double   blobs in double_data.
Hostile variants: stride2 (conv1_1 with stride 2), avepool (pool1 AVE), leaky (relu1_1 negative_slope 0.1),
batchnorm (a BatchNorm layer after conv1_1), branch (conv2_1 reads pool1's input: not a chain), bad_count
(conv1_1's weight shape one larger than its data), huge (conv1_1's BlobShape dims 2^40), no_bias (conv1_1 with
bias_term but one blob), wrong_channels (conv1_2's weight blob with one channel fewer), both (`layer` and
`layers` in one file), no_fc (the convs and pools only).
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import vgg_torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_proto(packed=True):
    """caffe_pb2 compiled by protoc; packed=False declares the float data unpacked (another package name,
    so both can live in one process)."""
    text = open(os.path.join(HERE, "caffe.proto")).read()
    name = "caffe"
    if not packed:
        text = text.replace("repeated float data = 5 [packed = true];", "repeated float data = 5 [packed = false];")
        text = text.replace("package caffe;", "package caffe_unpacked;")
        name = "caffe_unpacked"
    out = tempfile.mkdtemp(prefix="vggnet-protoc-")
    with open(os.path.join(out, name + ".proto"), "w") as f:
        f.write(text)
    subprocess.run(["protoc", "-I" + out, "--python_out=" + out, name + ".proto"], check=True)
    sys.path.insert(0, out)
    return __import__(name + "_pb2")


def numbers(t):
    return t.detach().numpy().astype("float32").ravel()


def fill_blob(pb, blob, shape, values, legacy, double=False):
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = ([1] * (4 - len(shape)) + list(shape))
    else:
        blob.shape.dim.extend(shape)
    (blob.double_data if double else blob.data).extend(values)


def build(pb, model, cfg, variant):
    v1 = variant.startswith("v1") or variant in ("stride2", "avepool", "leaky", "branch", "bad_count",
                                                  "no_bias", "wrong_channels", "both", "no_fc")
    L = pb.V1LayerParameter
    net = pb.NetParameter()
    net.name = "VGG_ILSVRC_16_layers" if v1 else "VGG_ILSVRC_16_layers_v2"
    s, c = cfg["inputSize"], cfg["inChannels"]

    def layer(name, typ, bottom, top):
        l = net.layers.add() if v1 else net.layer.add()
        l.name = name
        l.type = getattr(L, typ) if v1 else {"CONVOLUTION": "Convolution", "RELU": "ReLU", "POOLING": "Pooling",
                                              "INNER_PRODUCT": "InnerProduct", "DROPOUT": "Dropout",
                                              "SOFTMAX": "Softmax"}.get(typ, typ)
        l.bottom.append(bottom)
        l.top.append(top)
        return l

    if v1:
        net.input.append("data")
        net.input_dim.extend([10, c, s, s])
    else:
        inp = net.layer.add()
        inp.name, inp.type = "data", "Input"
        inp.top.append("data")
        inp.input_param.shape.add().dim.extend([10, c, s, s])
    mods = vgg_torch.features_and_head(model)
    convs = [m for k, m in mods if k == "conv"]
    fcs = [m for k, m in mods if k == "fc"]
    double = variant == "v2_double"
    prev, ci = "data", 0
    for b, stage in enumerate(cfg["stages"], start=1):
        for i, _ in enumerate(stage, start=1):
            m = convs[ci]
            ci += 1
            name = f"conv{b}_{i}"
            bottom = prev
            if variant == "branch" and name == "conv2_1":
                bottom = "conv1_1"
            l = layer(name, "CONVOLUTION", bottom, name)
            r = m.kernel_size[0]
            p = l.convolution_param
            p.num_output = m.out_channels
            p.kernel_size.append(r)
            if r == 3:
                p.pad.append(1)
            if variant == "stride2" and name == "conv1_1":
                p.stride.append(2)
            w = list(m.weight.shape)
            if variant == "wrong_channels" and name == "conv1_2":
                w[1] -= 1
            wv = numbers(m.weight)[: w[0] * w[1] * w[2] * w[3]]
            if variant == "bad_count" and name == "conv1_1":
                w[0] += 1
            blob = l.blobs.add()
            if variant == "huge" and name == "conv1_1":
                fill_blob(pb, blob, [2 ** 40] + w[1:], wv, False)
            else:
                fill_blob(pb, blob, w, wv, v1, double)
            if not (variant == "no_bias" and name == "conv1_1"):
                fill_blob(pb, l.blobs.add(), [m.out_channels], numbers(m.bias), v1, double)
            relu = layer(f"relu{b}_{i}", "RELU", name, name)
            if variant == "leaky" and name == "conv1_1":
                relu.relu_param.negative_slope = 0.1
            if variant == "batchnorm" and name == "conv1_1":
                bn = layer("bn1_1", "BatchNorm", name, name)
                for _ in range(3):
                    fill_blob(pb, bn.blobs.add(), [m.out_channels], [0.0] * m.out_channels, False)
            prev = name
        pool = layer(f"pool{b}", "POOLING", prev, f"pool{b}")
        pool.pooling_param.pool = pb.PoolingParameter.AVE if variant == "avepool" and b == 1 else pb.PoolingParameter.MAX
        pool.pooling_param.kernel_size = 2
        pool.pooling_param.stride = 2
        prev = f"pool{b}"
    if variant == "no_fc":
        return net
    for j, m in enumerate(fcs):
        name = f"fc{6 + j}"
        l = layer(name, "INNER_PRODUCT", prev, name)
        l.inner_product_param.num_output = m.out_features
        w = m.weight
        if variant == "v2_transpose":
            l.inner_product_param.transpose = True
            w = w.t()
        fill_blob(pb, l.blobs.add(), list(w.shape), numbers(w), v1, double)
        fill_blob(pb, l.blobs.add(), [m.out_features], numbers(m.bias), v1, double)
        prev = name
        if j < len(fcs) - 1:
            layer(f"relu{6 + j}", "RELU", name, name)
            layer(f"drop{6 + j}", "DROPOUT", name, name).dropout_param.dropout_ratio = 0.5
    layer("prob", "SOFTMAX", prev, "prob")
    if variant == "both":
        net.layer.add().name = "extra"
    return net


VARIANTS = ("v1", "v2", "v2_transpose", "v1_unpacked", "v2_double")
HOSTILE = ("stride2", "avepool", "leaky", "batchnorm", "branch", "bad_count", "huge", "no_bias", "wrong_channels",
           "both", "no_fc")


def main():
    out, model, cfg, variants = vgg_torch.fixture_main(__doc__, "variants", VARIANTS + HOSTILE, VARIANTS)
    packed = compile_proto(True)
    for v in variants:
        pb = compile_proto(False) if v == "v1_unpacked" else packed
        with open(os.path.join(out, f"{v}.caffemodel"), "wb") as f:
            f.write(build(pb, model, cfg, v).SerializeToString())


if __name__ == "__main__":
    main()
