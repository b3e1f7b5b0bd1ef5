"""Pieces shared by every jwo package."""
