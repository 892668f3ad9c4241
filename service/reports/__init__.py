"""Documents built from the views: the care log in words, CSV, XLSX and printable pages."""
