"""A class on a real JupyterHub: the runner (``hubclass``) and its test."""
