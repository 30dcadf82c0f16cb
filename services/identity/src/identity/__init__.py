"""Alpha Peer identity service."""
