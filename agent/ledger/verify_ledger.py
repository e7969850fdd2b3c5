#!/usr/bin/env python3
"""An independent check of a hashflex surplus ledger (format v1), in ~30 lines of Python.

usage: verify_ledger.py LEDGER.jsonl PUBKEY_BASE64     (needs the `cryptography` package)

It shows that the format needs no JSON re-serialization: the signed bytes are each line with
its `,"hash":...,"sig":...` suffix cut off and `}` put back. Checks hash, Ed25519 signature,
seq, prev and back-to-back intervals (a break only where a record declares a gap), and lists
the records that declare a wall-clock step (`clock_step_ms`, an optional field: like any field
it is simply part of the signed bytes). `hashflex ledger verify` does the same and more
(counter continuity, totals).
"""
import base64, hashlib, json, re, sys
from datetime import datetime

from cryptography.hazmat.primitives.serialization import load_der_public_key

SUFFIX = re.compile(rb',"hash":"([0-9a-f]{64})","sig":"([A-Za-z0-9+/]+={0,2})"\}$')


def main(path: str, pubkey: str) -> int:
    key = load_der_public_key(base64.b64decode(pubkey))
    prev, end, n, steps = "0" * 64, None, 0, []
    for n, line in enumerate(open(path, "rb").read().split(b"\n")[:-1], 1):  # a torn last line is ignored
        m = SUFFIX.search(line)
        if not m:
            return fail(n, "not a ledger record")
        body = line[: m.start()] + b"}"
        if hashlib.sha256(body).hexdigest() != m[1].decode():
            return fail(n, "hash mismatch")
        try:
            key.verify(base64.b64decode(m[2]), body)
        except Exception:
            return fail(n, "signature invalid")
        rec = json.loads(body)
        if rec["seq"] != n - 1 or rec["prev"] != prev:
            return fail(n, "chain broken (dropped, reordered or inserted record)")
        if end is not None and rec["start"] != end and (rec.get("gap") or {}).get("from") != end:
            return fail(n, "undeclared gap")
        if "clock_step_ms" in rec:  # wall length minus real time: at most the record's length
            length = ms(rec["end"]) - ms(rec["start"])
            if length - rec["clock_step_ms"] < 0:
                return fail(n, "declares a clock step longer than the record")
            steps.append(f"seq {rec['seq']} {rec['clock_step_ms']:+d} ms")
        prev, end = m[1].decode(), rec["end"]
    print(f"{path}: {n} records intact" + (f"; clock steps declared: {', '.join(steps)}" if steps else ""))
    return 0


def ms(t: str) -> int:
    return round(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def fail(n: int, why: str) -> int:
    print(f"line {n}: {why}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
