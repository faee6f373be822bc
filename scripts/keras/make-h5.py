#!/usr/bin/env python3
"""Writes Keras .h5 weights files with h5py exactly as Keras writes them, from a seeded torchvision-layout VGG
(scripts/reference/vgg_torch.py), plus that model's reference tensors and forward (ref.json, ref.bin,
input.bin, logits.bin).

    /usr/bin/python3 scripts/keras/make-h5.py OUT_DIR CONFIG [--seed N] [--layouts a,b,...]

CONFIG: a VggConfig as JSON, or vgg11/vgg13/vgg16/vgg19. Layouts (OUT_DIR/<layout>.h5):
  save        Keras 2 model.save('x.h5'): root attrs keras_version, backend, model_config (the Functional
              model's JSON, as keras.applications.VGG16 builds it); weights under model_weights/ with attrs
              layer_names, backend, keras_version; each layer a group with attr weight_names
              ('block1_conv1/kernel:0', ...), datasets at <layer>/<weight name>.
  weights     Keras 2 model.save_weights('x.h5'): the same layer groups at the root, attrs at the root.
  keras3      Keras 3 model.save('x.h5') (keras/src/legacy/saving/legacy_h5_format.py): weight names are
              variable paths without ':0' ('block1_conv1/kernel'), an empty top_level_model_weights group.
  keras1      the weights layout with Keras 1 weight names ('block1_conv1_W_1:0', 'block1_conv1_b_1:0'):
              Keras reads by order, not by name.
  chunked     layer_names split over layer_names0, layer_names1 (Keras does this past 64512 bytes).
  channels_first  model.save of the same network built with data_format 'channels_first': kernels are
              still HWIO, Flatten then reads C,H,W, so fc1's rows are in C,H,W order.
  notop       include_top=False: no flatten, fc1, fc2, predictions.
  keras3_weights  Keras 3's own model.save_weights('x.weights.h5') (keras/src/saving/saving_lib.py
              H5IOStore): layers/<class in snake case>[_<n>]/vars/<i>, groups only for layers with weights.
Hostile variants of 'weights': wrong_shape (block2_conv1's kernel one channel short), missing_layer (a name in
layer_names without its group), missing_weight (a weight name without its dataset), batchnorm (a
BatchNormalization layer after block1_conv1), theano (backend 'theano', OIHW kernels), bigendian (datasets
stored big-endian), float64 (datasets stored as f8), soft_cycle (the block1_conv1 group replaced by soft links
that point at each other), external_link (block1_conv1 an external link to another file), avgpool (the
config's pools are AveragePooling2D), no_layer_names (no layer_names attribute), float16 (datasets stored as
f2).
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import vgg_torch  # noqa: E402

HEADER_LIMIT = 64512  # keras legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT


def keras_layers(model, cfg, data_format="channels_last"):
    """The layers of keras.applications.VGG16-style model: [(name, class_name, config, [(wname, array)])].
    Weight arrays in Keras layout: Conv2D kernel (kh, kw, in, out) HWIO, Dense kernel (in, out)."""
    p = cfg["inputSize"] // 2 ** len(cfg["stages"])
    s = cfg["inputSize"]
    shape = [None, s, s, cfg["inChannels"]] if data_format == "channels_last" else [None, cfg["inChannels"], s, s]
    out = [("input_1", "InputLayer", {"batch_input_shape": shape, "dtype": "float32", "sparse": False}, [])]
    mods = vgg_torch.features_and_head(model)
    convs = [m for k, m in mods if k == "conv"]
    fcs = [m for k, m in mods if k == "fc"]
    ci = 0
    for b, stage in enumerate(cfg["stages"], start=1):
        for i, entry in enumerate(stage, start=1):
            m = convs[ci]
            ci += 1
            k, r = vgg_torch.conv_def(entry)
            name = f"block{b}_conv{i}"
            kernel = m.weight.detach().numpy().transpose(2, 3, 1, 0)  # OIHW -> HWIO
            conf = {
                "filters": k, "kernel_size": [r, r], "strides": [1, 1], "padding": "same",
                "data_format": data_format, "dilation_rate": [1, 1], "activation": "relu", "use_bias": True,
            }
            out.append((name, "Conv2D", conf, [("kernel", kernel), ("bias", m.bias.detach().numpy())]))
        pool = {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid", "data_format": data_format}
        out.append((f"block{b}_pool", "MaxPooling2D", pool, []))
    out.append(("flatten", "Flatten", {"data_format": data_format}, []))
    names = [f"fc{j + 1}" for j in range(len(fcs) - 1)] + ["predictions"]
    c = fcs[0].in_features // (p * p)
    for j, (name, m) in enumerate(zip(names, fcs)):
        w = m.weight.detach().numpy()  # [out, in], in in C,H,W order
        if j == 0 and data_format == "channels_last":
            w = w.reshape(w.shape[0], c, p, p).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)  # in -> H,W,C
        act = "softmax" if name == "predictions" else "relu"
        conf = {"units": m.out_features, "activation": act, "use_bias": True}
        out.append((name, "Dense", conf, [("kernel", np.ascontiguousarray(w.T)), ("bias", m.bias.detach().numpy())]))
    return out


def model_config(layers, name="vgg16"):
    """The Functional model's get_config() as Keras 2 serialises it (a chain of layers)."""
    entries, prev = [], None
    for lname, cls, conf, _ in layers:
        inbound = [] if prev is None else [[[prev, 0, 0, {}]]]
        entries.append({"class_name": cls, "config": dict(conf, name=lname, trainable=True, dtype="float32"),
                        "name": lname, "inbound_nodes": inbound})
        prev = lname
    return {"class_name": "Functional", "config": {"name": name, "layers": entries,
                                                   "input_layers": [[layers[0][0], 0, 0]],
                                                   "output_layers": [[layers[-1][0], 0, 0]]}}


