"""Alpha Peer booking: availability, slots and the booking lifecycle."""
