"""Units of work (process the inbox, deliver the outbox, poll accounts, ...) and the
runner that schedules them. See ``jobs.runner``."""