def save_attributes(group, name, data, limit=HEADER_LIMIT):
    """keras save_attributes_to_hdf5_group: one attribute, or name0, name1, ... when too large."""
    data_npy = np.asarray(data)
    n = 1
    chunks = np.array_split(data_npy, n)
    while any(x.nbytes > limit for x in chunks):
        n += 1
        chunks = np.array_split(data_npy, n)
    if n > 1:
        for i, chunk in enumerate(chunks):
            group.attrs["%s%d" % (name, i)] = chunk
    else:
        group.attrs[name] = data


def weight_name(layer, w, style):
    if style == "keras2":
        return f"{layer}/{w}:0"
    if style == "keras3":
        return f"{layer}/{w}"
    return f"{layer}_{'W' if w == 'kernel' else 'b'}_1:0"  # keras1


def save_weights_group(group, layers, style="keras2", version=b"2.13.1", backend=b"tensorflow", limit=HEADER_LIMIT,
                       dtype=None):
    """keras save_weights_to_hdf5_group."""
    save_attributes(group, "layer_names", [n.encode("utf8") for n, _, _, _ in layers], limit)
    group.attrs["backend"] = backend
    group.attrs["keras_version"] = version
    for lname, _, _, weights in sorted(layers, key=lambda x: x[0]):
        g = group.create_group(lname)
        names = [weight_name(lname, w, style).encode("utf8") for w, _ in weights]
        save_attributes(g, "weight_names", names)
        for wname, (_, val) in zip(names, weights):
            d = g.create_dataset(wname, val.shape, dtype=dtype or val.dtype)
            d[:] = val
    if style == "keras3":
        save_attributes(group.create_group("top_level_model_weights"), "weight_names", [])


