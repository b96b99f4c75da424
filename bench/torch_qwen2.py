#!/usr/bin/env python3
"""PyTorch CPU peer of bench/families.bench.ts: a hand-written Qwen2 (the machine has no transformers).

usage: /usr/bin/python3 bench/torch_qwen2.py THREADS RUNS [--layers N] [--tasks forward_ll,prompt_step,generate]

Qwen2.5-0.5B shape (24 x 896, 14 q / 2 kv heads, head 64, MLP 4864, vocab 151936, tied
embeddings, q/k/v bias, RoPE theta 1e6, RMSNorm eps 1e-6), weights N(0, 0.02) from a fixed seed,
float32. Prints one `ROW {json}` per task:
  forward_ll  : no_grad forward + log_softmax + gather of the 127 next-token log-probs of 8 x 128
  prompt_step : 20 soft rows + 128 tokens, mean NLL of tokens[1..127], backward to the soft rows, Adam
  generate    : greedy generation at batch 1 with a KV cache, 16-token prompt, 32 new tokens
and first a `BLAS {json}` line naming the BLAS library torch runs on and its kernel. A peer on the
reference BLAS (Debian's libblas3, ~40x slower) exits with status 3: it is an error, not a row.
The caller runs one process per thread count and unsets OPENBLAS_CORETYPE (see families.bench.ts).
"""
import ctypes
import json
import os
import statistics
import sys
import time

import torch

B, T, P = 8, 128, 20
SHAPE = dict(vocab=151936, dim=896, layers=24, heads=14, kv_heads=2, head_dim=64, hidden=4864, theta=1e6, eps=1e-6)


def blas_info():
    """The BLAS torch resolved (from this process's mapped libraries) and OpenBLAS's kernel name."""
    a = torch.randn(64, 64)
    _ = a @ a  # makes sure the BLAS is loaded
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in p.lower() or "lapack" in p.lower():
                libs.add(os.path.realpath(p))
    # torch calls sgemm through libblas.so.3: the one mapped must be OpenBLAS's, not the reference
    # libblas3 (an OpenBLAS mapped beside it, e.g. through liblapack, would not be the one called)
    blas3 = [p for p in libs if os.path.basename(p).startswith("libblas.so")]
    openblas = [p for p in libs if "libopenblas" in os.path.basename(p)] if blas3 and all("openblas" in p for p in blas3) else []
    info = {"libs": sorted(libs), "blas": None, "core": None, "config": None, "coretype_env": os.environ.get("OPENBLAS_CORETYPE")}
    if openblas:
        lib = ctypes.CDLL(openblas[0])
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        info["blas"] = "OpenBLAS (" + os.path.basename(os.path.dirname(openblas[0])) + ")"
        info["core"] = lib.openblas_get_corename().decode()
        info["config"] = lib.openblas_get_config().decode()
    return info


