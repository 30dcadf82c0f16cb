"""A local stand-in for a LiveKit server, for tests and ``make up``: it speaks LiveKit's Twirp
API (protobuf bodies, ``Authorization: Bearer <access token>`` checked against the API key and
secret and their grants, Twirp's JSON errors) for the calls sessions makes, and sends
webhooks signed exactly as LiveKit signs them (``Authorization: <JWT>`` whose ``sha256`` claim
is the base64 of the body's SHA-256, ``Content-Type: application/webhook+json``, the body the
protobuf JSON of a ``WebhookEvent``). So the real ``livekit-api`` client and receiver run
against it. It holds no media: joining and leaving are simulated by :meth:`joined` and
:meth:`left`, which send the webhooks a real server would."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message
from livekit import api
from livekit.protocol import egress as eg
from livekit.protocol import models, webhook
from livekit.protocol import room as rm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servicekit.devstack import ThreadedServer


def _twirp_error(code: str, msg: str, status: int) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)


class LocalLiveKit:
    def __init__(self, api_key: str = "devkey", api_secret: str = "devsecret-devsecret-devsecret-32",
                 webhook_url: str | None = None) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.webhook_url = webhook_url
        self.verifier = api.TokenVerifier(api_key, api_secret)
        self.rooms: dict[str, models.Room] = {}
        self.egresses: dict[str, eg.EgressInfo] = {}
        self.calls: list[str] = []
        self.app = Starlette(routes=[Route("/twirp/livekit.{service}/{method}", self._twirp, methods=["POST"])])
        self.server = ThreadedServer(self.app)

    @property
    def url(self) -> str:
        return self.server.url

    # -- the Twirp API -------------------------------------------------------------------

    async def _twirp(self, request: Request) -> Response:
        service, method = request.path_params["service"], request.path_params["method"]
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _twirp_error("unauthenticated", "no authorization", 401)
        try:
            claims = self.verifier.verify(auth[len("Bearer "):])
        except Exception as exc:
            return _twirp_error("unauthenticated", str(exc), 401)
        if request.headers.get("content-type") != "application/protobuf":
            return _twirp_error("malformed", "protobuf bodies only here", 400)
        body = await request.body()
        self.calls.append(f"{service}/{method}")
        grants = claims.video
        if service == "RoomService" and method == "CreateRoom":
            if grants is None or not grants.room_create:
                return _twirp_error("permission_denied", "roomCreate grant required", 403)
            req = rm.CreateRoomRequest.FromString(body)
            if req.name not in self.rooms:
                self.rooms[req.name] = models.Room(
                    sid=f"RM_{secrets.token_hex(6)}", name=req.name, empty_timeout=req.empty_timeout,
                    departure_timeout=req.departure_timeout, max_participants=req.max_participants,
                    creation_time=int(time.time()))
            return self._proto(self.rooms[req.name])
        if service == "Egress" and method in ("StartRoomCompositeEgress", "StopEgress"):
            if grants is None or not grants.room_record:
                return _twirp_error("permission_denied", "roomRecord grant required", 403)
            if method == "StartRoomCompositeEgress":
                start = eg.RoomCompositeEgressRequest.FromString(body)
                if start.room_name not in self.rooms:
                    return _twirp_error("not_found", "requested room does not exist", 404)
                info = eg.EgressInfo(egress_id=f"EG_{secrets.token_hex(6)}", room_name=start.room_name,
                                     status=eg.EgressStatus.EGRESS_STARTING, started_at=time.time_ns())
                info.room_composite.CopyFrom(start)
                self.egresses[info.egress_id] = info
                return self._proto(info)
            stop = eg.StopEgressRequest.FromString(body)
            if stop.egress_id not in self.egresses:
                return _twirp_error("not_found", "egress does not exist", 404)
            info = self.egresses[stop.egress_id]
            info.status = eg.EgressStatus.EGRESS_ENDING
            return self._proto(info)
        return _twirp_error("bad_route", f"no handler for {service}/{method}", 404)

    @staticmethod
    def _proto(message: Message) -> Response:
        return Response(message.SerializeToString(), media_type="application/protobuf")

    # -- webhooks, as LiveKit sends them ---------------------------------------------------

    def signed(self, event: webhook.WebhookEvent) -> tuple[str, dict[str, str]]:
        body = MessageToJson(event)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = api.AccessToken(self.api_key, self.api_secret).with_sha256(digest).to_jwt()
        return body, {"Authorization": token, "Content-Type": "application/webhook+json"}

    def event(self, kind: str, room: str, *, identity: str | None = None, at: datetime | None = None,
              egress: eg.EgressInfo | None = None) -> webhook.WebhookEvent:
        e = webhook.WebhookEvent(event=kind, id=f"EV_{secrets.token_hex(8)}",
                                 created_at=int((at or datetime.now(UTC)).timestamp()))
        r = self.rooms.get(room) or models.Room(name=room)
        e.room.CopyFrom(r)
        if identity is not None:
            e.participant.CopyFrom(models.ParticipantInfo(sid=f"PA_{identity[:8]}", identity=identity,
                                                          state=models.ParticipantInfo.State.ACTIVE))
        if egress is not None:
            e.egress_info.CopyFrom(egress)
        return e

    def send(self, event: webhook.WebhookEvent) -> httpx.Response:
        if self.webhook_url is None:
            raise RuntimeError("no webhook URL configured")
        body, headers = self.signed(event)
        return httpx.post(self.webhook_url, content=body.encode(), headers=headers, timeout=10)

    def joined(self, room: str, identity: str, at: datetime | None = None) -> httpx.Response:
        return self.send(self.event("participant_joined", room, identity=identity, at=at))

    def left(self, room: str, identity: str, at: datetime | None = None) -> httpx.Response:
        return self.send(self.event("participant_left", room, identity=identity, at=at))

    def egress_ended(self, egress_id: str, at: datetime | None = None, failed: bool = False) -> httpx.Response:
        return self.send(self.finish_egress(egress_id, at, failed))

    def finish_egress(self, egress_id: str, at: datetime | None = None, failed: bool = False) -> webhook.WebhookEvent:
        """The egress ends (its file written, unless ``failed``): the ``egress_ended`` webhook."""
        info = self.egresses[egress_id]
        info.status = eg.EgressStatus.EGRESS_FAILED if failed else eg.EgressStatus.EGRESS_COMPLETE
        info.ended_at = time.time_ns()
        if not failed:
            path = info.room_composite.file_outputs[0].filepath if info.room_composite.file_outputs else "out.mp4"
            info.file_results.append(eg.FileInfo(filename=path, location=f"s3://recordings/{path}", size=1024))
        return self.event("egress_ended", info.room_name, egress=info, at=at)

    # -- serving -------------------------------------------------------------------------

    def start(self) -> LocalLiveKit:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> LocalLiveKit:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
