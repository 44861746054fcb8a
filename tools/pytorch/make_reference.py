#!/usr/bin/env python3
"""Reference producer for `shadergrad verify`: shadergrad's models in PyTorch, same names, same math.

For each model this writes, into OUT/<model>/:
  weights.safetensors    W: the state_dict (PyTorch init from --seed), float32
  inputs.safetensors     I: "x" [8, 784] (a real MNIST batch, pixel / 255), "labels" [8] int64
                            (VIB only) and "eps" [8, D] ~ torch.randn, the noise of the one
                            reparameterised head, so shadergrad replays it without PyTorch's RNG
  reference.safetensors  R: one training forward + backward in float64 (from the float32 W and I),
                            cast to float32, named as `shadergrad verify` names its output:
                              act.<name>    activations     metric.<name>  loss terms (batch sums)
                              loss          the differentiated scalar
                              grad.<param>  parameter gradients
                              state.<name>  batch-norm running statistics after the step
  pytorch_f32.safetensors  with --f32: the same step run in float32 (PyTorch's own f32 error,
                           to put shadergrad's next to it)

Then, from the repository root:
  shadergrad verify --model vae --weights OUT/vae/weights.safetensors \
      --inputs OUT/vae/inputs.safetensors --out OUT/vae/shadergrad.safetensors
  shadergrad compare OUT/vae/shadergrad.safetensors OUT/vae/reference.safetensors

The math is what src/models/*.rs computes (read them side by side):
  vae     h = relu(fc1 x); mu = fc21 h; logvar = fc22 h; z = mu + exp(logvar / 2) eps
          kl = 0.5 sum_d (mu^2 + exp(logvar) - 1 - logvar); h3 = relu(fc3 z); logits = fc4 h3
          rec = BCE-with-logits(logits, x) summed over pixels; loss = sum_batch (rec + kl)
  vib     h1 = relu(fc1 x); h2 = relu(fc2 h1); mu = fc_mu h2; rho = fc_rho h2
          sigma = softplus(rho - 5); z = mu + sigma eps; kl as above with logvar = log sigma^2
          logits = decoder z; ce = cross-entropy(logits, labels)
          loss = mean_batch (ce + 1e-3 kl); metric.loss = sum_batch (ce + 1e-3 kl)
  bn-vae  the vae with mu = BN(fc21 h) gamma_mu and logvar = BN(fc22 h) gamma_sigma, BN without
          affine in train mode (batch statistics, eps 1e-5, momentum 0.1),
          gamma_mu = sqrt(tau + (1 - tau) sigmoid(theta)), gamma_sigma = sqrt((1 - tau) sigmoid(-theta)),
          tau = 0.5; metric.kl_bound = B * 0.5 sum_d gamma_mu^2.
          theta is drawn from N(0, 1) here (the model starts it at 0) so the test exercises
          gamma's derivative away from its symmetric point.

Usage: python3 tools/pytorch/make_reference.py [--out tests/fixtures/verify] [--models vae,vib,bn-vae]
           [--seed 0] [--f32]
Needs torch, safetensors (pip install torch safetensors); runs on the CPU in seconds.
"""

import argparse
import copy
import gzip
import pathlib
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
BATCH = 8


