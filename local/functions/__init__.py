"""Lambda, locally: the functions' execution environments (worker processes) and Lambda's Invoke API."""
