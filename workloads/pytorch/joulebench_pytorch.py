#!/usr/bin/python3
"""The built-in workloads in PyTorch: NCF, Transformer and ResNet, trained or run for inference.

Follows the shared contract in workloads/README.md (data, models, initialisation, optimisers,
order, flags, events), so its results compare with the LibTorch and dlib versions. Run it with
Debian's /usr/bin/python3 (python3-torch):

    /usr/bin/python3 joulebench_pytorch.py --model resnet --phase train --data DIR --threads 2
    /usr/bin/python3 joulebench_pytorch.py --model resnet --phase infer --data DIR --threads 2

DIR is a directory written by joulebench-data. Under `joulebench measure` the regions and metrics
go to joulebench; standalone, a short summary is printed.
"""

import argparse
import collections
import json
import os
import pickle
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
# Beside this script in a build tree; in python/ of the source tree.
for _folder in (_HERE, os.path.join(_HERE, "..", "..", "python")):
    if os.path.isfile(os.path.join(_folder, "joulebench_events.py")):
        sys.path.insert(0, os.path.normpath(_folder))
        break
try:
    import joulebench_events as jb
except ImportError:
    sys.stderr.write("joulebench_pytorch: joulebench_events.py is neither beside this script nor in ../../python\n")
    sys.exit(2)

PROGRAM = "joulebench_pytorch"
FRAMEWORK = "pytorch"


class Failure(Exception):
    """Bad arguments or missing data: a message and exit status 2, no traceback."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{PROGRAM}: {message}\n")
        sys.exit(2)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def parse_arguments(argv):
    parser = ArgumentParser(prog=PROGRAM, description="NCF, Transformer and ResNet in PyTorch (workloads/README.md)")
    parser.add_argument("--model", required=True, choices=["ncf", "transformer", "resnet"])
    parser.add_argument("--phase", required=True, choices=["train", "infer"])
    parser.add_argument("--data", required=True, help="a directory written by joulebench-data")
    parser.add_argument("--checkpoint", help="train: where to save; infer: what to load (default DATA/pytorch.ckpt)")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--batch", type=positive_int, help="infer: the batch size (default: meta.json's batch)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=positive_int, help="override meta.json's steps")
    return parser.parse_args(argv)


ARGS = parse_arguments(sys.argv[1:])

# The thread pools read these when torch is imported, so they are set first.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# --------------------------------------------------------------------------------------------
# Models, as a PyTorch user writes them.

class NeuMF(nn.Module):
    """NCF's NeuMF: GMF and an MLP over separate embeddings, fused by one linear layer."""

    embedding_std = 0.01  # the NCF paper

    def __init__(self, meta):
        super().__init__()
        users, items = meta["users"], meta["items"]
        gmf_dim, mlp_dim, layers = meta["gmf_dim"], meta["mlp_dim"], meta["mlp_layers"]
        if layers[0] != 2 * mlp_dim:
            raise Failure(f"meta.json: mlp_layers[0] ({layers[0]}) must be 2 x mlp_dim ({mlp_dim})")
        self.gmf_user = nn.Embedding(users, gmf_dim)
        self.gmf_item = nn.Embedding(items, gmf_dim)
        self.mlp_user = nn.Embedding(users, mlp_dim)
        self.mlp_item = nn.Embedding(items, mlp_dim)
        mlp = []
        for width_in, width_out in zip(layers, layers[1:]):
            mlp += [nn.Linear(width_in, width_out), nn.ReLU()]
        self.mlp = nn.Sequential(*mlp)
        self.output = nn.Linear(gmf_dim + layers[-1], 1)

    def forward(self, users, items):
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


def sinusoidal_positions(seq_len, d_model):
    """The fixed positional encoding of "Attention is all you need": sin on even, cos on odd."""
    position = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)
    frequency = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    encoding = torch.zeros(seq_len, d_model, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)
    return encoding.to(torch.float32)


