"""Byte pumps that run the same protocol and application code over real I/O."""
