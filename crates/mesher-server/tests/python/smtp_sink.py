"""A real SMTP server for the alert e-mail tests: aiosmtpd on 127.0.0.1.

Usage: smtp_sink.py OUT_DIR

Listens on a free port and prints `listening PORT` once ready. Each message received is
written to OUT_DIR/<n>.eml as received, preceded by one `X-Envelope-To: <rcpt>` line per
envelope recipient, and its text decoded (from quoted-printable or base64) to OUT_DIR/<n>.txt.
Runs until killed.
"""

import asyncio
import email
import email.policy
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        head = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        text = email.message_from_bytes(data, policy=email.policy.default).get_content()
        self.write(f"{self.count}.txt", text.encode())
        # The .eml last: the test waits for it, and then finds both.
        self.write(f"{self.count}.eml", head.encode() + data)
        return "250 Message accepted for delivery"

    def write(self, name, data):
        tmp = os.path.join(self.out_dir, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        # Renamed once complete, so the test never reads half a file.
        os.rename(tmp, os.path.join(self.out_dir, name))


async def main(out_dir):
    sink = Sink(out_dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