class TransformerClassifier(nn.Module):
    # At 0.01 the tokens would be drowned by the positional encoding and training stalls at chance.
    embedding_std = 1.0

    def __init__(self, meta):
        super().__init__()
        d_model = meta["d_model"]
        self.embedding = nn.Embedding(meta["vocab"], d_model)
        self.register_buffer("positions", sinusoidal_positions(meta["seq_len"], d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, meta["heads"], dim_feedforward=meta["ff"], dropout=0.0,
                                           activation="relu", layer_norm_eps=1e-5, batch_first=True,
                                           norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, meta["layers"], enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, meta["classes"])

    def forward(self, tokens):
        encoded = self.encoder(self.embedding(tokens) + self.positions)
        return self.classifier(encoded.mean(dim=1))


class BasicBlock(nn.Module):
    """The ResNet basic block; a stride-2 block's shortcut is the paper's option A (average pool,
    then zero channels appended), which has no parameters."""

    def __init__(self, channels_in, channels_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out, eps=1e-5, momentum=0.1)
        self.stride = stride
        self.extra_channels = channels_out - channels_in

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1:
            shortcut = F.avg_pool2d(shortcut, kernel_size=2, stride=2)
        if self.extra_channels:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, meta):
        super().__init__()
        c1, c2, c3 = meta["channels"]
        self.stem = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c1, eps=1e-5, momentum=0.1), nn.ReLU())
        self.stages = nn.Sequential(BasicBlock(c1, c1, 1), BasicBlock(c1, c2, 2), BasicBlock(c2, c3, 2))
        self.classifier = nn.Linear(c3, meta["classes"])

    def forward(self, images):
        features = self.stages(self.stem(images))
        return self.classifier(features.mean(dim=(2, 3)))


