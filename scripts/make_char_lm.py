#!/usr/bin/python3
"""Writes tests/fixtures/char_lm.pt: a small causal transformer over characters, scripted with
torch.jit.script, for the Rust character-level language-model job
(bindings/rust/mmhook/examples/char_lm.rs, scripts/char_lm_job.sh).

The model follows MMEngine's BaseModel contract, `forward(batch, mode) -> Dict[str, Tensor]`:

- mode "loss": batch {"tokens": int64 [B, T+1]} -> {"loss": mean next-character cross-entropy
  over the B*T predicted positions (tokens[:, 1:] from tokens[:, :-1])};
- mode "predict": the same batch -> {"nll_sum": float32 [B], the summed negative
  log-likelihood (natural log) of each row's T predictions, "token_count": float32 [B], T for
  every row}; a perplexity metric is exp(sum nll_sum / sum token_count);
- mode "tensor": batch {"tokens": int64 [B, t]}, 1 <= t <= CONTEXT -> {"logits": float32
  [B, t, VOCAB]}, the next-character logits after each prefix (used for sampling).

Token ids (VOCAB = 98): 0 is "unknown" (any other byte), 1 is TAB (byte 9), 2 is LF (byte 10),
3..97 are the printable ASCII bytes 32..126 (id = byte - 29). The Rust example and
scripts/char_lm_reference.py tokenize text bytes with this rule.

Architecture (pre-LayerNorm, no dropout so training is deterministic): token and learned
position embeddings of width D_MODEL, LAYERS blocks of causal multi-head self-attention
(HEADS heads) and a GELU MLP (4 * D_MODEL), a final LayerNorm and a linear head to VOCAB.
The weights come from PyTorch's default initialisation under torch.manual_seed(SEED), so the
file is the same on every run (the reference loop and mmhook start from these weights).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_char_lm.py [OUT.pt]
"""
import math
import os
import sys
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 98
CONTEXT = 64
D_MODEL = 64
LAYERS = 2
HEADS = 4
SEED = 0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position i attends to positions <= i only."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.size(0), x.size(1), x.size(2)
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class CharLM(nn.Module):
    """The character language model with the dict contract described in the module docstring."""

    def __init__(self):
        super().__init__()
        self.vocab = VOCAB
        self.context = CONTEXT
        self.tok = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.Embedding(CONTEXT, D_MODEL)
        self.blocks = nn.ModuleList([Block(D_MODEL, HEADS) for _ in range(LAYERS)])
        self.ln = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits [B, t, VOCAB] of int64 tokens [B, t]."""
        if tokens.dim() != 2 or tokens.size(1) < 1 or tokens.size(1) > self.context:
            raise RuntimeError("char_lm: tokens must be [B, t] with 1 <= t <= " + str(self.context)
                               + ", got shape " + str(tokens.size()))
        if tokens.dtype != torch.int64:
            raise RuntimeError("char_lm: tokens must be int64, got " + str(tokens.dtype))
        positions = torch.arange(tokens.size(1), device=tokens.device)
        x = self.tok(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        if "tokens" not in batch:
            raise RuntimeError("char_lm: the batch has no 'tokens'")
        tokens = batch["tokens"]
        if mode == "tensor":
            return {"logits": self.logits(tokens)}
        if tokens.dim() != 2 or tokens.size(1) < 2:
            raise RuntimeError("char_lm: mode '" + mode + "' needs tokens [B, T+1] with T >= 1, got "
                               + str(tokens.size()))
        inputs = tokens[:, :-1]
        targets = tokens[:, 1:]
        logits = self.logits(inputs)
        nll = F.cross_entropy(logits.reshape(-1, self.vocab), targets.reshape(-1),
                              reduction="none").view(targets.size(0), targets.size(1))
        if mode == "loss":
            return {"loss": nll.mean()}
        if mode == "predict":
            count = torch.full([targets.size(0)], float(targets.size(1)), dtype=torch.float32,
                               device=tokens.device)
            return {"nll_sum": nll.detach().sum(1), "token_count": count}
        raise RuntimeError("char_lm: unknown mode '" + mode + "'")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures",
                                                             "char_lm.pt")
    torch.manual_seed(SEED)
    model = CharLM()
    scripted = torch.jit.script(model)
    # Same outputs scripted and eager, and the contract's shapes.
    tokens = torch.randint(0, VOCAB, (2, CONTEXT + 1), generator=torch.Generator().manual_seed(1))
    eager_loss = model({"tokens": tokens}, "loss")["loss"]
    loss = scripted({"tokens": tokens}, "loss")["loss"]
    assert torch.allclose(loss, eager_loss), (loss, eager_loss)
    pred = scripted({"tokens": tokens}, "predict")
    assert torch.allclose(pred["nll_sum"].sum() / pred["token_count"].sum(), loss)
    assert scripted({"tokens": tokens[:, :5]}, "tensor")["logits"].shape == (2, 5, VOCAB)
    torch.jit.save(scripted, out)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params} parameters, {os.path.getsize(out)} bytes, "
          f"initial loss {loss.item():.4f} (ln {VOCAB} = {math.log(VOCAB):.4f})")


if __name__ == "__main__":
    main()
