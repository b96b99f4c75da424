"""Reads PEFT adapter files the way Hugging Face PEFT does and scores them with the PyTorch
reference models of ../shared/refs/gen (PEFT itself cannot be installed here).

  peft_torch.py check ADAPTER_DIR [ADAPTER_DIR ...] MODEL_NAME
      (stdin: {"input": [ids], "target": [ids], "task_id": t} or "task_ids": [one per dir])
      → prints {"loss": mean target NLL} a line per adapter, computed from the files alone:
        PROMPT_TUNING: inputs_embeds = [prompt_embeddings; embed(input + target)]
        P_TUNING: the same (the file holds the encoder's output; PEFT's inference-mode get_prompt
                  reads prompt_encoder.embedding.weight)
        MULTITASK_PROMPT_TUNING: MultitaskPromptEmbedding.forward: prompt_embeddings *
                  (prefix_task_cols[t] @ prefix_task_rows[t]), then as PROMPT_TUNING
        PREFIX_TUNING: get_prompt: view(1, N, layers*2, heads, token_dim // heads)
                       .permute([2, 0, 3, 1, 4]).split(2) → per layer (key, value), used as
                       past_key_values (sequence positions start at N).
        Llama runs in the Hugging Face layout: wq/wk rows permuted as transformers'
        convert_llama_weights_to_hf does, rotate-half RoPE — so prefix keys are read as an HF
        Llama model would read them.
        LORA / IA3: check_linear — the adapter merged into the reference model's weights as PEFT's
        merge_and_unload computes it from the files alone (W += lora_alpha/r · B@A; Conv1D:
        its transpose; IA3: rows (and bias) scaled by ia3_l (out, 1), columns by a
        feedforward ia3_l (1, in)), then the plain forward.
  peft_torch.py fixtures OUT_DIR
      → writes hand-made PEFT-style adapters from the reference inputs (no promptkiln keys),
        safetensors bytes assembled here, not by our writer.
"""
import json
import struct
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(SHARED / "refs" / "gen"))
from refmodels import GPT2, Llama, load_safetensors, read_llama2c  # noqa: E402


def read_st(path):
    b = Path(path).read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for name, e in hdr.items():
        assert e["dtype"] == "F32", e
        s, t = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + t]), dtype=torch.float32).reshape(e["shape"])
    return out, meta


def write_st(path, name, t):
    t = t.contiguous().to(torch.float32)
    hdr = {"__metadata__": {"format": "pt"}, name: {"dtype": "F32", "shape": list(t.shape), "data_offsets": [0, t.numel() * 4]}}
    j = json.dumps(hdr).encode()
    j += b" " * (-len(j) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(j)) + j + t.numpy().tobytes())


