"""A deterministic synthetic shop store, so every part of the playbook has customers to act on.

It looks like a Chinese e-commerce shop: skewed order counts, a Double 11 peak and a 618 bump,
price-sensitive coupon users, dissatisfied reviewers, parents moving from mother_baby to toys,
abandoned carts, sixty days of contact history, and channel statistics in which weibo deserves
to be exited and xiaohongshu is being tested. Generation is vectorised per batch of customers
(NumPy) and streamed into SQLite, so a million customers take minutes and flat memory.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import store, storeformat

DEMO_END = "2026-11-20"
BATCH = 20_000

CATEGORIES = [
    "apparel",
    "shoes",
    "bags",
    "jewelry",
    "beauty",
    "skincare",
    "mother_baby",
    "toys",
    "food",
    "snacks",
    "fresh",
    "digital",
    "phones",
    "appliances",
    "home",
    "kitchen",
    "furniture",
    "sports",
    "outdoor",
    "books",
    "pets",
    "health",
]
COUNTRIES = ("CN", "HK", "TW", "SG", "JP", "US", "GB")
COUNTRY_P = (0.85, 0.04, 0.03, 0.03, 0.02, 0.02, 0.01)
ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Europe/London",
)
CITIES_CN = [
    "上海",
    "北京",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "南京",
    "武汉",
    "西安",
    "苏州",
    "重庆",
    "天津",
    "长沙",
    "郑州",
    "青岛",
]
CITIES_ABROAD = ("香港", "台北", "Singapore", "東京", "Los Angeles", "London")
CURRENCY = ("CNY", "HKD", "CNY", "CNY", "CNY", "USD", "CNY")
TIERS = ("regular", "silver", "gold", "diamond")
ORDER_CHANNELS = ("app", "mini_program", "web", "douyin_live")
COUPONS = ("NEW-20", "FLASH-30", "VIP-100", "618-40", "D11-50")
CONTACT_CHANNELS = ("email", "sms", "app_push", "wechat")
CONTACT_OFFERS = (
    "vip_winback",
    "winback_price_sensitive",
    "winback_dissatisfied",
    "cart_recovery",
    "browse_abandon",
    "repurchase_7d",
    "second_order_nudge",
)
STAT_CHANNELS = ("email", "sms", "app_push", "wechat", "douyin", "weibo", "xiaohongshu")

Array = npt.NDArray[Any]
DAY = 86_400


def build_demo_store(
    path: str | Path,
    *,
    customers: int,
    seed: int,
    progress: bool = True,
    end: str = DEMO_END,
    fmt: str | None = None,
) -> dict[str, int]:
    """Build the store into a temporary file and move it into place only when complete.

    An existing store at `path` is replaced; any other existing file is refused (StoreError).
    The store is DuckDB when `fmt` or a `.duckdb` name says so, with the same rows as the
    SQLite store of the same seed: it is built as that store, then copied.

    Returns the rows per table (counting them afterwards would take as long as a third of
    the build on a large store).
    """
    path = Path(path)
    store.check_can_initialise(path)  # never replace a file that is not a campaign store
    if storeformat.for_new(path, fmt) == "duckdb":
        return _build_duckdb(path, customers=customers, seed=seed, progress=progress, end=end)
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    store.init_store(building)
    conn = sqlite3.connect(building)
    try:
        counts = _load(conn, customers, seed, end, _Progress(customers, progress))
    finally:
        conn.close()
    store.init_store(building)  # indexes, created after loading (much faster)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    os.replace(building, path)
    return counts


def _build_duckdb(
    path: Path, *, customers: int, seed: int, progress: bool, end: str
) -> dict[str, int]:
    from .storecopy import copy_store

    staging = path.with_name(path.name + ".sqlite-building")
    try:
        counts = build_demo_store(
            staging, customers=customers, seed=seed, progress=progress, end=end
        )
        copy_store(staging, path, fmt="duckdb", replace=True)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(staging) + suffix).unlink(missing_ok=True)
    return counts


def _load(
    conn: sqlite3.Connection, customers: int, seed: int, end: str, bar: _Progress
) -> dict[str, int]:
    """Two workers build halves into part files; the parts are merged here in batch order.

    Ids of orders, events and contacts are assigned by SQLite when the parts are merged, in
    batch order, so the content depends only on the seed and the number of customers.
    """
    _fast_and_unindexed(conn)
    end_ts = int(datetime.fromisoformat(end + "T00:00:00+00:00").timestamp())
    tasks = [
        (seed, i, start, min(BATCH, customers - start), end_ts)
        for i, start in enumerate(range(0, customers, BATCH))
    ]
    half = (len(tasks) + 1) // 2
    target = Path(conn.execute("PRAGMA database_list").fetchone()[2])
    parts = [
        (target.with_name(f"{target.name}.part{n}"), chunk)
        for n, chunk in enumerate((tasks[:half], tasks[half:]))
        if chunk
    ]
    done = multiprocessing.get_context("fork").Value("i", 0)
    with multiprocessing.get_context("fork").Pool(2, _share_counter, (done,)) as pool:
        pending = pool.map_async(_build_part, parts)
        while not pending.ready():
            pending.wait(0.5)
            bar.update(done.value)
        pending.get()
    counts = {table: 0 for table in store.TABLES}
    for part, _ in parts:
        for table, merged in _merge(conn, part).items():
            counts[table] += merged
    with conn:
        spawn = np.random.SeedSequence(seed, spawn_key=(2**31,))
        rows = channel_stats(np.random.Generator(np.random.PCG64(spawn)), date.fromisoformat(end))
        _insert(conn, "channel_stats", _columns("channel_stats"), rows)
    counts["channel_stats"] = len(rows)
    bar.update(customers)
    bar.done()
    return counts


def _fast_and_unindexed(conn: sqlite3.Connection) -> None:
    """Bulk-load settings; indexes are rebuilt once at the end, which is much faster."""
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    names = conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
    for (name,) in names.fetchall():
        conn.execute(f'DROP INDEX "{name}"')


_counter: Any = None
PART_TABLES = ("customers", "orders", "events", "contacts")


def _share_counter(counter: Any) -> None:
    global _counter
    _counter = counter


def _build_part(part: tuple[Path, list[tuple[int, int, int, int, int]]]) -> None:
    path, tasks = part
    path.unlink(missing_ok=True)
    store.init_store(path)
    conn = sqlite3.connect(path)
    try:
        _fast_and_unindexed(conn)
        for task in tasks:
            with conn:
                for table, columns, rows in _generate(task):
                    _insert(conn, table, columns, rows)
            with _counter.get_lock():
                _counter.value += task[3]
    finally:
        conn.close()


def _merge(conn: sqlite3.Connection, part: Path) -> dict[str, int]:
    conn.execute("ATTACH DATABASE ? AS part", (str(part),))
    counts = {}
    try:
        with conn:
            for table in PART_TABLES:
                names = ", ".join(_columns(table, without_id=table != "customers"))
                counts[table] = conn.execute(
                    f'INSERT INTO main."{table}" ({names}) SELECT {names} FROM part."{table}" '
                    "ORDER BY rowid"
                ).rowcount
    finally:
        conn.execute("DETACH DATABASE part")
        part.unlink(missing_ok=True)
    return counts


def _generate(task: tuple[int, int, int, int, int]) -> Tables:
    """One batch, from its own seed: the same rows whichever process makes them."""
    seed, index, start, count, end_ts = task
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
    return list(_Batch(rng, start, count, end_ts).tables())


Tables = list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]


def _insert(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Rows without an id column get SQLite's next rowid: ids follow insertion order."""
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


