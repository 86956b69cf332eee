#!/usr/bin/env python3
"""Floating-point operations per example of the built-in workloads' models, layer by layer.

Computed from the architectures in workloads/README.md and the sizes in each data set's meta.json,
so it follows the data that the workloads actually train on. Standard library only.

    bench/model_flops.py [--data-dir ~/.cache/joulebench/data] [--size quick] [--seed 42] [--csv]

The rule:
- A multiply-add counts 2 FLOPs. Counted: linear layers, convolutions (2 x in_channels x 3 x 3 x
  out_channels per output pixel) and the attention matmuls (Q K^T and the weights times V).
- Backward of a layer with weights is 2 x its forward (the gradient of the weights and that of the
  input), less the input's gradient where autograd does not compute it (the stem convolution,
  whose input is the image). An attention matmul has no weights but two inputs that both need a
  gradient: also 2 x forward. Training = forward + backward.
- Not counted: element-wise work (bias adds, ReLU, batch and layer norm, softmax, residual adds,
  means, the loss) and the optimiser's update, which touches every parameter once per step: both
  are listed on their own lines (as element-wise operations and parameters per example), not added.
- An example is what the throughput metrics count: an NCF (user, item) pair, a Transformer sequence,
  a ResNet image.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass


@dataclass
class Layer:
    name: str
    forward_flops: float  # per example
    has_weights: bool  # a weight gradient is computed
    input_gradient: bool  # the gradient of the (first) input is computed
    operands_with_gradient: int = 1  # attention matmuls: both operands

    def backward_flops(self):
        if self.has_weights:
            return self.forward_flops * ((1 if self.input_gradient else 0) + 1)
        return self.forward_flops * self.operands_with_gradient

    def train_flops(self):
        return self.forward_flops + self.backward_flops()


def linear(name, rows, width_in, width_out, input_gradient=True):
    """rows: how many vectors per example go through the layer (the Transformer's tokens)."""
    return Layer(f"{name} {width_in}->{width_out}", 2.0 * rows * width_in * width_out, True, input_gradient)


def conv3x3(name, channels_in, channels_out, side_out, input_gradient=True):
    flops = 2.0 * channels_in * 9 * channels_out * side_out * side_out
    return Layer(f"{name} {channels_in}->{channels_out} 3x3, {side_out}x{side_out} out", flops, True, input_gradient)


def ncf_layers(meta):
    layers = []
    widths = meta["mlp_layers"]
    for index, (width_in, width_out) in enumerate(zip(widths, widths[1:])):
        layers.append(linear(f"mlp[{index}]", 1, width_in, width_out))
    layers.append(linear("output", 1, meta["gmf_dim"] + widths[-1], 1))
    return layers


def ncf_elementwise(meta):
    widths = meta["mlp_layers"]
    # GMF product, bias adds and ReLUs of the MLP, the output bias, the loss's sigmoid (about one op each).
    return meta["gmf_dim"] + 2 * sum(widths[1:]) + 1 + 1


def transformer_layers(meta):
    tokens, d, heads, ff = meta["seq_len"], meta["d_model"], meta["heads"], meta["ff"]
    layers = []
    for index in range(meta["layers"]):
        prefix = f"layer {index}"
        layers.append(linear(f"{prefix} in-projection (q, k, v)", tokens, d, 3 * d))
        # Per head: [tokens, d/heads] x [d/heads, tokens], then [tokens, tokens] x [tokens, d/heads].
        layers.append(Layer(f"{prefix} attention Q K^T ({heads} heads)", 2.0 * tokens * tokens * d, False, True, 2))
        layers.append(Layer(f"{prefix} attention weights x V", 2.0 * tokens * tokens * d, False, True, 2))
        layers.append(linear(f"{prefix} out-projection", tokens, d, d))
        layers.append(linear(f"{prefix} feed-forward", tokens, d, ff))
        layers.append(linear(f"{prefix} feed-forward", tokens, ff, d))
    layers.append(linear("classifier", 1, d, meta["classes"]))
    return layers


def transformer_elementwise(meta):
    tokens, d, heads, ff = meta["seq_len"], meta["d_model"], meta["heads"], meta["ff"]
    per_layer = (3 * d + d + ff + d) * tokens  # bias adds
    per_layer += heads * tokens * tokens * 5  # scaling, softmax (max, exp, sum, divide)
    per_layer += 2 * d * tokens  # residual adds
    per_layer += 2 * 8 * d * tokens  # two layer norms (mean, variance, normalise, scale, shift)
    per_layer += ff * tokens  # ReLU
    return d * tokens + meta["layers"] * per_layer + d * tokens + meta["classes"]  # + positions, mean, bias


def resnet_layers(meta):
    c1, c2, c3 = meta["channels"]
    side = 28
    layers = [conv3x3("stem", 1, c1, side, input_gradient=False)]
    channels_in = c1
    for stage, (channels_out, stride) in enumerate(((c1, 1), (c2, 2), (c3, 2)), start=1):
        side //= stride
        layers.append(conv3x3(f"stage {stage} conv1", channels_in, channels_out, side))
        layers.append(conv3x3(f"stage {stage} conv2", channels_out, channels_out, side))
        channels_in = channels_out
    layers.append(linear("classifier", 1, c3, meta["classes"]))
    return layers


def resnet_elementwise(meta):
    c1, c2, c3 = meta["channels"]
    maps = [(c1, 28)] * 3 + [(c2, 14)] * 2 + [(c3, 7)] * 2  # the stem's and each conv's output
    elements = sum(channels * side * side for channels, side in maps)
    # Batch norm (about 6 per element in training: mean, variance, normalise, scale, shift) and ReLU
    # on each conv output; the residual add; normalising the pixels.
    return 7 * elements + sum(c * s * s for c, s in ((c1, 28), (c2, 14), (c3, 7))) + 28 * 28


MODELS = {
    "ncf": (ncf_layers, ncf_elementwise),
    "transformer": (transformer_layers, transformer_elementwise),
    "resnet": (resnet_layers, resnet_elementwise),
}


def parameters_per_example(meta):
    """The optimiser updates every parameter once per step (NCF's embedding gradients are dense)."""
    if meta["model"] == "ncf":
        count = (meta["users"] + meta["items"]) * (meta["gmf_dim"] + meta["mlp_dim"])
        widths = meta["mlp_layers"]
        count += sum(a * b + b for a, b in zip(widths, widths[1:])) + meta["gmf_dim"] + widths[-1] + 1
    elif meta["model"] == "transformer":
        d, ff = meta["d_model"], meta["ff"]
        per_layer = 3 * d * d + 3 * d + d * d + d + d * ff + ff + ff * d + d + 4 * d
        count = meta["vocab"] * d + meta["layers"] * per_layer + d * meta["classes"] + meta["classes"]
    else:
        c1, c2, c3 = meta["channels"]
        count = 9 * c1 + 2 * c1
        for channels_in, channels_out in ((c1, c1), (c1, c2), (c2, c3)):
            count += 9 * channels_in * channels_out + 9 * channels_out * channels_out + 4 * channels_out
        count += c3 * meta["classes"] + meta["classes"]
    return count, count / meta["batch"]


def read_meta(data_dir, model, size, seed):
    path = os.path.join(data_dir, f"{model}-{size}-seed{seed}", "meta.json")
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise SystemExit(f"model_flops: {path} is missing: run `joulebench workload {model} --framework libtorch "
                         f"--size {size} --seed {seed}` once, or joulebench-data, to write it") from None
    except (OSError, ValueError) as error:
        raise SystemExit(f"model_flops: cannot read {path}: {error}") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("JOULEBENCH_DATA_DIR",
                                                             os.path.expanduser("~/.cache/joulebench/data")))
    parser.add_argument("--size", default="quick", choices=["tiny", "quick", "standard"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--csv", action="store_true", help="model,forward_flops,train_flops per example")
    arguments = parser.parse_args()

    if arguments.csv:
        print("model,forward_flops,train_flops")
    for model, (layer_list, elementwise) in MODELS.items():
        meta = read_meta(arguments.data_dir, model, arguments.size, arguments.seed)
        layers = layer_list(meta)
        forward = sum(layer.forward_flops for layer in layers)
        train = sum(layer.train_flops() for layer in layers)
        if arguments.csv:
            print(f"{model},{forward:.0f},{train:.0f}")
            continue
        parameters, per_example = parameters_per_example(meta)
        print(f"\n{model} ({arguments.size}, seed {arguments.seed}, batch {meta['batch']}): FLOPs per example")
        print(f"  {'layer':<48} {'forward':>12} {'backward':>12} {'train':>12}")
        for layer in layers:
            print(f"  {layer.name:<48} {layer.forward_flops:>12,.0f} {layer.backward_flops():>12,.0f} "
                  f"{layer.train_flops():>12,.0f}")
        print(f"  {'total (counted)':<48} {forward:>12,.0f} {train - forward:>12,.0f} {train:>12,.0f}")
        print(f"  not counted: about {elementwise(meta):,} element-wise operations per example forward; "
              f"the optimiser updates {parameters:,} parameters a step ({per_example:,.1f} per example)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
