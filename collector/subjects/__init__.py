"""Data-subject rights over pseudonymised data: find a subject's rows from their IP address or
cookie id (while the epoch keys live), export, erase, restrict and object; lawful disclosure."""
