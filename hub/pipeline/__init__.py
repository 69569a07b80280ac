"""Moving events in and out: the durable inbox (``inbox``, ``inbox_writer``), the
transactional outbox (``outbox``, ``outbox_admin``), bindings and the apply registry
(``sync``: mapped values → the handler their type is registered with), and the event bus
(``events``) that domain rooms publish on and subscribe to."""
