"""End-to-end tests that drive the hub through a real browser."""
