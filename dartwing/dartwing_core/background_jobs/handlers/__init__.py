"""Built-in job handlers: examples for the demo and tests."""
