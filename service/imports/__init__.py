"""Files staff bring in: the roster spreadsheet and its agreement columns."""