class Qwen2:
    def __init__(self, s, seed=0):
        g = torch.Generator().manual_seed(seed)
        r = lambda *shape: torch.randn(*shape, generator=g) * 0.02  # noqa: E731
        C, H, Hkv, hd, F = s["dim"], s["heads"], s["kv_heads"], s["head_dim"], s["hidden"]
        self.s = s
        self.emb = r(s["vocab"], C)  # tied: also the LM head
        self.layers = []
        for _ in range(s["layers"]):
            self.layers.append(dict(
                n1=torch.ones(C), wq=r(H * hd, C), bq=r(H * hd), wk=r(Hkv * hd, C), bk=r(Hkv * hd),
                wv=r(Hkv * hd, C), bv=r(Hkv * hd), wo=r(C, H * hd), n2=torch.ones(C),
                w1=r(F, C), w3=r(F, C), w2=r(C, F)))
        self.norm = torch.ones(C)
        inv = 1.0 / (s["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.arange(4096, dtype=torch.float32)[:, None] * inv[None]
        ang = torch.cat([ang, ang], -1)
        self.cos, self.sin = ang.cos(), ang.sin()

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.s["eps"]) * w

    def rope(self, x, pos):  # x (B, h, T, hd), half rotation
        c, s = self.cos[pos], self.sin[pos]
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], -1)
        return x * c + rot * s

    def forward(self, x, cache=None, pos0=0):  # x (B, T, C) → logits (B, T, V)
        s = self.s
        Bn, Tn, C = x.shape
        H, Hkv, hd = s["heads"], s["kv_heads"], s["head_dim"]
        pos = torch.arange(pos0, pos0 + Tn)
        for i, L in enumerate(self.layers):
            h = self.rms(x, L["n1"])
            q = torch.nn.functional.linear(h, L["wq"], L["bq"]).view(Bn, Tn, H, hd).transpose(1, 2)
            k = torch.nn.functional.linear(h, L["wk"], L["bk"]).view(Bn, Tn, Hkv, hd).transpose(1, 2)
            v = torch.nn.functional.linear(h, L["wv"], L["bv"]).view(Bn, Tn, Hkv, hd).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                if i in cache:
                    k = torch.cat([cache[i][0], k], 2)
                    v = torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            k = k.repeat_interleave(H // Hkv, 1)
            v = v.repeat_interleave(H // Hkv, 1)
            S = k.shape[2]
            att = (q @ k.transpose(-1, -2)) / (hd ** 0.5)  # (B, H, T, S)
            mask = torch.ones(Tn, S, dtype=torch.bool).tril(S - Tn)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(Bn, Tn, H * hd)
            x = x + torch.nn.functional.linear(y, L["wo"])
            h = self.rms(x, L["n2"])
            x = x + torch.nn.functional.linear(
                torch.nn.functional.silu(torch.nn.functional.linear(h, L["w1"])) * torch.nn.functional.linear(h, L["w3"]), L["w2"])
        return torch.nn.functional.linear(self.rms(x, self.norm), self.emb)


def tokens(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, SHAPE["vocab"], (B, T), generator=g)


def timed(fn, runs, warm=0):  # no warm-up: a first call's extra work is noise beside ~1 TFLOP
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def main():
    threads, runs = int(sys.argv[1]), int(sys.argv[2])
    shape = dict(SHAPE)
    if "--layers" in sys.argv:
        shape["layers"] = int(sys.argv[sys.argv.index("--layers") + 1])
    tasks = sys.argv[sys.argv.index("--tasks") + 1].split(",") if "--tasks" in sys.argv else ["forward_ll", "prompt_step", "generate"]
    torch.set_num_threads(threads)
    info = blas_info()
    print("BLAS " + json.dumps(info), flush=True)
    if not info["blas"]:
        print(f"torch runs on the reference BLAS ({info['libs']}): install libopenblas0-pthread", file=sys.stderr)
        sys.exit(3)
    m = Qwen2(shape)
    tok = tokens()

    def forward_ll():
        with torch.no_grad():
            logits = m.forward(m.emb[tok])
            lp = torch.log_softmax(logits[:, :-1], -1)
            return lp.gather(-1, tok[:, 1:, None]).sum().item()

    if "forward_ll" in tasks:
        med, ts = timed(forward_ll, runs)
        print("ROW " + json.dumps({"task": "forward_ll", "threads": threads, "median_s": med, "runs_s": ts,
                               "tokens_per_s": B * T / med}), flush=True)

    g = torch.Generator().manual_seed(1)
    soft = (torch.randn(P, shape["dim"], generator=g) * 0.02).requires_grad_(True)
    opt = torch.optim.Adam([soft], lr=1e-2)

    def step():
        opt.zero_grad(set_to_none=True)
        x = torch.cat([soft[None].expand(B, P, shape["dim"]), m.emb[tok]], 1)
        lp = torch.log_softmax(m.forward(x)[:, P:P + T - 1], -1)
        loss = -lp.gather(-1, tok[:, 1:, None]).mean()
        loss.backward()
        opt.step()

    if "prompt_step" in tasks:
        med, ts = timed(step, max(1, runs - 1))
        print("ROW " + json.dumps({"task": "prompt_step", "threads": threads, "median_s": med, "runs_s": ts,
                               "tokens_per_s": B * T / med}), flush=True)

    prompt = torch.tensor([[(i * 7919 + 3) % shape["vocab"] for i in range(16)]])

    def generate(n=32):
        with torch.no_grad():
            cache = {}
            logits = m.forward(m.emb[prompt], cache, 0)
            out, pos = [], prompt.shape[1]
            for _ in range(n):
                nxt = logits[0, -1].argmax()
                out.append(int(nxt))
                logits = m.forward(m.emb[nxt][None, None], cache, pos)
                pos += 1
            return out

    if "generate" in tasks:
        med, ts = timed(generate, 1)
        print("ROW " + json.dumps({"task": "generate", "threads": threads, "median_s": med, "runs_s": ts,
                               "tokens_per_s": 32 / med}), flush=True)


if __name__ == "__main__":
    main()
