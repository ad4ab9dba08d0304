"""Test support: throw-away migrated databases, rolled-back sessions, factories, fixtures."""