class _Progress:
    """A one-line progress display on stderr, redrawn at most a few times a second."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled and total >= BATCH
        self.started = self.last = time.monotonic()
        self.shown = -1

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done == self.shown and now - self.last < 5):
            return
        self.last, self.shown = now, done
        share = done / self.total
        bar = "#" * int(share * 30)
        sys.stderr.write(
            f"\rdemo-data [{bar:<30}] {done:,}/{self.total:,} customers  {now - self.started:.0f}s"
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write(f"  done in {time.monotonic() - self.started:.0f}s\n")


def _columns(table: str, without_id: bool = False) -> tuple[str, ...]:
    names = tuple(name for name, _ in store.TABLES[table].columns)
    return names[1:] if without_id else names


# -- times -----------------------------------------------------------------------------


def _iso(seconds: Array, rng: np.random.Generator, variety: bool = False) -> list[str]:
    """ISO-8601 UTC text; with `variety`, a few rows in the other spellings the SPEC allows."""
    base = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    out: Array = np.char.add(base, "Z")
    if variety and len(seconds):
        pick = rng.random(len(seconds))
        plain = pick < 0.02
        out[plain] = np.char.replace(base[plain], "T", " ")
        shifted = (pick >= 0.02) & (pick < 0.03)
        local = np.datetime_as_string(
            (seconds[shifted] + 8 * 3600).astype("datetime64[s]"), unit="s"
        )
        out[shifted] = np.char.add(local, "+08:00")
    return list(out.tolist())


def _nov11(years: Array) -> Array:
    """Midnight UTC+8 of Nov 11 of each year, as UTC epoch seconds."""
    days = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]") + np.timedelta64(314, "D")
    return np.asarray(days.astype("datetime64[s]").astype(np.int64) - 8 * 3600)


def _choice(rng: np.random.Generator, options: Sequence[Any], size: int, p: Any = None) -> Array:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=size, p=p)]


def _masked(values: Array, keep: Array) -> list[Any]:
    out: list[Any] = values.tolist()
    for i in np.flatnonzero(~keep).tolist():
        out[i] = None
    return out


# -- one batch of customers --------------------------------------------------------------


class _Batch:
    """Customers start+1 .. start+count with their orders, events and contacts."""

    def __init__(self, rng: np.random.Generator, start: int, count: int, end_ts: int) -> None:
        self.rng, self.n, self.end = rng, count, end_ts
        self.ids = np.arange(start + 1, start + count + 1, dtype=np.int64)
        self._personas()

    def _personas(self) -> None:
        rng, n = self.rng, self.n
        kind = rng.random(n)
        repeat = np.floor(rng.lognormal(2.6, 0.9, n)).astype(np.int64) + 2
        self.order_count = np.where(
            kind < 0.22, 0, np.where(kind < 0.55, 1, np.minimum(repeat, 400))
        )
        self.created = self.end - rng.integers(30 * DAY, 3 * 365 * DAY, n)
        # how long ago each customer went quiet: a third are active, the rest churned by 30-600 days
        gap = np.where(
            rng.random(n) < 0.35, rng.integers(0, 30 * DAY, n), rng.integers(30 * DAY, 600 * DAY, n)
        )
        self.active_end = np.maximum(self.end - gap, self.created + DAY)
        self.price_sensitive = rng.random(n) < 0.15
        self.dissatisfied = rng.random(n) < 0.06
        self.parent = rng.random(n) < 0.06
        self.favourite = rng.integers(0, len(CATEGORIES), (n, 3))
        self.country = rng.choice(len(COUNTRIES), n, p=COUNTRY_P)

    def tables(self) -> Iterator[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        yield "customers", _columns("customers"), self.customers()
        orders, owner, when = self.orders()
        yield "orders", _columns("orders", without_id=True), orders
        yield "events", _columns("events", without_id=True), self.events(owner, when)
        yield "contacts", _columns("contacts", without_id=True), self.contacts()

    def customers(self) -> list[tuple[Any, ...]]:
        rng, n, ids = self.rng, self.n, self.ids
        zone_known = rng.random(n) >= 0.03
        cn = self.country == 0
        city = np.where(
            cn,
            _choice(rng, CITIES_CN, n),
            np.asarray(("", *CITIES_ABROAD), dtype=object)[self.country],
        )
        spend_rank = self.order_count + rng.integers(0, 8, n)
        tier = np.select([spend_rank >= 60, spend_rank >= 30, spend_rank >= 12], [3, 2, 1], 0)
        has = {
            k: rng.random(n) < p
            for k, p in (("email", 0.70), ("phone", 0.85), ("push", 0.45), ("wechat", 0.60))
        }
        opt = {
            k: rng.random(n) < p
            for k, p in (("email", 0.55), ("sms", 0.40), ("push", 0.60), ("wechat", 0.50))
        }
        birth = np.datetime64("1960-01-01") + rng.integers(0, 45 * 365, n).astype("timedelta64[D]")
        late_nov = rng.random(n) < 0.01
        birth = np.where(
            late_nov,
            np.datetime64("1990-11-15") + rng.integers(0, 15, n).astype("timedelta64[D]"),
            birth,
        )
        columns = [
            ids.tolist(),
            _iso(self.created, rng),
            np.asarray(COUNTRIES, dtype=object)[self.country].tolist(),
            city.tolist(),
            _masked(np.asarray(ZONES, dtype=object)[self.country], zone_known),
            np.asarray(TIERS, dtype=object)[tier].tolist(),
            _masked(
                np.char.add(np.char.add("u", ids.astype(str)), "@example.cn").astype(object),
                has["email"],
            ),
            _masked(
                np.char.add("13", rng.integers(100_000_000, 999_999_999, n).astype(str)).astype(
                    object
                ),
                has["phone"],
            ),
            _masked(np.char.add("pt_", ids.astype(str)).astype(object), has["push"]),
            _masked(np.char.add("o_wx", ids.astype(str)).astype(object), has["wechat"]),
            (has["email"] & opt["email"]).astype(int).tolist(),
            (has["phone"] & opt["sms"]).astype(int).tolist(),
            (has["push"] & opt["push"]).astype(int).tolist(),
            (has["wechat"] & opt["wechat"]).astype(int).tolist(),
            _masked(np.datetime_as_string(birth, unit="D").astype(object), rng.random(n) < 0.8),
            _masked(_choice(rng, ("F", "M"), n, p=(0.58, 0.42)), rng.random(n) < 0.92),
        ]
        return list(zip(*columns, strict=True))

    def orders(self) -> tuple[list[tuple[Any, ...]], Array, Array]:
        rng = self.rng
        owner = np.repeat(np.arange(self.n), self.order_count)
        m = len(owner)
        first = self.created[owner] + DAY
        span = np.maximum(self.active_end[owner] - first, DAY)
        when = first + (rng.random(m) * span).astype(np.int64)
        # Double 11 and 618: a share of orders moves to the festival, if the customer was around
        year = rng.choice((2024, 2025), m)
        ramp = np.where(rng.random(m) < 0.55, 0, rng.integers(1, 11, m)) * DAY
        festival = _nov11(year) - ramp + rng.integers(0, DAY, m)
        is_d11 = (
            (rng.random(m) < 0.12) & (festival > first) & (festival < self.active_end[owner] + DAY)
        )
        when = np.where(is_d11, festival, when)
        mid_june = _nov11(year) - 146 * DAY + rng.integers(-2 * DAY, DAY, m)
        is_618 = (
            (rng.random(m) < 0.04) & (mid_june > first) & (mid_june < self.active_end[owner] + DAY)
        )
        when = np.minimum(np.where(is_618, mid_june, when), self.end - 60)
        category = self._categories(owner, when)
        coupon_p = np.where(self.price_sensitive[owner], 0.7, 0.12) + np.where(is_d11, 0.35, 0.0)
        coupon = rng.random(m) < coupon_p
        code_idx = np.where(is_d11, 4, rng.integers(0, 4, m))
        discount = np.asarray((20.0, 30.0, 100.0, 40.0, 50.0))[code_idx]
        status = _choice(rng, ("completed", "cancelled", "refunded"), m, p=(0.9, 0.05, 0.05))
        status = np.where(self.dissatisfied[owner] & (rng.random(m) < 0.25), "refunded", status)
        recent = when > self.end - 3 * DAY
        status = np.where(recent & (rng.random(m) < 0.5), "pending", status).astype(object)
        rows = list(
            zip(
                self.ids[owner].tolist(),
                _iso(when, rng, variety=True),
                np.round(rng.lognormal(5.3, 0.8, m), 2).tolist(),
                np.asarray(CURRENCY, dtype=object)[self.country[owner]].tolist(),
                status.tolist(),
                category.tolist(),
                _choice(rng, ORDER_CHANNELS, m, p=(0.5, 0.25, 0.15, 0.1)).tolist(),
                _masked(np.asarray(COUPONS, dtype=object)[code_idx], coupon),
                _masked(discount, coupon),
                strict=True,
            )
        )
        return rows, owner, when

    def _categories(self, owner: Array, when: Array) -> Array:
        rng, m = self.rng, len(owner)
        fav = self.favourite[owner, rng.integers(0, 3, m)]
        pick = np.where(rng.random(m) < 0.7, fav, rng.integers(0, len(CATEGORIES), m))
        # parents: mother_baby until about 200 days before they went quiet, toys and books after
        parent = self.parent[owner]
        early = when < self.active_end[owner] - 200 * DAY
        later = np.where(rng.random(m) < 0.5, CATEGORIES.index("toys"), CATEGORIES.index("books"))
        pick = np.where(
            parent & early, CATEGORIES.index("mother_baby"), np.where(parent, later, pick)
        )
        return np.asarray(CATEGORIES, dtype=object)[pick]

    def events(self, owner: Array, when: Array) -> list[tuple[Any, ...]]:
        rng, m = self.rng, len(owner)
        parts: list[tuple[Array, Array, Array, Array]] = []  # customer index, type, time, value

        def add(idx: Array, kind: str, at: Array, value: Array | None = None) -> None:
            vals = value if value is not None else np.full(len(idx), np.nan)
            parts.append((idx, np.full(len(idx), kind, dtype=object), at, vals))

        viewed = rng.random(m) < 0.6
        add(owner[viewed], "view", when[viewed] - rng.integers(600, 2 * DAY, viewed.sum()))
        carted = rng.random(m) < 0.35
        add(owner[carted], "add_to_cart", when[carted] - rng.integers(60, 6 * 3600, carted.sum()))
        reviewed = rng.random(m) < 0.2
        rating = np.where(
            self.dissatisfied[owner[reviewed]],
            rng.integers(1, 3, reviewed.sum()),
            rng.choice((3, 4, 5, 5, 5), reviewed.sum()),
        )
        add(
            owner[reviewed],
            "review",
            np.minimum(
                when[reviewed] + rng.integers(3 * DAY, 10 * DAY, reviewed.sum()), self.end - 60
            ),
            rating.astype(float),
        )
        everyone = np.arange(self.n)
        # abandoned carts and browsing without buying, mostly in the last weeks
        abandon = everyone[rng.random(self.n) < 0.12]
        add(abandon, "add_to_cart", self.end - rng.integers(3600, 10 * DAY, len(abandon)))
        browse = everyone[rng.random(self.n) < 0.15]
        add(browse, "view", self.end - rng.integers(3600, 14 * DAY, len(browse)))
        searching = everyone[rng.random(self.n) < 0.2]
        add(searching, "search", self.end - rng.integers(3600, 60 * DAY, len(searching)))
        live = everyone[rng.random(self.n) < 0.08]
        add(live, "live_view", self.end - rng.integers(3600, 60 * DAY, len(live)))
        complain = everyone[self.dissatisfied & (rng.random(self.n) < 0.6)]
        add(complain, "complaint", self.end - rng.integers(DAY, 150 * DAY, len(complain)))
        idx = np.concatenate([p[0] for p in parts])
        at = np.maximum(np.concatenate([p[2] for p in parts]), self.created[idx] + 60)
        order = np.lexsort((at, idx))
        k = len(idx)
        kinds = np.concatenate([p[1] for p in parts])[order]
        values = np.concatenate([p[3] for p in parts])[order]
        category = np.asarray(CATEGORIES, dtype=object)[self.favourite[idx[order], 0]]
        product = np.char.add("P", np.char.zfill(rng.integers(1, 50_000, k).astype(str), 6))
        return list(
            zip(
                self.ids[idx[order]].tolist(),
                kinds.tolist(),
                _iso(at[order], rng),
                product.tolist(),
                category.tolist(),
                _masked(values, ~np.isnan(values)),
                strict=True,
            )
        )

    def contacts(self) -> list[tuple[Any, ...]]:
        rng = self.rng
        per = rng.poisson(2.0, self.n)
        idx = np.repeat(np.arange(self.n), per)
        k = len(idx)
        at = self.end - rng.integers(600, 60 * DAY, k)
        channel = rng.choice(len(CONTACT_CHANNELS), k, p=(0.4, 0.2, 0.25, 0.15))
        status = _choice(
            rng,
            (
                "delivered",
                "opened",
                "clicked",
                "converted",
                "sent",
                "bounced",
                "unsubscribed",
                "complained",
            ),
            k,
            p=(0.45, 0.25, 0.12, 0.05, 0.08, 0.04, 0.005, 0.005),
        )
        bouncy = (rng.random(self.n) < 0.03)[idx] & (channel == 0)
        status = np.where(bouncy, "bounced", status).astype(object)
        offer = _choice(rng, CONTACT_OFFERS, k)
        order = np.lexsort((at, idx))
        return list(
            zip(
                self.ids[idx[order]].tolist(),
                np.asarray(CONTACT_CHANNELS, dtype=object)[channel[order]].tolist(),
                _masked(offer[order], rng.random(k) < 0.8),
                _iso(at[order], rng),
                status[order].tolist(),
                strict=True,
            )
        )


def channel_stats(rng: np.random.Generator, end: date) -> list[tuple[Any, ...]]:
    """Twelve monthly periods per channel; weibo sinks under half its target, xiaohongshu is new."""
    months = []
    first = date(end.year - 1, end.month, 1)
    for i in range(12):
        year, month = divmod(first.month - 1 + i, 12)
        start = date(first.year + year, month + 1, 1)
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        months.append((start, nxt - timedelta(days=1)))
    base = {
        "email": 4.5,
        "sms": 2.3,
        "app_push": 3.2,
        "wechat": 2.9,
        "douyin": 2.6,
        "weibo": 1.9,
        "xiaohongshu": 1.0,
    }
    spend_base = {
        "email": 20_000,
        "sms": 30_000,
        "app_push": 10_000,
        "wechat": 25_000,
        "douyin": 60_000,
        "weibo": 15_000,
        "xiaohongshu": 8_000,
    }
    rows = []
    for channel in STAT_CHANNELS:
        target = 3.0 if channel == "email" else 2.0
        for i, (start, stop) in enumerate(months):
            if channel == "xiaohongshu" and i < 10:
                continue
            roi = base[channel] * float(rng.uniform(0.9, 1.1))
            if channel == "weibo" and i >= 7:
                roi = float(rng.uniform(0.45, 0.85))
            spend = round(spend_base[channel] * float(rng.uniform(0.8, 1.2)), 2)
            revenue = round(spend * roi, 2)
            conversions = int(revenue / float(rng.uniform(180, 260)))
            rows.append(
                (channel, start.isoformat(), stop.isoformat(), spend, revenue, conversions, target)
            )
    return rows
