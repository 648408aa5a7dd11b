"""HTTP connection pools for webhooks: one pooled, kept-alive client per endpoint.

Per endpoint rather than one for all: httpx checks every idle connection of a pool (a `poll`
system call each) whenever a request enters or leaves it, so one pool of 64 connections costs
dozens of system calls per request, and a fan-out to a fast receiver spent its time there. A
pool per endpoint holds at most `NOTIFY_WEBHOOK_MAX_PER_ENDPOINT` connections, all kept alive,
and a slow or dead endpoint cannot take the connections another needs.
"""

from __future__ import annotations

import time

import httpx

KEPT = 512  # endpoint pools kept; past it, the longest-idle pools with nothing in flight close


class EndpointClients:
    def __init__(self, per_endpoint: int, timeout_s: float,
                 shared: httpx.AsyncClient | None = None) -> None:
        self.per_endpoint, self.timeout_s = per_endpoint, timeout_s
        self.shared = shared  # one client for every endpoint, when given (tests)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._in_flight: dict[str, int] = {}
        self._used: dict[str, float] = {}

    async def post(self, endpoint: str, url: str, content: bytes,
                   headers: dict[str, str]) -> httpx.Response:
        client = self.shared or self._client(endpoint)
        self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
        try:
            return await client.post(url, content=content, headers=headers)
        finally:
            self._in_flight[endpoint] -= 1
            self._used[endpoint] = time.monotonic()

    def _client(self, endpoint: str) -> httpx.AsyncClient:
        client = self._clients.get(endpoint)
        if client is None:
            client = self._clients[endpoint] = httpx.AsyncClient(
                timeout=self.timeout_s,
                limits=httpx.Limits(max_connections=self.per_endpoint,
                                    max_keepalive_connections=self.per_endpoint))
        return client

    async def prune(self) -> None:
        """Close the longest-idle pools beyond `KEPT` (none with a request in flight)."""
        if len(self._clients) <= KEPT:
            return
        idle = sorted((e for e in self._clients if not self._in_flight.get(e)),
                      key=lambda e: self._used.get(e, 0.0))
        for endpoint in idle[:len(self._clients) - KEPT]:
            await self._clients.pop(endpoint).aclose()
            self._in_flight.pop(endpoint, None)
            self._used.pop(endpoint, None)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        if self.shared is not None:
            clients.append(self.shared)
        for client in clients:
            await client.aclose()
