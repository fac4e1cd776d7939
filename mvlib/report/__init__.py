"""Reporting: the book's tables, figures and the embedding explorer."""