def read_idx(path):
    """An IDX file (gzipped or raw) as a uint8 tensor of its declared shape."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = raw[4 + 4 * ndim :]
    n = 1
    for d in dims:
        n *= d
    if len(data) != n:
        raise ValueError(f"{path}: {len(data)} data bytes for shape {dims}")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(dims)


def kl_logvar(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class Vae(nn.Module):
    latent = 20

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x, a):
        a["h"] = h = F.relu(self.fc1(x))
        a["mu"] = mu = self.fc21(h)
        a["logvar"] = logvar = self.fc22(h)
        return mu, logvar

    def decode_loss(self, x, mu, logvar, eps, a, m):
        a["z"] = z = mu + (logvar / 2).exp() * eps
        a["kl"] = kl = kl_logvar(mu, logvar)
        a["h3"] = h3 = F.relu(self.fc3(z))
        a["logits"] = logits = self.fc4(h3)
        a["rec"] = rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        m["loss"] = loss = (rec + kl).sum()
        m["kl"] = kl.sum()
        return loss

    def forward(self, x, labels, eps):
        a, m = {}, {}
        mu, logvar = self.encode(x, a)
        return self.decode_loss(x, mu, logvar, eps, a, m), a, m


class Vib(nn.Module):
    latent = 256
    beta = 1e-3

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 1024)
        self.fc2 = nn.Linear(1024, 1024)
        self.fc_mu = nn.Linear(1024, 256)
        self.fc_rho = nn.Linear(1024, 256)
        self.decoder = nn.Linear(256, 10)

    def forward(self, x, labels, eps):
        a, m = {}, {}
        a["h1"] = h1 = F.relu(self.fc1(x))
        a["h2"] = h2 = F.relu(self.fc2(h1))
        a["mu"] = mu = self.fc_mu(h2)
        a["rho"] = rho = self.fc_rho(h2)
        a["sigma"] = sigma = F.softplus(rho - 5.0)
        a["z"] = z = mu + sigma * eps
        a["kl"] = kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - sigma.pow(2).log()).sum(1)
        a["logits"] = logits = self.decoder(z)
        a["ce"] = ce = F.cross_entropy(logits, labels, reduction="none")
        per_sample = ce + self.beta * kl
        m["loss"] = per_sample.sum()
        m["kl"] = kl.sum()
        return per_sample.mean(), a, m


class BnVae(Vae):
    tau = 0.5

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(20))
        self.mu_bn = nn.BatchNorm1d(20, affine=False, eps=1e-5, momentum=0.1)
        self.logvar_bn = nn.BatchNorm1d(20, affine=False, eps=1e-5, momentum=0.1)

    def forward(self, x, labels, eps):
        a, m = {}, {}
        tau = self.tau
        a["h"] = h = F.relu(self.fc1(x))
        a["mu_raw"] = mu_raw = self.fc21(h)
        a["logvar_raw"] = lv_raw = self.fc22(h)
        a["gamma_mu"] = gamma_mu = (tau + (1 - tau) * torch.sigmoid(self.theta)).sqrt()
        a["gamma_sigma"] = gamma_sigma = ((1 - tau) * torch.sigmoid(-self.theta)).sqrt()
        a["mu"] = mu = self.mu_bn(mu_raw) * gamma_mu
        a["logvar"] = logvar = self.logvar_bn(lv_raw) * gamma_sigma
        loss = self.decode_loss(x, mu, logvar, eps, a, m)
        m["kl_bound"] = 0.5 * x.shape[0] * gamma_mu.pow(2).sum()
        return loss, a, m


MODELS = {"vae": Vae, "vib": Vib, "bn-vae": BnVae}


def step(model, x, labels, eps, dtype):
    """One training forward + backward of a copy of `model` in `dtype`; the results by name."""
    m = copy.deepcopy(model).to(dtype).train()
    loss, acts, metrics = m(x.to(dtype), labels, eps.to(dtype))
    loss.backward()
    out = {f"act.{k}": v for k, v in acts.items()}
    out.update({f"metric.{k}": v for k, v in metrics.items()})
    out["loss"] = loss
    for name, p in m.named_parameters():
        out[f"grad.{name}"] = p.grad if p.grad is not None else torch.zeros_like(p)
    for name, b in m.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            out[f"state.{name}"] = b
    return {k: v.detach().to(torch.float32).clone() for k, v in out.items()}


def make(name, out_dir, seed, mnist, with_f32):
    torch.manual_seed(seed)
    model = MODELS[name]()
    if name == "bn-vae":
        with torch.no_grad():
            model.theta.normal_()
    images, labels_all = mnist
    pick = torch.randperm(images.shape[0])[:BATCH]
    x = (images[pick].reshape(BATCH, 784).to(torch.float32) / 255.0).contiguous()
    labels = labels_all[pick].to(torch.int64)
    eps = torch.randn(BATCH, model.latent)
    weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    inputs = {"x": x, "eps": eps}
    if name == "vib":
        inputs["labels"] = labels
    ref = step(model, x, labels, eps, torch.float64)
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    meta = {"model": name, "producer": f"pytorch {torch.__version__}", "seed": str(seed)}
    save_file(weights, d / "weights.safetensors", metadata=meta)
    save_file(inputs, d / "inputs.safetensors", metadata=meta)
    save_file(ref, d / "reference.safetensors", metadata={**meta, "precision": "float64 -> float32"})
    if with_f32:
        f32 = step(model, x, labels, eps, torch.float32)
        save_file(f32, d / "pytorch_f32.safetensors", metadata={**meta, "precision": "float32"})
    print(f"{name}: {len(weights)} weights, {len(ref)} reference tensors -> {d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests" / "fixtures" / "verify")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mnist", type=pathlib.Path, default=ROOT / "data" / "mnist")
    ap.add_argument("--f32", action="store_true", help="also write pytorch_f32.safetensors")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    mnist = (
        read_idx(args.mnist / "train-images-idx3-ubyte.gz"),
        read_idx(args.mnist / "train-labels-idx1-ubyte.gz"),
    )
    for name in args.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"unknown model '{name}'; available: {', '.join(MODELS)}")
        make(name, args.out, args.seed, mnist, args.f32)


if __name__ == "__main__":
    main()
