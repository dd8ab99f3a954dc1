"""Uses of ``cached`` that must type-check under ``mypy --strict`` (checked by tests/test_package.py, rule D6).

The decorated function keeps its parameters and return type: each result is assigned to a typed variable.
Never imported or run: it is read by mypy only.
"""

from __future__ import annotations

import datetime

import daramjwee as dj


def sync_function(cache: dj.Cache) -> None:
    @cache.cached(key="user:{user_id}", fresh_for=60, stale_while_revalidate=datetime.timedelta(seconds=30))
    def load_user(user_id: int, *, verbose: bool = False) -> dict[str, int]:
        return {"id": user_id}

    user: dict[str, int] = load_user(42)
    user = load_user(user_id=42, verbose=True)
    key: str = load_user.key(42)
    load_user.invalidate(42)
    fresh: dict[str, int] = load_user.refresh(42, verbose=False)
    wrapped: dj.CachedFunction[[int], dict[str, int]] = cache.cached()(lambda user_id: {"id": user_id})
    print(user, key, fresh, wrapped)


async def async_function(cache: dj.AsyncCache) -> None:
    @cache.cached(key=lambda name, limit=10: f"search:{name}:{limit}", cache_none=True, negative_on=KeyError)
    async def search(name: str, limit: int = 10) -> list[str] | None:
        return [name] * limit

    found: list[str] | None = await search("squirrel")
    found = await search("squirrel", limit=3)
    key: str = search.key("squirrel")
    await search.invalidate("squirrel", 3)
    again: list[str] | None = await search.refresh("squirrel")
    print(found, key, again)


class Users:
    def __init__(self) -> None:
        self.tenant = "t1"

    cache = dj.Cache(stores=[dj.MemStore()])
    async_cache = dj.AsyncCache(stores=[dj.AsyncMemStore()])

    @cache.cached(key="{self.tenant}:user:{user_id}")
    def name(self, user_id: int) -> str:
        return f"user {user_id}"

    @async_cache.cached(negative_on=(LookupError,))
    async def email(self, user_id: int) -> str:
        return f"{user_id}@example.com"


async def methods(users: Users) -> None:
    name: str = users.name(1)
    users.name.invalidate(1)
    key: str = users.name.key(user_id=1)
    unbound: str = Users.name(users, 1)
    email: str = await users.email(2)
    await users.email.invalidate(2)
    refreshed: str = await users.email.refresh(2)
    print(name, key, unbound, email, refreshed)
