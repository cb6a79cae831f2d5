"""Segmenting many image files: a folder on one machine (`folder`), with resumable,
atomically written outputs."""
