"""What runs beside the API: the alert watcher, the notification deliverer, and their bootstrap."""
