"""Prompt templates and the encoders that turn them into token ids."""
