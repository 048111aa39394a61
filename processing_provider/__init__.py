"""Thin Processing adapters: parameters in, a call into ``core``, outputs out."""
