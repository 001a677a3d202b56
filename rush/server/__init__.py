"""The server: an epoll loop per worker process, connections, and the supervisor that forks them."""
