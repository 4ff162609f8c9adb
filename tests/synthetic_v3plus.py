"""A tiny DeepLab v3+ style graph written with the TFLite schema: no zoo model has a decoder, so this is
the only way to exercise decoder detection. Tests assert on its structure only (its weights are arbitrary)."""

from __future__ import annotations

import flatbuffers
import numpy as np


def build_v3plus(schema) -> bytes:
    s = schema
    tensors, buffers, ops, codes = [], [s.BufferT()], [], []

    def tensor(shape, data=None, dtype=np.float32, name=""):
        t = s.TensorT()
        t.shape = list(shape)
        t.type = s.TensorType.INT32 if dtype == np.int32 else s.TensorType.FLOAT32
        t.name = name or f"t{len(tensors)}"
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.asarray(data, dtype).tobytes(), np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        else:
            b = s.BufferT()
            buffers.append(b)
            t.buffer = len(buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    def code(op):
        if op not in codes:
            codes.append(op)
        return codes.index(op)

    def add(opname, inputs, outputs, opt_type=0, opt=None):
        o = s.OperatorT()
        o.opcodeIndex = code(getattr(s.BuiltinOperator, opname))
        o.inputs, o.outputs = list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = opt_type, opt
        ops.append(o)

    rng = np.random.default_rng(0)

    def conv(x, cin, cout, k, stride, out_hw, name, rate=1, act=1):
        w = tensor((cout, k, k, cin), rng.normal(0, 0.2, (cout, k, k, cin)))
        b = tensor((cout,), np.zeros(cout))
        y = tensor((1, *out_hw, cout), name=name)
        opt = s.Conv2DOptionsT()
        opt.padding, opt.strideH, opt.strideW = s.Padding.SAME, stride, stride
        opt.dilationHFactor = opt.dilationWFactor = rate
        opt.fusedActivationFunction = act
        add("CONV_2D", [x, w, b], [y], s.BuiltinOptions.Conv2DOptions, opt)
        return y

    def depthwise(x, c, k, rate, out_hw, name):
        w = tensor((1, k, k, c), rng.normal(0, 0.2, (1, k, k, c)))
        b = tensor((c,), np.zeros(c))
        y = tensor((1, *out_hw, c), name=name)
        opt = s.DepthwiseConv2DOptionsT()
        opt.padding, opt.strideH, opt.strideW, opt.depthMultiplier = s.Padding.SAME, 1, 1, 1
        opt.dilationHFactor = opt.dilationWFactor = rate
        opt.fusedActivationFunction = 1
        add("DEPTHWISE_CONV_2D", [x, w, b], [y], s.BuiltinOptions.DepthwiseConv2DOptions, opt)
        return y

    def resize(x, size, c, name):
        shape = tensor((2,), np.array(size), np.int32)
        y = tensor((1, *size, c), name=name)
        opt = s.ResizeBilinearOptionsT()
        opt.alignCorners = True
        add("RESIZE_BILINEAR", [x, shape], [y], s.BuiltinOptions.ResizeBilinearOptions, opt)
        return y

    def concat(xs, hw, c, name):
        y = tensor((1, *hw, c), name=name)
        opt = s.ConcatenationOptionsT()
        opt.axis = 3
        add("CONCATENATION", xs, [y], s.BuiltinOptions.ConcatenationOptions, opt)
        return y

    x = tensor((1, 64, 64, 3), name="image")
    t1 = conv(x, 3, 8, 3, 2, (32, 32), "backbone/conv1")
    low = conv(t1, 8, 8, 3, 2, (16, 16), "backbone/conv2")
    t3 = conv(low, 8, 16, 3, 2, (8, 8), "backbone/conv3")
    enc = depthwise(t3, 16, 3, 2, (8, 8), "backbone/atrous_dw")
    pooled = tensor((1, 1, 1, 16), name="image_pooling/pool")
    opt = s.Pool2DOptionsT()
    opt.padding, opt.strideH, opt.strideW, opt.filterHeight, opt.filterWidth = s.Padding.VALID, 1, 1, 8, 8
    add("AVERAGE_POOL_2D", [enc], [pooled], s.BuiltinOptions.Pool2DOptions, opt)
    pconv = conv(pooled, 16, 8, 1, 1, (1, 1), "image_pooling/conv")
    pup = resize(pconv, (8, 8), 8, "image_pooling/upsample")
    aspp0 = conv(enc, 16, 8, 1, 1, (8, 8), "aspp0")
    dw = depthwise(enc, 16, 3, 4, (8, 8), "aspp1_depthwise")
    aspp1 = conv(dw, 16, 8, 1, 1, (8, 8), "aspp1_pointwise")
    cat = concat([pup, aspp0, aspp1], (8, 8), 24, "concat")
    proj = conv(cat, 24, 8, 1, 1, (8, 8), "concat_projection")
    up = resize(proj, (16, 16), 8, "decoder/upsample")
    skip = conv(low, 8, 4, 1, 1, (16, 16), "decoder/feature_projection")
    dcat = concat([up, skip], (16, 16), 12, "decoder/concat")
    dconv = conv(dcat, 12, 8, 3, 1, (16, 16), "decoder/conv")
    logits = conv(dconv, 8, 5, 1, 1, (16, 16), "logits/semantic", act=0)
    out = resize(logits, (64, 64), 5, "output")

    g = s.SubGraphT()
    g.tensors, g.operators, g.inputs, g.outputs, g.name = tensors, ops, [x], [out], "main"
    m = s.ModelT()
    m.version, m.subgraphs, m.buffers, m.description = 3, [g], buffers, "tiny v3+"
    m.operatorCodes = []
    for c in codes:
        oc = s.OperatorCodeT()
        oc.builtinCode = c
        oc.deprecatedBuiltinCode = min(c, 127)
        oc.version = 1
        m.operatorCodes.append(oc)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
