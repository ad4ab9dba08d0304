"""The ``agentical`` pytest plugin (entry point ``pytest11``)."""
