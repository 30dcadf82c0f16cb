"""Alpha Peer service kit: the plumbing every service repeats, and nothing of any service's business."""
