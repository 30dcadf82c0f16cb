"""Identity's domain: one module per aggregate, value rules, refusals, command values and
the ports the application needs; free of frameworks and of personal data in the clear.

Importing the package registers the topics the aggregates had before they moved to their
own modules (see ``topics``), so whatever loads identity's events can read old ones."""

from identity.domain.topics import register_old_topics

register_old_topics()
