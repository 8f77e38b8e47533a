"""What people and programs reach over HTTP: the REST API, the admin, the server that serves them,
and what every request passes through. It holds no rules of its own: it calls the services."""
