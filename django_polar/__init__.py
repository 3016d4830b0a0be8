"""django-polar: Polar (polar.sh) billing for Django."""

__version__ = "0.1.0"
