"""A real SMTP server on loopback for Koi's mail tests (python3-aiosmtpd).

Usage: /usr/bin/python3 tests/_smtp_server.py DIR [--starttls CERT KEY | --tls CERT KEY]
                                                  [--auth USER PASSWORD] [--exclude-auth MECH]
                                                  [--reject-rcpt CODE]

Listens on 127.0.0.1 on a port the system chooses, prints that port on one line,
and writes each message it accepts to DIR as N.json (the envelope: mail_from,
rcpt_tos, and the login used, if any) and N.eml (the message bytes as received),
N counting from 1. The .json file is written last, so its presence means the
message is complete.

--starttls offers STARTTLS and requires it before mail; --tls speaks TLS from the
first byte. --auth requires a login with that user and password (over TLS only,
as aiosmtpd does); --exclude-auth withholds a mechanism (PLAIN or LOGIN), so the
client must use the other. --reject-rcpt answers every RCPT TO with CODE.
"""

import asyncio
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, directory, reject_rcpt):
        self.directory = directory
        self.count = 0
        self.reject_rcpt = reject_rcpt

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt is not None:
            return f"{self.reject_rcpt} recipient refused by the test server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml", "wb") as message:
            message.write(envelope.original_content)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with open(base + ".json.tmp", "w") as meta:
            json.dump(
                {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "login": login},
                meta,
            )
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def main():
    # aiosmtpd warns about its own deprecated fields and test-only settings.
    warnings.simplefilter("ignore")
    args = sys.argv[1:]
    directory = args.pop(0)
    mode = None
    cert = key = None
    user = password = None
    exclude = []
    reject_rcpt = None
    while args:
        flag = args.pop(0)
        if flag in ("--starttls", "--tls"):
            mode = flag[2:]
            cert, key = args.pop(0), args.pop(0)
        elif flag == "--auth":
            user, password = args.pop(0), args.pop(0)
        elif flag == "--exclude-auth":
            exclude.append(args.pop(0))
        elif flag == "--reject-rcpt":
            reject_rcpt = args.pop(0)
        else:
            sys.exit(f"unknown option {flag}")
    context = None
    if mode is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # Unhandled: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    recorder = Recorder(directory, reject_rcpt)
    options = {}
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if user is not None:
        options.update(
            authenticator=authenticator,
            auth_required=True,
            # With implicit TLS aiosmtpd does not know the session is protected.
            auth_require_tls=mode == "starttls",
            auth_exclude_mechanism=exclude,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(recorder, **options),
            "127.0.0.1",
            0,
            ssl=context if mode == "tls" else None,
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())


main()
