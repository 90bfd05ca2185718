"""Tests of doozer-database (doozer.contrib.database)."""
