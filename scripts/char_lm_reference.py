#!/usr/bin/python3
"""The plain PyTorch training loop that mmhook's Rust character-level language-model job
(bindings/rust/mmhook/examples/char_lm.rs) is checked against.

It loads the same scripted model (tests/fixtures/char_lm.pt, written by
scripts/make_char_lm.py, so both start from the same weights), reads the same text with the same
rules, and trains with the same windows, batch order, optimizer and learning-rate schedule:

- Text: every regular file in FORTUNE_DIR (default /usr/share/games/fortunes, Debian's
  `fortunes` package) whose name does not end in ".dat" (symlinks are skipped), in byte order of
  the names. A line that is exactly "%" ends a fortune; empty fortunes are dropped. The last 10 %
  of the fortunes (count // 10) are validation, the rest training. Each split is the
  concatenation of its fortunes, each followed by the line "%".
- Tokens: byte 9 -> 1, byte 10 -> 2, bytes 32..126 -> byte - 29, anything else -> 0 (98 ids).
- Training windows: `train_windows` windows of CONTEXT + 1 tokens, window i starting at
  i * (len - CONTEXT - 1) // (train_windows - 1). Each epoch visits them in the order
  torch.randperm(train_windows, generator=torch.Generator().manual_seed(seed + epoch)) (mmhook's
  DefaultSampler), in batches of `batch_size`.
- Validation windows: window j starts at j * CONTEXT (CONTEXT + 1 tokens, so every validation
  token after the first is predicted once), optionally only the first `val_windows`.
- Adam (lr, betas (0.9, 0.99)), the learning rate annealed per iteration by CosineAnnealingLR to
  ETA_MIN over the whole run.
- Validation perplexity: exp(sum of the predicted tokens' negative log-likelihoods / their
  count), from the model's "predict" mode. The unigram baseline: training-character
  frequencies with add-one smoothing, scored on the same predicted tokens.

It prints "tokens: ..." (counts and an FNV-1a hash of each split's ids, which the job script
compares with the Rust example's line), the unigram baseline and "reference val perplexity X".

Usage: /usr/bin/python3 scripts/char_lm_reference.py [--model PT] [--fortune-dir DIR]
       [--epochs N] [--train-windows N] [--val-windows N] [--batch-size N] [--lr X] [--seed N]
"""
import argparse
import math
import os
import sys
import time

import torch

VOCAB = 98
CONTEXT = 64
UNKNOWN = 0
ETA_MIN = 1e-4
BETAS = (0.9, 0.99)
VAL_BATCH = 64


def token_id(byte):
    """The id of one text byte (see the module docstring)."""
    if byte == 9:
        return 1
    if byte == 10:
        return 2
    if 32 <= byte <= 126:
        return byte - 29
    return UNKNOWN


TOKEN_TABLE = bytes(token_id(b) for b in range(256))


def fortune_files(directory):
    """The corpus files: regular, not symlinks, not *.dat, sorted by name."""
    names = sorted(os.listdir(directory), key=os.fsencode)
    out = []
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith(".dat") or os.path.islink(path) or not os.path.isfile(path):
            continue
        out.append(path)
    if not out:
        raise SystemExit(f"error: no fortune files in {directory} (install Debian's 'fortunes')")
    return out


def read_fortunes(paths):
    """Every non-empty fortune of the files, as bytes ending in a newline."""
    fortunes = []
    for path in paths:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()  # the text after the file's final newline
        current = []
        for line in lines:
            if line == b"%":
                if current:
                    fortunes.append(b"\n".join(current) + b"\n")
                current = []
            else:
                current.append(line)
        if current:
            fortunes.append(b"\n".join(current) + b"\n")
    return fortunes


def tokens_of(fortunes):
    """The ids of the fortunes joined with "%" lines, as an int64 tensor."""
    text = b"".join(f + b"%\n" for f in fortunes)
    return torch.frombuffer(bytearray(text.translate(TOKEN_TABLE)), dtype=torch.uint8).to(torch.int64)


