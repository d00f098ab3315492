"""docintel domain pipelines: plain Python, no web framework, no global settings."""
