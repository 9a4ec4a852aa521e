"""A real SMTP server on loopback for Koi's mail tests (python3-aiosmtpd).

Usage: /usr/bin/python3 tests/_smtp_server.py DIR

Listens on 127.0.0.1 on a port the system chooses, prints that port on one line,
and writes each message it accepts to DIR as N.json (the envelope: mail_from,
rcpt_tos) and N.eml (the message bytes as received), N counting from 1. The
.json file is written last, so its presence means the message is complete.
"""

import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Recorder:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml", "wb") as message:
            message.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as meta:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, meta)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    recorder = Recorder(sys.argv[1])
    server = await loop.create_server(lambda: SMTP(recorder), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