def fnv1a64(ids):
    """FNV-1a (64 bit) over the ids, one byte each."""
    h = 0xcbf29ce484222325
    for b in bytes(ids.to(torch.uint8).tolist()):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def train_windows(tokens, n):
    """n windows of CONTEXT + 1 tokens spread evenly over tokens: [n, CONTEXT + 1]."""
    span = tokens.numel() - CONTEXT - 1
    if n < 2 or span < 0:
        raise SystemExit(f"error: need >= 2 training windows and >= {CONTEXT + 1} tokens")
    starts = [i * span // (n - 1) for i in range(n)]
    return torch.stack([tokens[s:s + CONTEXT + 1] for s in starts])


def val_windows(tokens, limit):
    """Windows starting every CONTEXT tokens (at most limit when limit > 0): [m, CONTEXT + 1]."""
    m = (tokens.numel() - 1) // CONTEXT
    if limit > 0:
        m = min(m, limit)
    return torch.stack([tokens[j * CONTEXT:j * CONTEXT + CONTEXT + 1] for j in range(m)])


def unigram_perplexity(train, windows):
    """Perplexity of windows' predicted tokens under add-one-smoothed training frequencies."""
    counts = torch.bincount(train, minlength=VOCAB).double()
    logp = torch.log((counts + 1) / (train.numel() + VOCAB))
    targets = windows[:, 1:].reshape(-1)
    return math.exp(-logp[targets].sum().item() / targets.numel())


def evaluate(model, windows):
    """exp(token-weighted mean NLL) of the model on the windows."""
    model.eval()
    nll, count = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, windows.size(0), VAL_BATCH):
            out = model({"tokens": windows[start:start + VAL_BATCH]}, "predict")
            nll += out["nll_sum"].double().sum().item()
            count += out["token_count"].double().sum().item()
    model.train()
    return math.exp(nll / count)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(here, "..", "tests", "fixtures", "char_lm.pt"))
    p.add_argument("--fortune-dir", default="/usr/share/games/fortunes")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train-windows", type=int, default=8192)
    p.add_argument("--val-windows", type=int, default=0, help="0: all")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.epochs < 1 or a.batch_size < 1 or a.train_windows % a.batch_size != 0:
        raise SystemExit("error: --epochs and --batch-size must be >= 1 and --train-windows a "
                         "multiple of --batch-size")

    fortunes = read_fortunes(fortune_files(a.fortune_dir))
    n_val = len(fortunes) // 10
    train = tokens_of(fortunes[:len(fortunes) - n_val])
    val = tokens_of(fortunes[len(fortunes) - n_val:])
    print(f"tokens: {len(fortunes)} fortunes, train {train.numel()} ({fnv1a64(train):016x}), "
          f"val {val.numel()} ({fnv1a64(val):016x})")
    windows = train_windows(train, a.train_windows)
    vwin = val_windows(val, a.val_windows)
    print(f"unigram baseline val perplexity {unigram_perplexity(train, vwin):.4f}")

    torch.manual_seed(a.seed)
    model = torch.jit.load(a.model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=BETAS)
    iters_per_epoch = a.train_windows // a.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * iters_per_epoch,
                                                       eta_min=ETA_MIN)
    start = time.time()
    it = 0
    ppl = float("nan")
    for epoch in range(a.epochs):
        perm = torch.randperm(a.train_windows, generator=torch.Generator().manual_seed(a.seed + epoch))
        for b in range(iters_per_epoch):
            batch = windows[perm[b * a.batch_size:(b + 1) * a.batch_size]]
            loss = model({"tokens": batch}, "loss")["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            if it <= 3 or it % 100 == 0:
                print(f"iter {it} loss {loss.item():.6f}")
        # Validation after every epoch, as mmhook's ValLoop (val_interval 1) does.
        ppl = evaluate(model, vwin)
        print(f"epoch {epoch + 1}: val perplexity {ppl:.4f} ({time.time() - start:.1f} s)")
    print(f"reference val perplexity {ppl:.6f} after {it} iterations, "
          f"{time.time() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
