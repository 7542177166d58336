"""Monitoring: the one exceptions console. Everything that needs a person (a message that failed to
sync, a duplicate, money or stock that disagrees, oversold or negative stock, a bill off its receipt)
is one row of ``exceptions``, raised by the context that found it through :func:`services.record`,
worked by people (acknowledge, assign, resolve) and listed by priority. See docs/integrations.md
("Exceptions console") and decision 0031."""
