"""Alpha Peer sessions: the tutoring itself: rooms, check-in, attendance, recording, chat, completion."""