def initialise(model):
    """The contract's scheme, applied explicitly (PyTorch's own defaults differ)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):  # out_proj of the attention included
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=model.embedding_std)
        elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.kaiming_normal_(module.in_proj_weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.in_proj_bias)


# --------------------------------------------------------------------------------------------
# Data: each model's tensors, batches and metrics.

def load_array(data_dir, name):
    path = os.path.join(data_dir, name)
    try:
        return np.load(path)
    except FileNotFoundError:
        raise Failure(f"{path} is missing: regenerate the directory with joulebench-data") from None
    except (OSError, EOFError, ValueError) as error:
        raise Failure(f"{path} is not a readable .npy file ({error})") from None


def as_tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


class NcfTask:
    """Training examples are (user, item, label) triples; a test example is one (user, item)
    pair, the test set being the [users, 100] pairs in row-major order."""

    loss_function = staticmethod(F.binary_cross_entropy_with_logits)

    def __init__(self, data_dir, meta):
        self.meta = meta
        self.top_k = meta["top_k"]
        self.train = None
        test_users = as_tensor(load_array(data_dir, "test_users.npy"))
        self.test_items = as_tensor(load_array(data_dir, "test_items.npy"))
        self.test_users = test_users.unsqueeze(1).expand_as(self.test_items).contiguous()

    def load_train(self, data_dir, device):
        self.train = tuple(as_tensor(load_array(data_dir, name)).to(device)
                           for name in ("train_users.npy", "train_items.npy", "train_labels.npy"))

    def train_batch(self, indices):
        users, items, labels = self.train
        return (users[indices], items[indices]), labels[indices]

    def test_size(self):
        return self.test_items.numel()

    def test_batch(self, start, stop):
        return (self.test_users.view(-1)[start:stop], self.test_items.view(-1)[start:stop])

    def prepare(self, inputs):
        return inputs

    def metrics(self, outputs):
        scores = outputs.view(self.test_items.shape)
        rank = (scores >= scores[:, :1]).sum(dim=1)  # ties count against the held-out item
        hit = rank <= self.top_k
        ndcg = torch.where(hit, 1.0 / torch.log2(rank.double() + 1.0), torch.zeros((), dtype=torch.float64))
        k = self.top_k
        return {f"hr@{k}": hit.double().mean().item(), f"ndcg@{k}": ndcg.mean().item()}


class ClassificationTask:
    loss_function = staticmethod(F.cross_entropy)

    def __init__(self, data_dir, meta):
        self.meta = meta
        self.train = None
        self.test_inputs = as_tensor(load_array(data_dir, self.test_file))
        self.test_labels = as_tensor(load_array(data_dir, "test_labels.npy"))

    def load_train(self, data_dir, device):
        self.train = (as_tensor(load_array(data_dir, self.train_file)).to(device),
                      as_tensor(load_array(data_dir, "train_labels.npy")).to(device))

    def train_batch(self, indices):
        inputs, labels = self.train
        return self.prepare((inputs[indices],)), labels[indices]

    def test_size(self):
        return self.test_labels.numel()

    def test_batch(self, start, stop):
        return (self.test_inputs[start:stop],)

    def prepare(self, inputs):
        return inputs

    def metrics(self, outputs):
        predicted = outputs.argmax(dim=1)
        return {"accuracy": (predicted == self.test_labels).double().mean().item()}


class TransformerTask(ClassificationTask):
    train_file, test_file = "train_tokens.npy", "test_tokens.npy"


class ResnetTask(ClassificationTask):
    """Images stay uint8 in memory and are normalised batch by batch, as in every framework."""

    train_file, test_file = "train_images.npy", "test_images.npy"

    def prepare(self, inputs):
        (pixels,) = inputs
        scaled = pixels.to(torch.float32).unsqueeze(1) / 255.0
        return ((scaled - self.meta["pixel_mean"]) / self.meta["pixel_std"],)


MODELS = {
    "ncf": (NeuMF, NcfTask),
    "transformer": (TransformerClassifier, TransformerTask),
    "resnet": (ResNet, ResnetTask),
}


REQUIRED_META = {
    "common": ["size", "seed", "n_train", "n_test", "epochs", "steps", "batch", "infer_passes", "lr", "optimizer",
               "momentum", "weight_decay"],
    "ncf": ["users", "items", "gmf_dim", "mlp_dim", "mlp_layers", "top_k"],
    "transformer": ["vocab", "seq_len", "d_model", "heads", "ff", "layers", "classes"],
    "resnet": ["channels", "classes", "pixel_mean", "pixel_std"],
}


def read_meta(data_dir, model):
    if not os.path.isfile(os.path.join(data_dir, "manifest.json")):
        raise Failure(f"{data_dir} is not a complete joulebench-data directory (no manifest.json); "
                      f"write it with: joulebench-data --model {model} --size quick --seed 0 --out DIR")
    try:
        with open(os.path.join(data_dir, "meta.json"), encoding="utf-8") as file:
            meta = json.load(file)
    except (OSError, ValueError) as error:
        raise Failure(f"cannot read {data_dir}/meta.json: {error}") from None
    if meta.get("format_version") != 1:
        raise Failure(f"{data_dir}/meta.json: format_version {meta.get('format_version')}, this workload reads 1")
    if meta.get("model") != model:
        raise Failure(f"{data_dir} holds data for '{meta.get('model')}', not '{model}'")
    missing = [key for key in REQUIRED_META[model] + REQUIRED_META["common"] if key not in meta]
    if missing:
        raise Failure(f"{data_dir}/meta.json lacks {', '.join(missing)}: regenerate it with joulebench-data")
    return meta


# --------------------------------------------------------------------------------------------
# Phases.

def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(model, task, meta, order, steps, device):
    epochs, n_train = order.shape
    batch = meta["batch"]
    per_epoch = n_train // batch
    if per_epoch < 1:
        raise Failure(f"meta.json: batch {batch} is larger than the {n_train} training examples")
    if meta["optimizer"] == "adam":
        optimiser = torch.optim.Adam(model.parameters(), lr=meta["lr"], betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=meta["weight_decay"])
    else:
        optimiser = torch.optim.SGD(model.parameters(), lr=meta["lr"], momentum=meta["momentum"],
                                    weight_decay=meta["weight_decay"])
    recent_losses = collections.deque(maxlen=10)  # kept on the device: no synchronisation per step
    model.train()
    synchronise(device)
    start = time.perf_counter()
    with jb.region("train"):
        for step in range(steps):
            epoch, position = divmod(step, per_epoch)
            indices = order[epoch % epochs, position * batch:(position + 1) * batch]
            inputs, targets = task.train_batch(indices)
            optimiser.zero_grad(set_to_none=True)
            loss = task.loss_function(model(*inputs), targets)
            loss.backward()
            optimiser.step()
            recent_losses.append(loss.detach())
        mean_loss = torch.stack(list(recent_losses)).mean().item()
    seconds = time.perf_counter() - start
    return mean_loss, seconds


def predict(model, task, batch, device):
    """Outputs for the whole test set, batch by batch; the per-batch latencies in seconds."""
    model.eval()
    outputs, latencies = [], []
    with torch.no_grad():
        for start in range(0, task.test_size(), batch):
            began = time.perf_counter()
            inputs = task.prepare([tensor.to(device) for tensor in task.test_batch(start, start + batch)])
            outputs.append(model(*inputs))
            synchronise(device)
            latencies.append(time.perf_counter() - began)
    return torch.cat(outputs).cpu(), latencies


def parameter_count(model):
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def report_meta(meta, batch, steps, device, parameters):
    framework = f"{FRAMEWORK} {torch.__version__}"
    for key, value in (("framework", framework), ("model", ARGS.model), ("phase", ARGS.phase),
                       ("threads", ARGS.threads), ("device", device.type), ("parameters", parameters),
                       ("batch", batch), ("steps", steps), ("seed", meta["seed"]), ("size", meta["size"])):
        jb.meta(key, value)
    print(f"{framework}  {ARGS.model} {ARGS.phase}  size {meta['size']} seed {meta['seed']}  "
          f"{device.type}, {ARGS.threads} thread{'s' if ARGS.threads > 1 else ''}  {parameters:,} parameters")


def report_metrics(metrics):
    for name, value in metrics.items():
        jb.metric(name, value)
    return "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())


def run():
    device = torch.device(ARGS.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Failure("--device cuda: this PyTorch has no usable CUDA device "
                      f"(built with CUDA: {'yes' if torch.backends.cuda.is_built() else 'no'})")
    torch.set_num_threads(ARGS.threads)
    checkpoint = ARGS.checkpoint or os.path.join(ARGS.data, f"{FRAMEWORK}.ckpt")
    if not os.path.isdir(ARGS.data):
        raise Failure(f"--data {ARGS.data}: no such directory")

    load_start = time.perf_counter()
    with jb.region("load"):
        meta = read_meta(ARGS.data, ARGS.model)
        model_class, task_class = MODELS[ARGS.model]
        task = task_class(ARGS.data, meta)
        torch.manual_seed(meta["seed"])
        model = model_class(meta)
        if ARGS.phase == "train":
            initialise(model)
            task.load_train(ARGS.data, device)
            order = as_tensor(load_array(ARGS.data, "order.npy")).to(device)
            steps = ARGS.steps or meta["steps"]
        else:
            try:
                saved = torch.load(checkpoint, map_location="cpu")
                model.load_state_dict(saved["model"])
            except FileNotFoundError:
                raise Failure(f"no checkpoint {checkpoint}: run --phase train first") from None
            except (OSError, EOFError, pickle.UnpicklingError, RuntimeError, KeyError, TypeError,
                    ValueError) as error:
                raise Failure(f"{checkpoint} is not a PyTorch checkpoint of this model ({error})") from None
            steps = saved.get("steps", meta["steps"])
        model.to(device)
    load_seconds = time.perf_counter() - load_start

    batch = meta["batch"] if ARGS.phase == "train" else (ARGS.batch or meta["batch"])
    report_meta(meta, batch, steps, device, parameter_count(model))
    print(f"  load   {load_seconds:7.3f} s")

    if ARGS.phase == "train":
        loss, train_seconds = train(model, task, meta, order, steps, device)
        examples_per_s = steps * batch / train_seconds
        jb.metric("loss", loss)
        jb.metric("train_examples_per_s", examples_per_s, "examples/s")
        print(f"  train  {train_seconds:7.3f} s  {steps} steps of {batch}  {examples_per_s:,.0f} examples/s  "
              f"loss {loss:.4f}")
        eval_start = time.perf_counter()
        with jb.region("eval"):
            outputs, _ = predict(model, task, batch, device)
            summary = report_metrics(task.metrics(outputs))
        print(f"  eval   {time.perf_counter() - eval_start:7.3f} s  {summary}")
        partial = f"{checkpoint}.partial-{os.getpid()}"
        torch.save({"model": model.state_dict(), "steps": steps}, partial)
        os.replace(partial, checkpoint)  # never a half-written checkpoint under the real name
        print(f"  checkpoint {checkpoint}")
    else:
        passes = meta["infer_passes"]
        latencies = []
        infer_start = time.perf_counter()
        with jb.region("infer"):
            for _ in range(passes):
                outputs, pass_latencies = predict(model, task, batch, device)
                latencies += pass_latencies
        infer_seconds = time.perf_counter() - infer_start
        summary = report_metrics(task.metrics(outputs))
        examples = passes * task.test_size()
        throughput = examples / infer_seconds
        milliseconds = np.quantile(np.array(latencies) * 1e3, [0.5, 0.9, 0.99])  # linear, as R's type 7
        jb.metric("throughput_examples_per_s", throughput, "examples/s")
        for name, value in zip(("p50", "p90", "p99"), milliseconds):
            jb.metric(f"latency_{name}_ms", value, "ms")
        print(f"  infer  {infer_seconds:7.3f} s  {passes} x {task.test_size()} examples in {len(latencies)} batches "
              f"of {batch}  {throughput:,.0f} examples/s")
        print(f"         latency per batch p50 {milliseconds[0]:.3f} ms  p90 {milliseconds[1]:.3f} ms  "
              f"p99 {milliseconds[2]:.3f} ms  {summary}")


def main():
    try:
        run()
    except Failure as failure:
        sys.stdout.flush()
        sys.stderr.write(f"{PROGRAM}: {failure}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
