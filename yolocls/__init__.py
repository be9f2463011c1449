"""yolocls: labelled images in, a deployed YOLOv8 image classifier out."""

__version__ = "0.1.0"
