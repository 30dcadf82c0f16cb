"""Online rooms: LiveKit through its own client (``livekit-api``), or none.

- Join tokens are LiveKit access tokens (JWT signed with the API secret): one room, one
  identity (the user id), short-lived, with grants by role — the tutor may publish camera,
  microphone and screen and may record; a student camera and microphone; an observer
  (invited staff) joins muted, subscribe only.
- Rooms are made through the RoomService (Twirp) with a participant limit and an empty-room
  timeout; recordings through the Egress service (room composite to a file).
- Webhooks are verified as LiveKit signs them (the ``Authorization`` header is a JWT signed
  with the API secret whose ``sha256`` claim is the body's digest) and read into
  :class:`Webhook`; anything else raises :class:`BadWebhook`.

``livekit-api`` is asynchronous; sessions' use cases run in worker threads, so each call
runs to completion on a loop of its own (a room per session, not a hot path)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import aiohttp
from livekit import api
from livekit.protocol import egress as eg
from livekit.protocol import room as rm

from servicekit.errors import Unavailable

T = TypeVar("T")

#: What each role may publish (LiveKit's track sources).
SOURCES = {
    "tutor": ["camera", "microphone", "screen_share", "screen_share_audio"],
    "student": ["camera", "microphone"],
    "observer": [],
}


class BadWebhook(Exception):
    """Not signed by our LiveKit, or its body was changed."""


@dataclass(frozen=True)
class Webhook:
    id: str
    event: str
    room: str
    identity: str | None
    at: datetime
    egress_id: str | None = None
    location: str | None = None
    failed: bool = False


@dataclass(frozen=True)
class Join:
    url: str
    token: str
    room: str
    expires_at: datetime


class Video(Protocol):
    configured: bool

    def join(self, room: str, identity: str, name: str, role: str, ttl: timedelta) -> Join: ...

    def ensure_room(self, room: str, max_participants: int, empty_timeout_s: int) -> None: ...

    def start_recording(self, room: str, filepath: str) -> str: ...

    def stop_recording(self, egress_id: str) -> None: ...

    def webhook(self, body: str, authorization: str) -> Webhook: ...


class NoVideo:
    """LiveKit not configured: online sessions carry the tutor's meeting link instead."""

    configured = False

    def _no(self) -> Any:
        from servicekit.errors import Conflict
        raise Conflict("video rooms are not configured here: the tutor shares a meeting link")

    def join(self, room: str, identity: str, name: str, role: str, ttl: timedelta) -> Join:
        return self._no()  # type: ignore[no-any-return]

    def ensure_room(self, room: str, max_participants: int, empty_timeout_s: int) -> None:
        self._no()

    def start_recording(self, room: str, filepath: str) -> str:
        return self._no()  # type: ignore[no-any-return]

    def stop_recording(self, egress_id: str) -> None:
        self._no()

    def webhook(self, body: str, authorization: str) -> Webhook:
        raise BadWebhook("LiveKit is not configured here")


class LiveKit:
    configured = True

    def __init__(self, url: str, api_key: str, api_secret: str, *, api_url: str = "", timeout_s: float = 10.0) -> None:
        self.url = url  # what clients connect to (wss://…)
        self.api_url = api_url or url  # the Twirp API (https://…; derived from url when not given)
        self.api_key = api_key
        self.api_secret = api_secret
        self.timeout_s = timeout_s
        self.receiver = api.WebhookReceiver(api.TokenVerifier(api_key, api_secret))

    def join(self, room: str, identity: str, name: str, role: str, ttl: timedelta) -> Join:
        grants = api.VideoGrants(room_join=True, room=room, can_subscribe=True, can_publish=bool(SOURCES[role]),
                                 can_publish_data=role != "observer", can_publish_sources=SOURCES[role],
                                 room_record=role == "tutor", hidden=False)
        token = (api.AccessToken(self.api_key, self.api_secret).with_identity(identity).with_name(name)
                 .with_grants(grants).with_ttl(ttl).with_metadata(f'{{"role":"{role}"}}').to_jwt())
        return Join(self.url, token, room, datetime.now(UTC) + ttl)

    def _run(self, call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
        async def go() -> T:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with api.LiveKitAPI(self.api_url, self.api_key, self.api_secret, timeout=timeout) as lk:
                return await call(lk)

        try:
            return asyncio.run(go())
        except api.TwirpError as exc:
            raise Unavailable(f"the video service refused: {exc.code}: {exc.message}", retry_after=5) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"the video service did not answer: {type(exc).__name__}", retry_after=5) from exc

    def ensure_room(self, room: str, max_participants: int, empty_timeout_s: int) -> None:
        # CreateRoom on an existing name returns that room: safe to repeat.
        self._run(lambda lk: lk.room.create_room(rm.CreateRoomRequest(
            name=room, max_participants=max_participants, empty_timeout=empty_timeout_s,
            departure_timeout=empty_timeout_s)))

    def start_recording(self, room: str, filepath: str) -> str:
        request = eg.RoomCompositeEgressRequest(
            room_name=room, layout="speaker",
            file_outputs=[eg.EncodedFileOutput(file_type=eg.EncodedFileType.MP4, filepath=filepath)])
        info = self._run(lambda lk: lk.egress.start_room_composite_egress(request))
        return str(info.egress_id)

    def stop_recording(self, egress_id: str) -> None:
        self._run(lambda lk: lk.egress.stop_egress(eg.StopEgressRequest(egress_id=egress_id)))

    def webhook(self, body: str, authorization: str) -> Webhook:
        try:
            e = self.receiver.receive(body, authorization)
        except Exception as exc:  # the receiver raises bare Exceptions (hash mismatch, bad JWT, ...)
            raise BadWebhook(str(exc) or type(exc).__name__) from exc
        info = e.egress_info if e.HasField("egress_info") else None
        location = None
        if info is not None and info.file_results:
            location = info.file_results[0].location or info.file_results[0].filename
        return Webhook(
            id=e.id, event=e.event,
            room=(e.room.name if e.HasField("room") else "") or (info.room_name if info else ""),
            identity=e.participant.identity if e.HasField("participant") else None,
            at=datetime.fromtimestamp(e.created_at, UTC) if e.created_at else datetime.now(UTC),
            egress_id=info.egress_id if info else None, location=location,
            failed=bool(info and info.status in (eg.EgressStatus.EGRESS_FAILED, eg.EgressStatus.EGRESS_ABORTED)))
