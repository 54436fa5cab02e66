"""One conversion point per annotation format: readers produce Records, writers consume them."""
