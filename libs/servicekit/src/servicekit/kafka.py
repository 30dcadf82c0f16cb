"""Every Kafka client the kit makes, configured in one place: security (TLS, SASL) and the
shape of the topics a service owns.

- :func:`client_options` gives the aiokafka keyword arguments (bootstrap servers, security
  protocol, an ``ssl.SSLContext``, SASL mechanism and credentials) for producers, consumers
  and admin clients; :func:`faststream_security` the same as FastStream's security object
  for the subscribers' ``KafkaBroker``. Both read the ``ALPHAPEER_KAFKA_*`` settings; a
  combination that cannot work is refused when the settings are read
  (:func:`security_problems`), and files that cannot be loaded when the process starts.
- :func:`event_topic` / :func:`dlq_topic` say what ``<service>.events`` and
  ``<service>.dlq`` look like (partitions, replication factor, configs), and
  :func:`ensure_topics` creates whichever is missing (or, with topic creation turned off,
  says which one is). The Strimzi ``KafkaTopic`` manifests in ``deploy/k8s`` declare the
  same shapes; ``tests/deploy`` compares them with these functions.
- Event topics keep everything (``retention.ms=-1``, ``retention.bytes=-1``,
  ``cleanup.policy=delete``, never ``compact``): a new consumer group (a new service, a
  database rebuilt from nothing) reads a stream from its first event, and the relay
  compares what it last published with what the topic still holds. With a finite
  retention the first would silently miss history and the second would find an idle
  partition's last message deleted and publish the whole stream again.
- :func:`explain` turns what aiokafka reports as "Unable to bootstrap" into the reason:
  refused credentials, an untrusted certificate, a mechanism the broker does not offer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka.conn import ScramAuthenticator
from aiokafka.errors import KafkaConnectionError, KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

    from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

SSL_PROTOCOLS = {"SSL", "SASL_SSL"}
SASL_PROTOCOLS = {"SASL_PLAINTEXT", "SASL_SSL"}
#: Kafka error codes a CreateTopics answer may carry for one topic.
_TOPIC_EXISTS = 36


class KafkaConfigError(ValueError):
    """The Kafka settings cannot work (said at start, naming the variables)."""


class TopicMissing(RuntimeError):
    """A topic this service needs does not exist and it may not create it."""


# -- security ----------------------------------------------------------------------------


def security_problems(settings: ServiceSettings) -> list[str]:
    """What is wrong with the combination of ``ALPHAPEER_KAFKA_*`` security settings
    (empty when it can work). Files are checked later, when they are loaded."""
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    username = settings.kafka_sasl_username
    password = settings.kafka_sasl_password.get_secret_value()
    problems = []
    if protocol in SASL_PROTOCOLS:
        if not mechanism:
            problems.append(f"ALPHAPEER_KAFKA_SECURITY_PROTOCOL={protocol} needs ALPHAPEER_KAFKA_SASL_MECHANISM "
                            "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
        elif not username or not password:
            problems.append(f"ALPHAPEER_KAFKA_SASL_MECHANISM={mechanism} needs ALPHAPEER_KAFKA_SASL_USERNAME and "
                            "ALPHAPEER_KAFKA_SASL_PASSWORD")
    elif mechanism or username or password:
        problems.append(f"SASL credentials are set but ALPHAPEER_KAFKA_SECURITY_PROTOCOL={protocol} does not "
                        "authenticate: use SASL_SSL (or SASL_PLAINTEXT on a network you trust)")
    tls_files = {name: value for name, value in (
        ("ALPHAPEER_KAFKA_SSL_CAFILE", settings.kafka_ssl_cafile),
        ("ALPHAPEER_KAFKA_SSL_CERTFILE", settings.kafka_ssl_certfile),
        ("ALPHAPEER_KAFKA_SSL_KEYFILE", settings.kafka_ssl_keyfile)) if value}
    if tls_files and protocol not in SSL_PROTOCOLS:
        problems.append(f"{', '.join(tls_files)} set but ALPHAPEER_KAFKA_SECURITY_PROTOCOL={protocol} does not use "
                        "TLS: use SSL or SASL_SSL")
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        problems.append("ALPHAPEER_KAFKA_SSL_KEYFILE needs ALPHAPEER_KAFKA_SSL_CERTFILE (the client certificate)")
    if settings.kafka_ssl_key_password.get_secret_value() and not settings.kafka_ssl_certfile:
        problems.append("ALPHAPEER_KAFKA_SSL_KEY_PASSWORD needs ALPHAPEER_KAFKA_SSL_CERTFILE")
    return problems


_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


def ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None otherwise): the broker's certificate is
    verified against ``ALPHAPEER_KAFKA_SSL_CAFILE`` (the system's CAs when unset) and its
    host name checked; a client certificate is presented when ``_SSL_CERTFILE`` is set.
    Built once per set of files, and again when a file changes (rotated certificates are
    used by the next connection)."""
    if settings.kafka_security_protocol not in SSL_PROTOCOLS:
        return None
    files = (settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    key = (*files, *(_mtime(f) for f in files if f), settings.kafka_ssl_key_password.get_secret_value(),
           settings.kafka_ssl_check_hostname)
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = _build_context(settings)
        _contexts.clear()  # only the current files matter
        _contexts[key] = ctx
    return ctx


def _build_context(settings: ServiceSettings) -> ssl.SSLContext:
    cafile = settings.kafka_ssl_cafile or None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaConfigError(f"ALPHAPEER_KAFKA_SSL_CAFILE={cafile}: cannot load the CA certificates: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile:
        try:
            ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None,
                                settings.kafka_ssl_key_password.get_secret_value() or None)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaConfigError(
                f"ALPHAPEER_KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile}"
                f"{f', ALPHAPEER_KAFKA_SSL_KEYFILE={settings.kafka_ssl_keyfile}' if settings.kafka_ssl_keyfile else ''}"
                f": cannot load the client certificate and key: {exc}") from exc
    return ctx


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and
    ``AIOKafkaAdminClient``: where the brokers are and how to reach them securely."""
    problems = security_problems(settings)
    if problems:
        raise KafkaConfigError("; ".join(problems))
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers, "security_protocol": protocol}
    if protocol in SSL_PROTOCOLS:
        options["ssl_context"] = ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    return options


def faststream_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The same settings as FastStream's security object, for ``KafkaBroker(security=...)``."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    options = client_options(settings)
    protocol = options["security_protocol"]
    ctx = options.get("ssl_context")
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ctx)
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return sasl[options["sasl_mechanism"]](options["sasl_plain_username"], options["sasl_plain_password"],
                                           ssl_context=ctx, use_ssl=protocol == "SASL_SSL")


def describe(settings: ServiceSettings) -> str:
    """How this process reaches Kafka, for logs (never the password)."""
    text = f"{settings.kafka_bootstrap_servers} over {settings.kafka_security_protocol}"
    if settings.kafka_security_protocol in SASL_PROTOCOLS:
        text += f" as {settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism})"
    return text


# -- clear failures ----------------------------------------------------------------------


def _scram_server_final(self: Any, server_final: str, _original: Any = ScramAuthenticator.process_server_final_message
                        ) -> None:
    # RFC 5802: a server-final-message is "v=<signature>" or "e=<error>". aiokafka 0.14
    # reads only the first and fails on the second with KeyError('v'), hiding the reason
    # (unknown user, wrong password). Brokers that put the error in the message this way
    # (Tansu does) then read as a refusal like Apache Kafka's own.
    params = dict(pair.split("=", 1) for pair in server_final.split(",") if "=" in pair)
    if "e" in params and "v" not in params:
        raise SaslAuthenticationFailed(f"SCRAM authentication failed: {params['e']}")
    _original(self, server_final)


if getattr(ScramAuthenticator.process_server_final_message, "__name__", "") != "_scram_server_final":
    ScramAuthenticator.process_server_final_message = _scram_server_final  # type: ignore[method-assign]


def _first_broker(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return (host.strip("[]") or first), int(port or 9092)


async def diagnose(settings: ServiceSettings, timeout: float = 5.0) -> BaseException | None:
    """Connects to the first bootstrap broker the way the clients do and returns what
    stopped it (None when it worked). aiokafka's clients only say "Unable to bootstrap"."""
    from aiokafka.conn import create_conn

    options = client_options(settings)
    host, port = _first_broker(settings.kafka_bootstrap_servers)
    kwargs = {k: v for k, v in options.items() if k != "bootstrap_servers"}
    try:
        conn = await asyncio.wait_for(create_conn(host, port, request_timeout_ms=int(timeout * 1000), **kwargs),
                                      timeout)
    except Exception as exc:
        return exc
    conn.close()
    return None


def explain(exc: BaseException, settings: ServiceSettings) -> str:
    """One line an operator can act on, for a failure of a Kafka client."""
    where = describe(settings)
    if isinstance(exc, KafkaConfigError):
        return str(exc)
    if isinstance(exc, SaslAuthenticationFailed) or (isinstance(exc, KeyError) and exc.args == ("v",)):
        return (f"Kafka refused the credentials of ALPHAPEER_KAFKA_SASL_USERNAME={settings.kafka_sasl_username!r} "
                f"({settings.kafka_sasl_mechanism}) at {settings.kafka_bootstrap_servers}: {exc}")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"the broker at {settings.kafka_bootstrap_servers} does not offer "
                f"ALPHAPEER_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS: the broker's certificate is not trusted (ALPHAPEER_KAFKA_SSL_CAFILE="
                f"{settings.kafka_ssl_cafile or 'the system CAs'}): {exc.verify_message or exc}")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc}"
    if isinstance(exc, KafkaConnectionError | OSError | TimeoutError):
        hint = ""
        if "closed" in str(exc) and settings.kafka_security_protocol in SSL_PROTOCOLS \
                and not settings.kafka_ssl_certfile:
            hint = " (a listener that requires a client certificate closes the connection: " \
                   "ALPHAPEER_KAFKA_SSL_CERTFILE and _KEYFILE)"
        return f"cannot reach Kafka at {where}: {type(exc).__name__}: {exc}{hint}"
    return f"{type(exc).__name__}: {exc}"