def write(path, layout, model, cfg):
    layers = keras_layers(model, cfg, "channels_first" if layout == "channels_first" else "channels_last")
    with h5py.File(path, "w") as f:
        if layout in ("save", "keras3", "channels_first"):
            version = b"3.3.3" if layout == "keras3" else b"2.13.1"
            f.attrs["keras_version"] = version
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(model_config(layers)).encode("utf8")
            save_weights_group(f.create_group("model_weights"), layers,
                               "keras3" if layout == "keras3" else "keras2", version)
            return
        if layout == "notop":
            layers = [x for x in layers if x[1] not in ("Flatten", "Dense")]
        if layout == "batchnorm":
            k = layers[1][3][0][1].shape[3]
            bn = [(w, np.full(k, v, np.float32)) for w, v in
                  (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0), ("moving_variance", 1.0))]
            layers.insert(2, ("block1_bn", "BatchNormalization", {}, bn))
        if layout == "theano":
            layers = [(n, c, conf, [(w, a.transpose(3, 2, 0, 1) if a.ndim == 4 else a) for w, a in ws])
                      for n, c, conf, ws in layers]
        style = "keras1" if layout == "keras1" else "keras2"
        limit = 64 if layout == "chunked" else HEADER_LIMIT
        dtype = {"bigendian": ">f4", "float64": "<f8", "float16": "<f2"}.get(layout)
        if layout == "keras3_weights":  # keras/src/saving/saving_lib.py H5IOStore, names from class names
            counts = {}
            for _, cls, _, weights in layers:
                key = {"Conv2D": "conv2d", "Dense": "dense", "MaxPooling2D": "max_pooling2d",
                       "InputLayer": "input_layer"}.get(cls, cls.lower())
                n = counts.get(key, 0)
                counts[key] = n + 1
                if not weights:
                    continue  # H5IOStore.make defers the group to the first variable: none for a pool
                g = f.create_group(f"layers/{key}{'_%d' % n if n else ''}/vars")
                for i, (_, val) in enumerate(weights):
                    g.create_dataset(str(i), data=val)
            return
        save_weights_group(f, layers, style, backend=b"theano" if layout == "theano" else b"tensorflow",
                           limit=limit, dtype=dtype)
        if layout == "avgpool":  # a model_config that says what the pools are
            for x in layers:
                if x[1] == "MaxPooling2D":
                    layers[layers.index(x)] = (x[0], "AveragePooling2D", x[2], x[3])
            f.attrs["model_config"] = json.dumps(model_config(layers)).encode("utf8")
        if layout == "wrong_shape":
            g = f["block2_conv1"]
            old = g["block2_conv1/kernel:0"]
            a = old[:, :, :-1, :]
            del g["block2_conv1/kernel:0"]
            g.create_dataset("block2_conv1/kernel:0", data=a)
        if layout == "missing_layer":
            del f["block2_conv1"]
        if layout == "missing_weight":
            del f["block2_conv1/block2_conv1/bias:0"]
        if layout == "soft_cycle":
            del f["block1_conv1"]
            f["block1_conv1"] = h5py.SoftLink("/loop_b")
            f["loop_b"] = h5py.SoftLink("/block1_conv1")
        if layout == "external_link":
            del f["block1_conv1"]
            f["block1_conv1"] = h5py.ExternalLink(os.path.basename(path) + ".other.h5", "/block1_conv1")
        if layout == "no_layer_names":
            del f.attrs["layer_names"]
    if layout == "external_link":
        with h5py.File(path + ".other.h5", "w") as other:
            other.create_group("block1_conv1")


LAYOUTS = ("save", "weights", "keras3", "keras1", "chunked", "channels_first", "notop", "keras3_weights")
HOSTILE = ("wrong_shape", "missing_layer", "missing_weight", "batchnorm", "theano", "bigendian", "float64",
           "soft_cycle", "external_link", "avgpool", "no_layer_names", "float16")


def main():
    out, model, cfg, layouts = vgg_torch.fixture_main(__doc__, "layouts", LAYOUTS + HOSTILE, LAYOUTS)
    for layout in layouts:
        write(os.path.join(out, f"{layout}.h5"), layout, model, cfg)


if __name__ == "__main__":
    main()
