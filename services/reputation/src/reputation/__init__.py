"""Alpha Peer reputation: reviews, ratings and reliability, probation, badges and certificates."""
