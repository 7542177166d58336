"""The back office: server-rendered pages (Jinja2) with htmx, served by ``retailcore serve`` at ``/``
(docs/ui.md, decision 0045). Pages read through the contexts' services, as the API's routes do."""
