"""Real delivery endpoints on loopback for the notification tests: an aiosmtpd SMTP server and a
``http.server`` webhook receiver, plus a helper that writes outbox rows the way the sweep does,
and Prefect's test harness."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlmodel import col, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import Channel, Domain, OutboxMessage, TrackedTask

MAIL_FROM = "gk-notice@example.org"
SENDER_NAME = "区政务公开办"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message the SMTP server took: the envelope and the parsed message."""

    mail_from: str
    mail_options: list[str]
    mail_line: str
    rcpt_tos: list[str]
    raw: bytes
    msg: email.message.EmailMessage

    @property
    def message_id(self) -> str:
        return self.msg["Message-ID"]

    def text(self) -> str:
        return self.msg.get_body(("plain",)).get_content()

    def html(self) -> str:
        return self.msg.get_body(("html",)).get_content()


@dataclass
class SmtpSink:
    """aiosmtpd handler collecting every message; ``block_on`` (1-based) makes that message's
    DATA wait (after it is recorded) until ``release`` is set; ``refuse`` rejects RCPT of those
    addresses with 550."""

    block_on: int | None = None
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    mail_lines: list[str] = field(default_factory=list)
    blocked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(
                envelope.mail_from, list(envelope.mail_options),
                self.mail_lines[-1] if self.mail_lines else "", list(envelope.rcpt_tos), raw, msg))
            n = len(self.received)
        if self.block_on is not None and n == self.block_on:
            self.blocked.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]


class _RecordingSMTP(SMTP):
    async def smtp_MAIL(self, arg):
        self.event_handler.mail_lines.append(f"MAIL {arg}")
        return await super().smtp_MAIL(arg)


class _Controller(Controller):
    def factory(self):
        return _RecordingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """A real SMTP server on 127.0.0.1:``port``, stoppable and restartable on the same port."""

    def __init__(self, sink: SmtpSink, port: int | None = None, smtputf8: bool = False) -> None:
        self.sink, self.port, self.smtputf8 = sink, port or free_port(), smtputf8
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = _Controller(self.sink, hostname="127.0.0.1", port=self.port,
                                       enable_SMTPUTF8=self.smtputf8)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.sink.release.set()
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server without SMTPUTF8."""
    server = SmtpServer(SmtpSink()).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_factory() -> Iterator:
    """``make(sink=None, port=None, smtputf8=False, start=True)`` → ``SmtpServer``; all stopped
    at the end."""
    servers: list[SmtpServer] = []

    def make(sink=None, port=None, smtputf8=False, start=True) -> SmtpServer:
        server = SmtpServer(sink or SmtpSink(), port, smtputf8)
        servers.append(server)
        return server.start() if start else server

    yield make
    for s in servers:
        s.stop()


@dataclass
class HttpSink:
    """A loopback HTTP server recording POSTs; ``responses`` is a queue of (status, body) to
    answer with (then 200 ``{"errcode":0,"errmsg":"ok"}``)."""

    requests: list[dict] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                sink.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "json": json.loads(body.decode("utf-8"))})
                status, text = sink.responses.pop(0) if sink.responses else (
                    200, '{"errcode":0,"errmsg":"ok"}')
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


NOTICE_PREFIX = {"reminder": "催办", "escalation": "督办", "overdue": "督办"}


class Outbox:
    """Writes pending outbox rows for tasks of the loaded Jilin plan, as the sweep does."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.n = 0

    def domains(self) -> list[str]:
        with db.read_session(self.engine) as s:
            return list(s.exec(select(Domain.key).order_by(col(Domain.position))))

    def add(self, task_keys: list[str], *, kind: str, step_key: str, levels_up: int,
            org_code: str, address: str, scheduled_on: date, created_at: datetime,
            recipient_name: str = "", channel: Channel = Channel.email) -> list[str]:
        """One pending row per task key; returns the notice numbers given (in order)."""
        numbers = []
        with db.unit_of_work(self.engine) as s:
            tasks = {t.key: t for t in s.exec(
                select(TrackedTask).where(col(TrackedTask.key).in_(task_keys)))}
            for key in task_keys:
                t = tasks[key]
                self.n += 1
                number = f"{NOTICE_PREFIX[kind]}〔{scheduled_on.year}〕{self.n:04d}号"
                numbers.append(number)
                s.add(OutboxMessage(
                    plan_id=t.plan_id, task_id=t.id, due_on=t.due_on, step_key=step_key,
                    kind=kind, levels_up=levels_up, recipient_org_code=org_code,
                    recipient_name=recipient_name, channel=channel, address=address,
                    notice_number=number, scheduled_on=scheduled_on, created_at=created_at,
                ))
        return numbers

    def catalog_reminders(self, county: str, day: date, at: datetime, step_key="reminder-0",
                          address: str | None = None, channel=Channel.email) -> list[str]:
        """The county's 26 catalog tasks' reminder rows to the county's address."""
        keys = [f"catalog:{county}:{d}" for d in self.domains()]
        return self.add(keys, kind="reminder", step_key=step_key, levels_up=0, org_code=county,
                        address=address or f"gk-{county}@example.org", scheduled_on=day,
                        created_at=at, channel=channel)


@pytest.fixture
def outbox(jilin: sa.Engine) -> Outbox:
    return Outbox(jilin)


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0, ss: int = 0) -> datetime:
    """An aware Asia/Shanghai datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


def run_at_once(fn, n: int = 2, timeout: float = 300) -> list:
    """Call ``fn()`` in ``n`` threads released together (a barrier); returns their results.
    Fails the test if a thread raised or did not finish within ``timeout`` seconds."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert errors == [] and not any(t.is_alive() for t in threads), errors
    return results