async def explained(exc: BaseException, settings: ServiceSettings) -> str:
    """:func:`explain`, after asking the broker directly when aiokafka gave no reason."""
    if isinstance(exc, KafkaConnectionError) and "bootstrap" in str(exc):
        cause = await diagnose(settings)
        if cause is not None:
            return explain(cause, settings)
    return explain(exc, settings)


# -- topics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)
    #: Configs that must hold on an existing topic too (the rest are defaults at creation).
    required: tuple[str, ...] = ()


def _common(settings: ServiceSettings) -> dict[str, str]:
    if settings.topic_min_insync_replicas:
        return {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    return {}


def event_topic(settings: ServiceSettings) -> TopicSpec:
    """``<service>.events``: the service's stream, kept whole (see the module docstring)."""
    return TopicSpec(settings.topic, settings.topic_partitions, settings.topic_replication_factor,
                     {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1", **_common(settings)},
                     required=("cleanup.policy", "retention.ms", "retention.bytes"))


def upstream_topic(settings: ServiceSettings, name: str) -> TopicSpec:
    """Another service's ``<service>.events``, as its producer would create it: made by a
    subscriber that starts first, before it subscribes. Otherwise a consumer's metadata
    request would have the broker create it with the broker's own shape, or the group
    would form while the producer was still laying out its partitions and be assigned only
    some of them until the next rebalance: events on the others would wait unread. Its
    configuration is its producer's to check."""
    spec = event_topic(settings)
    return TopicSpec(name, spec.partitions, spec.replication_factor, spec.configs)


async def ensure_upstream(settings: ServiceSettings, names: Iterable[str]) -> None:
    """Before subscribing: the upstream topics that do not exist yet are created as their
    producers would create them; where topics are declared to the cluster, a missing one is
    named at warning level and subscribed to all the same (its producer may come later)."""
    try:
        await ensure_topics(settings, [upstream_topic(settings, n) for n in dict.fromkeys(names)])
    except TopicMissing as missing:
        log.warning("subscribing to topics that do not exist yet", extra={"fields": {"error": str(missing)}})


def dlq_topic(settings: ServiceSettings) -> TopicSpec:
    """``<service>.dlq``: messages this service's subscribers gave up on, kept for
    ``ALPHAPEER_TOPIC_DLQ_RETENTION_MS`` for someone to look at and replay."""
    return TopicSpec(settings.dlq_topic, settings.topic_partitions, settings.topic_replication_factor,
                     {"cleanup.policy": "delete", "retention.ms": str(settings.topic_dlq_retention_ms),
                      **_common(settings)})


def keys_topic(settings: ServiceSettings) -> TopicSpec:
    """``<service>.keys``: the wrapped per-user keys of the personal text the service's events
    carry (servicekit.shredding). Compacted: the latest record per user is what counts, and
    an erased user's tombstone, then nothing at all, is what remains of them. Tombstones are
    kept a week (``delete.retention.ms``) for consumers that were away to see them; a
    consumer away longer still forgets the key, by the user's ``UserErased``."""
    return TopicSpec(f"{settings.service_name}.keys", settings.topic_partitions, settings.topic_replication_factor,
                     {"cleanup.policy": "compact", "delete.retention.ms": "604800000",
                      "min.compaction.lag.ms": "0", **_common(settings)},
                     required=("cleanup.policy",))


async def ensure_topics(settings: ServiceSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Creates the topics that do not exist (with their partitions, replication factor and
    configs) and returns their names; with ``ALPHAPEER_KAFKA_CREATE_TOPICS=false`` raises
    :class:`TopicMissing` instead. An existing event topic whose retention would drop
    history is reported at error level (it is not changed: that is the cluster's owner's
    call)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = list(specs)
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())  # all topics: naming some would auto-create them
        missing = [s for s in specs if s.name not in existing]
        if missing and not settings.kafka_create_topics:
            raise TopicMissing(
                f"topic(s) {', '.join(s.name for s in missing)} do not exist and ALPHAPEER_KAFKA_CREATE_TOPICS=false: "
                "declare them (deploy/k8s/components/strimzi-topics) or let the service create them")
        created = []
        if missing:
            response = await admin.create_topics([
                NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs)) for s in missing])
            for name, code, message in _topic_errors(response):
                if code == 0:
                    created.append(name)
                    log.info("created topic", extra={"fields": {"topic": name}})
                elif code != _TOPIC_EXISTS:
                    raise KafkaError(f"cannot create topic {name}: error {code}: {message}")
        for spec in specs:
            if spec.required and spec.name not in created:
                await _check_configs(admin, spec)
        return created
    finally:
        await admin.close()


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    rows = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        rows.append((name, code, entry[2] if len(entry) > 2 else None))
    return rows


async def _check_configs(admin: Any, spec: TopicSpec) -> None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    try:
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
        entries = {e[0]: e[1] for answer in answers for resource in answer.resources for e in resource[4]}
    except Exception:  # a broker without DescribeConfigs: nothing to compare
        log.debug("cannot read the configs of %s", spec.name, exc_info=True)
        return
    wrong = {k: entries[k] for k in spec.required if k in entries and entries[k] != spec.configs[k]}
    if wrong:
        log.error("topic keeps less than the whole stream: new subscribers would miss history and the relay may "
                  "republish everything; set the topic's configs as declared",
                  extra={"fields": {"topic": spec.name, "found": wrong,
                                    "expected": {k: spec.configs[k] for k in wrong}}})
