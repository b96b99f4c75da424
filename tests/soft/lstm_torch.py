"""PEFT's LSTM prompt encoder (peft/tuners/p_tuning/model.py, encoder_reparameterization_type LSTM)
rebuilt from torch modules, in float64, with the weights given: the reference for p-tuning-lstm.ts.

  lstm_torch.py   (stdin: a JSON list of cases
                   {"N", "C", "H", "L", "weights": {PEFT name: flat list}, "W": flat (N, C) list})
      → prints a JSON list, per case {"names": the state dict's order, "rows": flat (N, C),
        "grads": {PEFT name: flat list}}:
        rows = mlp_head(lstm_head(embedding(arange(N)))[0]) as PEFT's PromptEncoder.forward, and
        the autograd gradient of L = sum(rows * W) in every parameter (state-dict names).
"""
import json
import sys

import torch


class PromptEncoderLSTM(torch.nn.Module):
    # the same modules and attribute names as PEFT's PromptEncoder for LSTM (dropout 0)
    def __init__(self, n, c, h, layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(n, c)
        self.lstm_head = torch.nn.LSTM(input_size=c, hidden_size=h, num_layers=layers, dropout=0.0, bidirectional=True, batch_first=True)
        self.mlp_head = torch.nn.Sequential(torch.nn.Linear(h * 2, h * 2), torch.nn.ReLU(), torch.nn.Linear(h * 2, c))

    def forward(self, indices):
        return self.mlp_head(self.lstm_head(self.embedding(indices))[0])


def run(case):
    n, c, h, layers = case["N"], case["C"], case["H"], case["L"]
    enc = PromptEncoderLSTM(n, c, h, layers).double()
    state = enc.state_dict()
    given = case["weights"]
    if sorted(given) != sorted(state):
        raise SystemExit(f"names differ: ours {sorted(given)} vs torch {sorted(state)}")
    enc.load_state_dict({k: torch.tensor(given[k], dtype=torch.float64).reshape(v.shape) for k, v in state.items()})
    # PEFT: indices (batch, N); one sequence here
    rows = enc(torch.arange(n).unsqueeze(0))[0]
    w = torch.tensor(case["W"], dtype=torch.float64).reshape(n, c)
    (rows * w).sum().backward()
    return {"names": list(state), "rows": rows.detach().reshape(-1).tolist(), "grads": {k: p.grad.reshape(-1).tolist() for k, p in enc.named_parameters()}}


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps([run(c) for c in json.load(sys.stdin)]))
