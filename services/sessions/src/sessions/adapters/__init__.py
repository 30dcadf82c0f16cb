"""Sessions' adapters to the outside: video rooms, the assistant, read models."""

from __future__ import annotations

from typing import Any

from servicekit.blobstore import BlobStore, LocalBlobStore, S3BlobStore
from sessions.adapters.assistant import Extractive, OpenAICompatible
from sessions.adapters.video import LiveKit, NoVideo
from sessions.settings import SessionsSettings


def providers(s: SessionsSettings) -> dict[str, Any]:
    """The outside providers the settings choose: LiveKit or none, a model or extraction, a
    folder or a bucket for files."""
    secret = s.sessions_livekit_api_secret.get_secret_value()
    video = LiveKit(s.sessions_livekit_url, s.sessions_livekit_api_key, secret,
                    api_url=s.sessions_livekit_api_url) if s.sessions_livekit_url else NoVideo()
    assistant = OpenAICompatible(s.sessions_ai_base_url, s.sessions_ai_api_key.get_secret_value(),
                                 s.sessions_ai_model) if s.sessions_ai_base_url else Extractive()
    files: BlobStore = LocalBlobStore(s.files_dir)
    if s.sessions_files_backend == "s3":
        files = S3BlobStore(s.sessions_s3_endpoint_url, s.sessions_s3_bucket, s.sessions_s3_region,
                            s.sessions_s3_access_key_id, s.sessions_s3_secret_access_key.get_secret_value(),
                            s.sessions_s3_prefix)
    return {"video": video, "assistant": assistant, "files": files}
