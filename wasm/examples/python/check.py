"""The Python host's checks (run by tests/hosts/python.test.ts), the same as the C host's
(wasm/examples/c/main.c): GEMM and target log-probs against hand-worked values and plain loops in
double precision, then a trap that comes back as an exception. Prints one line per check, "OK"
at the end; exits 1 on the first mismatch.

    python3 check.py <libpromptkiln.so> [promptkiln.h]
"""
import math
import os
import sys

from promptkiln_ctypes import Promptkiln, Trap

here = os.path.dirname(os.path.abspath(__file__))
library = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "build", "libpromptkiln.so")
header = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "promptkiln.h")
pk = Promptkiln(library, header)
failures = 0


def check(what, got, want, tol):
    global failures
    if not abs(got - want) <= tol * (1 + abs(want)):  # also catches NaN
        print(f"MISMATCH {what}: got {got!r}, want {want!r}", file=sys.stderr)
        failures += 1


# Deterministic values in [-1, 1): the C host's LCG, so both hosts see the same data.
seed = 12345


def next_value():
    global seed
    seed = (seed * 1664525 + 1013904223) & 0xFFFFFFFF
    return (seed >> 8) / 8388608.0 - 1.0


print(f"abi_version {pk.abi_version()}, build_kind {pk.build_kind()}, heap_base {pk.heap_base()}")
print(f"self_test {pk.self_test()}")

# out (2, 2) = x (2, 3) · w (2, 3)ᵀ + bias (2), worked by hand (see main.c)
x, w, b = pk.put_f32([1, 2, 3, 4, 5, 6]), pk.put_f32([1, 0, -1, 2, 1, 0]), pk.put_f32([0.5, -1])
y = pk.alloc(4)
pk.matmul_fwd(y, x, w, b, 2, 3, 2)
got = pk.get_f32(y, 4)
for g, want in zip(got, [-1.5, 3, -1.5, 12]):
    check("matmul_fwd 2x3x2 by hand", g, want, 0)
print(f"matmul_fwd (2,3,2) by hand: [[{got[0]:g}, {got[1]:g}], [{got[2]:g}, {got[3]:g}]]")

# out (M, N) = x (M, K) · w (N, K)ᵀ + bias (N) against a loop in double
for M, K, N in [(17, 33, 19), (5, 768, 3)]:
    xs = [next_value() for _ in range(M * K)]
    ws = [next_value() for _ in range(N * K)]
    bs = [next_value() for _ in range(N)]
    px, pw, pb, py = pk.put_f32(xs), pk.put_f32(ws), pk.put_f32(bs), pk.alloc(M * N)
    pk.matmul_fwd(py, px, pw, pb, M, K, N)
    ys = pk.get_f32(py, M * N)
    err = 0.0
    for m in range(M):
        for n in range(N):
            s = bs[n] + sum(xs[m * K + k] * ws[n * K + k] for k in range(K))
            check(f"matmul_fwd ({M},{K},{N})", ys[m * N + n], s, 1e-5)
            err = max(err, abs(ys[m * N + n] - s))
    print(f"matmul_fwd ({M},{K},{N}) vs Python loop: max |diff| {err:.3g}")

# logp (N) = log_softmax(logits (N, V))[r, targets[r]], worked by hand (V = 4; see main.c)
pl = pk.put_f32([0, 0, 0, 0, 0, math.log(2), math.log(3), math.log(4), 9, -9, 3, 1])
pt, pp = pk.put_i32([1, 3, -1]), pk.alloc(3)
total = pk.target_logprobs(pp, pl, pt, 3, 4)
lp = pk.get_f32(pp, 3)
for g, want in zip(lp, [-1.386294361, -0.916290732, 0]):
    check("target_logprobs by hand", g, want, 1e-6)
check("target_logprobs sum by hand", total, -2.302585093, 1e-6)
print(f"target_logprobs by hand: [{lp[0]:.7f}, {lp[1]:.7f}, {lp[2]:.7f}], sum {total:.7f}")

# against log-sum-exp in double
for N, V in [(11, 37), (3, 512)]:
    logits = [4.0 * next_value() for _ in range(N * V)]
    targets = [-1 if r % 5 == 4 else (r * 7919) % V for r in range(N)]
    pl, pt, pp = pk.put_f32(logits), pk.put_i32(targets), pk.alloc(N)
    total = pk.target_logprobs(pp, pl, pt, N, V)
    lp = pk.get_f32(pp, N)
    want_sum = 0.0
    for r in range(N):
        want = 0.0
        if targets[r] >= 0:
            row = logits[r * V:(r + 1) * V]
            mx = max(row)
            want = row[targets[r]] - mx - math.log(sum(math.exp(v - mx) for v in row))
        check(f"target_logprobs ({N},{V})", lp[r], want, 1e-5)
        want_sum += want
    check(f"target_logprobs ({N},{V}) sum", total, want_sum, 1e-5)
    print(f"target_logprobs ({N},{V}) vs Python loop: sum {total:.6f} (want {want_sum:.6f})")

# an output offset past the end of memory: the module traps, Python gets an exception, and the
# instance keeps working
end = pk.lib.pk_memory_size()
try:
    pk.matmul_fwd(end, x, w, b, 2, 3, 2)
    print("MISMATCH: a write past the end of memory did not trap", file=sys.stderr)
    failures += 1
except Trap as e:
    print(f"trap: {e}")
pk.matmul_fwd(y, x, w, b, 2, 3, 2)
check("matmul_fwd after a trap", pk.get_f32(y, 4)[3], 12, 0)

if failures:
    print(f"FAILED: {failures} mismatches", file=sys.stderr)
    sys.exit(1)
print("OK")
