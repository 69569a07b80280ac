"""Pure translation between outside payloads and the common model: no I/O, no database.
One package per outside system; code tables live beside them as data files."""
