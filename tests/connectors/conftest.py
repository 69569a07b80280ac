"""Connector contract tests: each module subclasses ``tests.connector_suite.ConnectorSuite``."""
import pytest

# plain asserts in the shared suite get pytest's detailed failure messages
pytest.register_assert_rewrite("tests.connector_suite", "tests.connector_capabilities")
