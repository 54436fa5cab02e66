"""What finished runs hold, and the tools that run on them."""
