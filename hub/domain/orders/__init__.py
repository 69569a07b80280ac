"""Orders: a platform's order record applied to the common model (``records``)."""
