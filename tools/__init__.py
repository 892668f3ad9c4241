"""Tools of the repository checkout, not installed with the service: the bench, and a month of
demo data for the tests."""
