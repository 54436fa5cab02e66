"""Images: files read as a viewer shows them, their headers, folders of unlabelled images, and
what one decoding of each tells (signatures)."""
