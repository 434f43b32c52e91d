"""Tests of labsock.exercises: reference solutions pass, classic mistakes fail for their reason."""
