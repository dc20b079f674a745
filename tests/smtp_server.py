"""A real SMTP server on 127.0.0.1 (aiosmtpd, in a thread) for tests of emails sent to
contacts: it keeps what it received (and the client connection each came over),
refuses recipients whose address starts with "refuse" with a 550, and can hold its
answer to DATA (every one, or only the Nth: to kill a worker around a send).

    def test_it_emails(smtp_server, settings):
        smtp_server.use(settings)          # Django's email backend → this server
        ...
        [message] = smtp_server.messages   # email.message.EmailMessage
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.received = threading.Event()
        self.hold_seconds = 0.0
        self.hold_only: int | None = None  # hold only the answer to the Nth message (1-based)
        self.peers: list[tuple[str, int]] = []  # the client address of each message

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.peers.append(tuple(session.peer[:2]))
        self.received.set()
        if self.hold_seconds and self.hold_only in (None, len(self.messages)):
            import asyncio

            await asyncio.sleep(self.hold_seconds)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.handler = Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def use(self, settings) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = self.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    def wait(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()
