"""The outside world identity's application talks to, one module each: signing keys,
uploaded documents, mail, background-check providers, the email look-up key, and the
staff review queue (a read model of identity's own events)."""