class HFLlama(Llama):
    """The same weights in the HF layout: rotate-half RoPE, permuted wq/wk."""

    def __init__(self, cfg, W):
        W = dict(W)
        H, KV, D = cfg["n_heads"], cfg["n_kv_heads"], cfg["dim"]
        hd = D // H

        def perm(w, heads):  # transformers convert_llama_weights_to_hf.permute
            L, rows, cols = w.shape
            return w.view(L, heads, hd // 2, 2, cols).transpose(2, 3).reshape(L, rows, cols)
        W["wq"], W["wk"] = perm(W["wq"], H), perm(W["wk"], KV)
        super().__init__(cfg, W)

    @staticmethod
    def apply_rope(x, cos, sin):
        h = x.shape[-1] // 2
        x1, x2 = x[..., :h], x[..., h:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def load(name):
    if name == "stories260K":
        cfg, W = read_llama2c(SHARED / "models" / "stories260K" / "stories260K.bin")
        return HFLlama(cfg, W)
    d = SHARED / "models" / "gpt2-tiny-random"
    return GPT2(json.loads((d / "config.json").read_text()), load_safetensors(d / "model.safetensors")[0])


def check(adapter, name, x_ids, y_ids, task_id=None):
    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text())
    if cfg["peft_type"] in ("LORA", "IA3"):
        return check_linear(adapter, name, x_ids, y_ids)
    tensors, meta = read_st(Path(adapter) / "adapter_model.safetensors")
    assert meta.get("format") == "pt", meta
    emb = tensors["prompt_embeddings"]
    m = load(name)
    N = cfg["num_virtual_tokens"]
    ids = list(x_ids) + list(y_ids)
    if cfg["peft_type"] == "MULTITASK_PROMPT_TUNING":
        cols, rows = tensors["prefix_task_cols"], tensors["prefix_task_rows"]
        assert list(cols.shape) == [cfg["num_tasks"], N, cfg["num_ranks"]], cols.shape
        assert list(rows.shape) == [cfg["num_tasks"], cfg["num_ranks"], cfg["token_dim"]], rows.shape
        t = torch.tensor([task_id])
        emb = emb[None] * torch.matmul(cols.index_select(0, t), rows.index_select(0, t))
        emb = emb[0]
    if cfg["peft_type"] in ("PROMPT_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING"):
        x = torch.cat([emb, m.embed(ids)], dim=0)[None]
        logits, first = m.forward(x)[0], N + len(x_ids) - 1
    else:
        heads = cfg["num_attention_heads"]
        pkv = emb[None].view(1, N, cfg["num_layers"] * 2, heads, cfg["token_dim"] // heads)
        pkv = pkv.permute([2, 0, 3, 1, 4]).split(2)  # per layer [2, B, heads, N, hd]
        prefix = torch.stack([p[:, 0] for p in pkv])  # [layers, 2, heads, N, hd]
        logits, first = m.forward(m.embed(ids)[None], pos_offset=N, prefix_kv=prefix)[0], len(x_ids) - 1
    lp = torch.log_softmax(logits, dim=-1)
    nll = torch.stack([-lp[first + j, t] for j, t in enumerate(y_ids)])
    return {"loss": nll.mean().item()}


# transformers module path → the reference model's weight: (tensor dict, key, layer index or None, Conv1D)
LLAMA_W = {"self_attn.q_proj": "wq", "self_attn.k_proj": "wk", "self_attn.v_proj": "wv", "self_attn.o_proj": "wo",
           "mlp.gate_proj": "w1", "mlp.up_proj": "w3", "mlp.down_proj": "w2"}


def check_linear(adapter, name, x_ids, y_ids):
    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text())
    tensors, meta = read_st(Path(adapter) / "adapter_model.safetensors")
    assert meta.get("format") == "pt", meta
    for k, off in (("use_rslora", False), ("use_dora", False), ("bias", "none"), ("modules_to_save", None)):
        assert cfg.get(k, off) == off, (k, cfg.get(k))
    m = load(name)
    gpt2 = isinstance(m, GPT2)
    suffix = ".lora_A.weight" if cfg["peft_type"] == "LORA" else ".ia3_l"
    modules = sorted(n[len("base_model.model."):-len(suffix)] for n in tensors if n.endswith(suffix))
    assert modules, "no adapter tensors"
    for mod in modules:
        if gpt2:
            W, bias = m.T[mod + ".weight"], m.T.get(mod + ".bias")  # Conv1D: (in, out)
            W_out_in = W.T
        else:
            parts = mod.split(".")  # model.layers.L.self_attn.q_proj
            layer, key = int(parts[2]), LLAMA_W[".".join(parts[3:])]
            W_out_in, bias = m.W[key][layer], None
        key = "base_model.model." + mod
        if cfg["peft_type"] == "LORA":
            A, B = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]
            assert A.shape[0] == cfg["r"] and B.shape[1] == cfg["r"], (A.shape, B.shape)
            delta = (B @ A) * (cfg["lora_alpha"] / cfg["r"])
            W_out_in += delta  # a view: updates the model's own tensor (Conv1D through its transpose)
        else:
            l = tensors[key + ".ia3_l"]
            if l.shape[0] == 1:  # feedforward: scales the module's input
                W_out_in *= l.reshape(1, -1)
            else:
                W_out_in *= l.reshape(-1, 1)
                if bias is not None:
                    bias *= l.reshape(-1)
    ids = list(x_ids) + list(y_ids)
    logits = m.forward(m.embed(ids)[None])[0]
    lp = torch.log_softmax(logits, dim=-1)
    first = len(x_ids) - 1
    nll = torch.stack([-lp[first + j, t] for j, t in enumerate(y_ids)])
    return {"loss": nll.mean().item()}


def fixtures(out):
    refs = SHARED / "refs" / "stories260K"
    pt = json.loads((refs / "prompt_tuning.json").read_text())["cases"][0]
    pf = json.loads((refs / "prefix_tuning.json").read_text())["cases"][0]
    base = {"task_type": "CAUSAL_LM", "num_transformer_submodules": 1, "num_layers": 5,
            "base_model_name_or_path": "karpathy/tinyllamas/stories260K", "revision": None, "inference_mode": True,
            "auto_mapping": None}
    d = Path(out) / "prompt-stories260K"
    d.mkdir(parents=True, exist_ok=True)
    soft = torch.tensor(pt["soft_prompt_init"]["data"]).view(pt["P"], 64)
    (d / "adapter_config.json").write_text(json.dumps({**base, "peft_type": "PROMPT_TUNING", "num_virtual_tokens": pt["P"],
        "token_dim": 64, "num_attention_heads": 8, "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None,
        "tokenizer_name_or_path": None}, indent=2) + "\n")
    write_st(d / "adapter_model.safetensors", "prompt_embeddings", soft)
    # prefix: reference keys are in llama2.c's interleaved head layout; an HF Llama (and so a
    # PEFT-written file) holds them rotate-half: element 2j+c → c*hd/2 + j
    L, _, KV, P, hd = pf["prefix_shape"]
    z = torch.tensor(pf["prefix_init"]["data"]).view(L, 2, KV, P, hd).clone()
    k = z[:, 0].reshape(L, KV, P, hd // 2, 2).permute(0, 1, 2, 4, 3).reshape(L, KV, P, hd)
    z[:, 0] = k
    # PEFT row n = [layer][key/value][kv head][head_dim]
    emb = z.permute(3, 0, 1, 2, 4).reshape(P, L * 2 * KV * hd)
    d = Path(out) / "prefix-stories260K"
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({**base, "peft_type": "PREFIX_TUNING", "num_virtual_tokens": P,
        "token_dim": KV * hd, "num_attention_heads": KV, "encoder_hidden_size": 64, "prefix_projection": False}, indent=2) + "\n")
    write_st(d / "adapter_model.safetensors", "prompt_embeddings", emb)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "check":
        req = json.loads(sys.stdin.read())
        # check DIR [DIR ...] MODEL: one torch start for several adapters, one JSON line each
        for d, task_id in zip(sys.argv[2:-1], req.get("task_ids") or [req.get("task_id")] * (len(sys.argv) - 3)):
            print(json.dumps(check(d, sys.argv[-1], req["input"], req["target"], task_id)))
    elif sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
