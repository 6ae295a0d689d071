#!/usr/bin/env python3
"""Writes the committed seed corpus under fuzz/corpus/<target>/ from the project's fixtures.

Run from the repository root with Python 3 (the `brotli` module and the `zstd` command line
tool are needed for the compressed seeds): `python3 fuzz/make-seeds.py`. The output is
deterministic; scripts/test fuzzes a temporary copy, so the committed seeds stay as written.
"""
import gzip
import hashlib
import json
import pathlib
import subprocess
import zlib
import base64

import brotli

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
MAX_SEED = 16 * 1024  # keep the corpus small and the fuzzers fast


def envelopes():
    """The Python SDK envelopes of the benchmark corpus (length-framed)."""
    data = (ROOT / "crates/mesher-bench/corpus/python-sdk.envelopes").read_bytes()
    pos, out = 0, []
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        pos = end + 1
        if not line or line.startswith(b"#"):
            continue
        n = int(line)
        out.append(data[pos : pos + n])
        pos += n + 1
    return out


def write(target, payload):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(payload).hexdigest()[:16]).write_bytes(payload)


def event_items(envelope):
    lines = envelope.split(b"\n")
    for i, line in enumerate(lines[1:-1], start=1):
        try:
            header = json.loads(line)
        except ValueError:
            continue
        if isinstance(header, dict) and header.get("type") == "event":
            yield lines[i + 1]


def main():
    envs = sorted((e for e in envelopes() if len(e) <= MAX_SEED), key=len)
    # Every tenth by size: small and large, several SDK integrations.
    picked = envs[:: max(1, len(envs) // 12)][:12]
    events = [item for e in picked for item in event_items(e)]
    grouping = sorted((ROOT / "crates/mesher-protocol/tests/grouping").glob("*.json"))
    fixtures = [
        json.dumps(json.loads(p.read_text()), separators=(",", ":")).encode() for p in grouping
    ]
    fixtures = [f for f in fixtures if len(f) <= MAX_SEED]

    handmade_envelopes = [
        b"{}\n",
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42"}\n'
        b'{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}\n'
        b"\xef\xbb\xbfHello\r\n\n"
        b'{"type":"event","filename":"application.log"}\n'
        b'{"message":"hello"}\n',
        b'{"sent_at":"2024-05-01T12:00:00Z"}\n{"type":"client_report"}\n'
        b'{"timestamp":1714564800,"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":3}]}\n',
        b'{}\n{"type":"session","length":0}\n\n{"type":"unknown_thing"}\n{}\n',
    ]
    for e in picked + handmade_envelopes:
        write("envelope", e)

    for e in events + fixtures[:20] + [b'{"message":"x","level":"warning","fingerprint":["{{ default }}","a"]}']:
        write("normalize", e)
        write("fingerprint", e)

    # Native API: single events, and bulk arrays of them.
    for e in events[:6]:
        write("api_bodies", e)
    write("api_bodies", b"[" + b",".join(events[:3]) + b"]")
    write("api_bodies", b"[" + b",".join(fixtures[:3]) + b"]")
    write("api_bodies", b'[{"message":"a"},{"level":"nope"},1,[],{"event_id":"zz"}]')

    # Decompression: selector byte (index into Encoding::ALL, 5 = legacy /store/), limit byte.
    def zstd(data):
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout

    bodies = [picked[0], picked[len(picked) // 2], events[0]]
    for body in bodies:
        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw_deflate = raw.compress(body) + raw.flush()
        for sel, enc in [
            (0, body),
            (1, gzip.compress(body, 9)),
            (2, zlib.compress(body)),
            (2, raw_deflate),
            (3, brotli.compress(body, quality=4)),
            (4, zstd(body)),
            (5, base64.b64encode(zlib.compress(body))),
        ]:
            write("decompress", bytes([sel, 255]) + enc)
    bomb = b"\0" * (1 << 20)
    write("decompress", bytes([1, 4]) + gzip.compress(bomb, 9))
    write("decompress", bytes([3, 4]) + brotli.compress(bomb))
    write("decompress", bytes([4, 4]) + zstd(bomb))


if __name__ == "__main__":
    main()
