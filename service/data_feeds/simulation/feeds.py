"""Simulated market feeds: price ticks, trades and level-2 order books for any number of symbols.

The model, per symbol:

- A latent log-price ``x`` (``PricePath``) moves as a geometric Brownian motion whose volatility
  switches between a calm and a volatile regime (a two-state continuous-time Markov chain with
  mean sojourn times ``calm_mean_s`` / ``volatile_mean_s``), plus rare Poisson jumps. Each step
  of the path is one price tick: steps arrive as a Poisson process at ``tick_rate_hz``.
- Ticks carry the path's price, a bid/ask around it (the spread widens in the volatile regime)
  and the volume traded since the previous tick, scaled by an intraday activity profile of the
  asset class (U-shaped for equities, London/New York sessions for fx, mild for crypto) and
  doubled in the volatile regime.
- Trades arrive as a Poisson process at ``trade_rate_hz``; the aggressor side leans with the
  price move since the previous trade, buys print at the ask and sells at the bid, and sizes
  grow with the move.
- Books (``book_rate_hz``): a full ``BookSnapshot`` every ``snapshot_interval_s`` and a
  ``BookDelta`` in between, ``book_depth`` levels a side on the symbol's tick grid around the
  path's mid. A delta lists every changed level and a size of 0 for every level that left the
  book, so applying it to the previous book gives exactly the new one: never crossed.

Everything is seeded: each component draws from its own ``random.Random`` keyed by
``(seed, symbol, component)`` (string seeds are hashed with SHA-512, not ``hash()``, so they are
stable across processes), the streams are merged by ``(timestamp, source index)``, and prices
are rounded to a fixed number of decimals. The same seed and configuration give the same
records, hence the same encoded bytes; switching books off does not change the ticks.

Timestamps are simulated epoch seconds starting at ``FeedConfig.start_s``. The generators are
lazy and unbounded: take what you need (``itertools.islice``, a deadline in the publisher).
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final

from data_feeds.records import BookDelta, BookSnapshot, Level, Record, Tick, Trade

DEFAULT_START_S: Final = 1_704_067_200.0
"""2024-01-01T00:00:00Z: the default start of simulated time (fixed, for reproducibility)."""

CALM: Final = 0
VOLATILE: Final = 1

_RELEASE_EVERY: Final = 2048
"""Merged records between two prunings of the price paths' consumed history."""


@dataclass(frozen=True, slots=True)
class AssetProfile:
    """What the symbols of one asset class look like by default."""

    asset_class: str
    defaults: tuple[tuple[str, float], ...]
    """Well-known symbols and a plausible starting price, used first."""
    generated: str
    """Format of further symbol names, numbered from 1: ``SYM{:03d}USDT`` -> ``SYM001USDT``."""
    generated_prices: tuple[float, float]
    """Starting prices of generated symbols are log-uniform in this range."""
    sigma_s: float
    """Calm-regime volatility of the log-price per square root of a second."""
    spread_bps: float
    """Calm-regime quoted spread in basis points of the price."""
    trade_notional: float
    """Typical notional of one trade, in the quote currency."""
    notional_per_s: float
    """Mean notional traded per second at average intraday activity."""
    quote_suffixes: tuple[str, ...]
    """Stripped from a symbol to make its sentiment keyword (``BTCUSDT`` -> ``BTC``)."""
    sessions: tuple[tuple[float, float, float], ...]
    """Intraday activity bumps ``(centre hour UTC, width in hours, height)`` over a base of 1."""
    base_activity: float = 1.0
    tick_exponent: int = -4
    """The price grid is ``10 ** (floor(log10(price)) + tick_exponent)``."""


PROFILES: Final[dict[str, AssetProfile]] = {
    "crypto": AssetProfile(
        asset_class="crypto",
        defaults=(
            ("BTCUSDT", 50_000.0),
            ("ETHUSDT", 3_000.0),
            ("SOLUSDT", 150.0),
            ("BNBUSDT", 600.0),
            ("XRPUSDT", 0.6),
            ("ADAUSDT", 0.45),
            ("DOGEUSDT", 0.15),
            ("AVAXUSDT", 35.0),
            ("DOTUSDT", 7.0),
            ("LINKUSDT", 15.0),
        ),
        generated="SYM{:03d}USDT",
        generated_prices=(0.05, 500.0),
        sigma_s=2e-4,
        spread_bps=2.0,
        trade_notional=2_000.0,
        notional_per_s=20_000.0,
        quote_suffixes=("USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "EUR"),
        sessions=((14.5, 4.0, 0.5),),
    ),
    "equity": AssetProfile(
        asset_class="equity",
        defaults=(
            ("AAPL", 190.0),
            ("MSFT", 420.0),
            ("NVDA", 900.0),
            ("AMZN", 180.0),
            ("GOOGL", 170.0),
            ("META", 480.0),
            ("TSLA", 180.0),
            ("JPM", 195.0),
            ("V", 275.0),
            ("JNJ", 150.0),
        ),
        generated="STK{:03d}",
        generated_prices=(5.0, 800.0),
        sigma_s=1e-4,
        spread_bps=2.0,
        trade_notional=10_000.0,
        notional_per_s=100_000.0,
        quote_suffixes=(),
        # The New York session, open and close heavy (a U shape), quiet overnight.
        sessions=((13.75, 0.6, 6.0), (16.5, 2.5, 2.0), (19.8, 0.5, 5.0)),
        base_activity=0.2,
    ),
    "fx": AssetProfile(
        asset_class="fx",
        defaults=(
            ("EURUSD", 1.08),
            ("GBPUSD", 1.27),
            ("USDJPY", 150.0),
            ("AUDUSD", 0.66),
            ("USDCAD", 1.36),
            ("USDCHF", 0.88),
            ("NZDUSD", 0.61),
            ("EURGBP", 0.85),
            ("EURJPY", 162.0),
            ("GBPJPY", 190.0),
        ),
        generated="FX{:03d}USD",
        generated_prices=(0.5, 2.0),
        sigma_s=3e-5,
        spread_bps=0.6,
        trade_notional=1_000_000.0,
        notional_per_s=5_000_000.0,
        quote_suffixes=(),
        # London and New York, overlapping in the early afternoon UTC.
        sessions=((9.5, 2.5, 1.2), (14.5, 2.5, 1.5)),
        base_activity=0.5,
        tick_exponent=-5,
    ),
}

ASSET_CLASSES: Final = tuple(PROFILES)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One simulated instrument. ``symbol_spec`` fills the derived fields from the profile."""

    symbol: str
    asset_class: str
    price: float
    """Starting price."""
    keyword: str
    """Its sentiment keyword (``BTC`` for ``BTCUSDT``, the ticker or pair otherwise)."""
    sigma_s: float
    spread_bps: float
    tick_size: float
    """Price grid of the book: a power of ten, 1e-4 (fx: 1e-5) of the starting price's magnitude."""
    price_decimals: int
    """Decimals of published prices: the tick's, plus one for mids."""
    size_decimals: int
    trade_size: float
    """Typical size of one trade, in units of the instrument."""
    volume_per_s: float
    """Mean units traded per second at average intraday activity."""


def symbol_spec(symbol: str, asset_class: str = "crypto", price: float | None = None) -> SymbolSpec:
    """A ``SymbolSpec`` with the profile's volatility, spread and sizes for its asset class.

    ``price``: the starting price; ``None`` takes the profile's default for a well-known symbol.
    """
    profile = PROFILES.get(asset_class)
    if profile is None:
        raise ValueError(f"unknown asset class {asset_class!r}; known: {', '.join(PROFILES)}")
    if price is None:
        price = dict(profile.defaults).get(symbol)
        if price is None:
            raise ValueError(f"no default price for {symbol!r}: pass price=")
    if not (isinstance(price, int | float) and math.isfinite(price) and price > 0):
        raise ValueError(f"price must be a finite number > 0, got {price!r}")
    exponent = math.floor(math.log10(price)) + profile.tick_exponent
    tick_size = 10.0**exponent
    tick_decimals = max(0, -exponent)
    trade_size = profile.trade_notional / price
    size_decimals = max(0, 4 - math.floor(math.log10(trade_size)))
    keyword = symbol
    for suffix in profile.quote_suffixes:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            keyword = symbol[: -len(suffix)]
            break
    return SymbolSpec(
        symbol=symbol,
        asset_class=asset_class,
        price=float(price),
        keyword=keyword,
        sigma_s=profile.sigma_s,
        spread_bps=profile.spread_bps,
        tick_size=tick_size,
        price_decimals=tick_decimals + 1,
        size_decimals=size_decimals,
        trade_size=trade_size,
        volume_per_s=profile.notional_per_s / price,
    )


def make_symbols(
    count: int, asset_classes: Sequence[str] = ("crypto",), *, seed: int = 0
) -> list[SymbolSpec]:
    """``count`` symbols spread round-robin over ``asset_classes``.

    Each class hands out its well-known symbols first (``BTCUSDT``, ``AAPL``, ``EURUSD``...),
    then generated ones (``SYM001USDT``, ``STK001``, ``FX001USD``...) whose starting prices are
    drawn from ``seed``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number >= 1, got {count!r}")
    classes = list(dict.fromkeys(asset_classes))
    if not classes:
        raise ValueError("asset_classes is empty")
    for asset_class in classes:
        if asset_class not in PROFILES:
            raise ValueError(f"unknown asset class {asset_class!r}; known: {', '.join(PROFILES)}")
    taken = dict.fromkeys(classes, 0)
    out: list[SymbolSpec] = []
    for i in range(count):
        asset_class = classes[i % len(classes)]
        profile = PROFILES[asset_class]
        k = taken[asset_class]
        taken[asset_class] = k + 1
        if k < len(profile.defaults):
            name, price = profile.defaults[k]
        else:
            name = profile.generated.format(k - len(profile.defaults) + 1)
            lo, hi = profile.generated_prices
            u = random.Random(f"{seed}/{name}/price").random()
            price = float(f"{math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))):.4g}")
        out.append(symbol_spec(name, asset_class, price))
    return out


@cache
def _activity_table(asset_class: str) -> tuple[float, ...]:
    """Intraday activity per minute of the UTC day, mean 1."""
    profile = PROFILES[asset_class]
    raw: list[float] = []
    for minute in range(1440):
        hour = minute / 60.0
        level = profile.base_activity
        for centre, width, height in profile.sessions:
            d = (hour - centre + 12.0) % 24.0 - 12.0
            level += height * math.exp(-((d / width) ** 2))
        raw.append(level)
    mean = sum(raw) / len(raw)
    return tuple(v / mean for v in raw)


def intraday_activity(asset_class: str, timestamp: float) -> float:
    """The asset class's relative trading activity at ``timestamp`` (mean 1 over a UTC day)."""
    return _activity_table(asset_class)[int(timestamp % 86400.0) // 60]


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """Calm/volatile switching: mean time in each regime and the volatile volatility multiple."""

    calm_mean_s: float = 600.0
    volatile_mean_s: float = 120.0
    volatility_factor: float = 4.0

    def __post_init__(self) -> None:
        for name in ("calm_mean_s", "volatile_mean_s", "volatility_factor"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """How often each symbol publishes and what its books look like. Rate 0: kind off."""

    start_s: float = DEFAULT_START_S
    """Simulated time of the first event (epoch seconds)."""
    tick_rate_hz: float = 10.0
    """Mean price ticks per second per symbol (simulated time)."""
    trade_rate_hz: float = 5.0
    book_rate_hz: float = 2.0
    book_depth: int = 10
    snapshot_interval_s: float = 30.0
    """A full book this often (simulated), deltas in between; the first book is a snapshot."""
    regimes: RegimeModel = field(default_factory=RegimeModel)
    jump_rate_hz: float = 1.0 / 900.0
    jump_sigma: float = 4e-4
    """Standard deviation of a jump's log-return: a visible move, still short of a 'spike'."""
    exchange: str | None = None
    """Exchange name put on every record; ``None`` leaves it out."""

    def __post_init__(self) -> None:
        if not (isinstance(self.start_s, int | float) and math.isfinite(self.start_s)):
            raise ValueError(f"start_s must be finite epoch seconds, got {self.start_s!r}")
        for name in ("tick_rate_hz", "trade_rate_hz", "book_rate_hz", "jump_rate_hz", "jump_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.tick_rate_hz + self.trade_rate_hz + self.book_rate_hz <= 0:
            raise ValueError(
                "at least one of tick_rate_hz, trade_rate_hz, book_rate_hz must be > 0"
            )
        if isinstance(self.book_depth, bool) or not isinstance(self.book_depth, int):
            raise ValueError(f"book_depth must be a whole number, got {self.book_depth!r}")
        if not 1 <= self.book_depth <= 500:
            raise ValueError(f"book_depth must be in [1, 500], got {self.book_depth!r}")
        if not (math.isfinite(self.snapshot_interval_s) and self.snapshot_interval_s > 0):
            raise ValueError(f"snapshot_interval_s must be > 0, got {self.snapshot_interval_s!r}")

    @classmethod
    def for_rate(
        cls,
        messages_per_s: float,
        symbols: int,
        *,
        trades: bool = True,
        books: bool = True,
        **kwargs: object,
    ) -> FeedConfig:
        """Per-symbol rates adding up to ``messages_per_s`` in total (simulated time).

        Split 50 % ticks, 30 % trades, 20 % books, renormalized over the kinds switched on.
        """
        if not (math.isfinite(messages_per_s) and messages_per_s > 0):
            raise ValueError(f"messages_per_s must be > 0, got {messages_per_s!r}")
        if symbols < 1:
            raise ValueError(f"symbols must be >= 1, got {symbols!r}")
        shares = {"tick_rate_hz": 0.5, "trade_rate_hz": 0.3 if trades else 0.0}
        shares["book_rate_hz"] = 0.2 if books else 0.0
        total = sum(shares.values())
        per_symbol = messages_per_s / symbols
        rates = {name: per_symbol * share / total for name, share in shares.items()}
        return cls(**rates, **kwargs)  # type: ignore[arg-type]


class PricePath:
    """The latent price of one symbol: a lazily extended, deterministic sequence of steps.

    Step ``i`` (from 1) is the ``i``-th price tick: its time, log-price, regime and the volume
    traded since step ``i - 1``. Step 0 is the anchor at ``start_s`` (the starting price, not
    published). The path only depends on its own seed, never on who reads it or in what order,
    so the sentiment generators can look ahead (``log_price_at(t + lead_s)``) while the ticks
    are still being emitted, and both see the same future.

    Consumed history is dropped by ``release(t)``: after it, nothing before ``t`` is asked for.
    """

    __slots__ = (
        "_base",
        "_jump_p",
        "_jump_sigma",
        "_lam",
        "_regime",
        "_rng",
        "_sig",
        "_t",
        "_vol",
        "_x",
        "asset_class",
        "rate_hz",
        "regimes",
        "spec",
    )

    def __init__(
        self,
        spec: SymbolSpec,
        *,
        seed: int = 0,
        start_s: float = DEFAULT_START_S,
        rate_hz: float = 10.0,
        regimes: RegimeModel | None = None,
        jump_rate_hz: float = 1.0 / 900.0,
        jump_sigma: float = 4e-4,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be > 0, got {rate_hz!r}")
        self.spec = spec
        self.asset_class = spec.asset_class
        self.rate_hz = float(rate_hz)
        self.regimes = regimes or RegimeModel()
        self._rng = random.Random(f"{seed}/{spec.symbol}/path")
        self._lam = (1.0 / self.regimes.calm_mean_s, 1.0 / self.regimes.volatile_mean_s)
        self._sig = (spec.sigma_s, spec.sigma_s * self.regimes.volatility_factor)
        self._jump_p = float(jump_rate_hz)
        self._jump_sigma = float(jump_sigma)
        self._base = 0
        self._t: list[float] = [float(start_s)]
        self._x: list[float] = [math.log(spec.price)]
        self._regime: list[int] = [CALM]
        self._vol: list[float] = [0.0]

    def _extend(self, n: int) -> None:
        """Append ``n`` steps."""
        rng = self._rng
        rand, gauss, expo = rng.random, rng.gauss, rng.expovariate
        ts, xs, regimes, vols = self._t, self._x, self._regime, self._vol
        t, x, regime = ts[-1], xs[-1], regimes[-1]
        rate, lam, sig = self.rate_hz, self._lam, self._sig
        jump_p, jump_sigma = self._jump_p, self._jump_sigma
        table = _activity_table(self.asset_class)
        volume_per_s = self.spec.volume_per_s
        size_decimals = self.spec.size_decimals
        sqrt, exp = math.sqrt, math.exp
        for _ in range(n):
            dt = expo(rate)
            t += dt
            if rand() < 1.0 - exp(-lam[regime] * dt):
                regime ^= 1
            sigma = sig[regime]
            x += sigma * sqrt(dt) * gauss(0.0, 1.0) - 0.5 * sigma * sigma * dt
            if jump_p and rand() < jump_p * dt:
                x += gauss(0.0, jump_sigma)
            activity = table[int(t % 86400.0) // 60] * (2.0 if regime else 1.0)
            volume = volume_per_s * activity * dt * exp(0.5 * gauss(0.0, 1.0) - 0.125)
            ts.append(t)
            xs.append(x)
            regimes.append(regime)
            vols.append(round(volume, size_decimals))

    def step(self, i: int) -> tuple[float, float, int, float]:
        """Step ``i``: ``(timestamp, log_price, regime, volume)``."""
        k = i - self._base
        if k < 0:
            raise IndexError(f"step {i} was released")
        missing = k - len(self._t) + 1
        if missing > 0:
            self._extend(max(missing, 256))
        return self._t[k], self._x[k], self._regime[k], self._vol[k]

    def _index_at(self, t: float) -> int:
        """List index of the last step at or before ``t`` (extending past ``t`` first)."""
        ts = self._t
        while ts[-1] <= t:
            self._extend(256)
        k = bisect.bisect_right(ts, t) - 1
        if k < 0:
            if self._base == 0:
                return 0  # before the start: the starting price
            raise IndexError(f"time {t!r} was released")
        return k

    def log_price_at(self, t: float) -> float:
        """The log-price in force at time ``t`` (that of the last step at or before it)."""
        return self._x[self._index_at(t)]

    def state_at(self, t: float) -> tuple[float, int]:
        """``(log_price, regime)`` in force at ``t``."""
        k = self._index_at(t)
        return self._x[k], self._regime[k]

    def price_at(self, t: float) -> float:
        return math.exp(self.log_price_at(t))

    def release(self, t: float) -> None:
        """Forget steps no longer needed once every reader has reached time ``t``."""
        k = bisect.bisect_right(self._t, t) - 2  # keep the last step at or before t
        if k > 0:
            del self._t[:k], self._x[:k], self._regime[:k], self._vol[:k]
            self._base += k

    @property
    def retained(self) -> int:
        """Steps held in memory (for tests of ``release``)."""
        return len(self._t)

    def sigma(self, regime: int) -> float:
        """Volatility per square root of a second in ``regime``."""
        return self._sig[regime]


def _half_spread(spec: SymbolSpec, price: float, regime: int, factor: float) -> float:
    """Half the quoted spread in price units; it scales with the regime's volatility."""
    return price * spec.spread_bps * 5e-5 * (factor if regime else 1.0)


def _quote(spec: SymbolSpec, price: float, half: float) -> tuple[float, float]:
    """Best bid and ask on the tick grid: ``bid <= price - half < price + half <= ask``."""
    tick = spec.tick_size
    dec = spec.price_decimals - 1
    bid = round(math.floor((price - half) / tick) * tick, dec)
    ask = round(math.ceil((price + half) / tick) * tick, dec)
    if ask <= bid:  # only reachable through rounding of a degenerate grid
        ask = round(bid + tick, dec)
    return bid, ask


def tick_records(path: PricePath, factor: float, exchange: str | None = None) -> Iterator[Tick]:
    """Every step of ``path`` as a ``Tick`` (price, bid/ask, volume since the previous tick)."""
    spec = path.spec
    symbol, asset_class, dec = spec.symbol, spec.asset_class, spec.price_decimals
    exp = math.exp
    i = 1
    while True:
        t, x, regime, volume = path.step(i)
        mid = exp(x)
        bid, ask = _quote(spec, mid, _half_spread(spec, mid, regime, factor))
        price = round(mid, dec)
        price = bid if price < bid else (ask if price > ask else price)
        yield Tick(symbol, price, volume, t, asset_class, bid, ask, exchange)
        i += 1


def trade_records(
    path: PricePath,
    rate_hz: float,
    *,
    seed: int,
    start_s: float,
    factor: float,
    exchange: str | None = None,
) -> Iterator[Trade]:
    """Poisson trades on ``path``: sides lean with the move, buys at the ask, sells at the bid."""
    spec = path.spec
    rng = random.Random(f"{seed}/{spec.symbol}/trades")
    rand, expo, gauss = rng.random, rng.expovariate, rng.gauss
    symbol, asset_class = spec.symbol, spec.asset_class
    dec, size_dec = spec.price_decimals - 1, spec.size_decimals
    tick = spec.tick_size
    min_size = 10.0**-size_dec
    table = _activity_table(asset_class)
    t = start_s
    last_x = path.log_price_at(t)
    last_t = t
    trade_id = 0
    exp, sqrt = math.exp, math.sqrt
    while True:
        t += expo(rate_hz)
        x, regime = path.state_at(t)
        move = x - last_x
        scale = path.sigma(regime) * sqrt(max(t - last_t, 1e-3))
        z = move / scale
        z = 6.0 if z > 6.0 else (-6.0 if z < -6.0 else z)
        buy = rand() < 1.0 / (1.0 + exp(-1.5 * z))
        mid = exp(x)
        bid, ask = _quote(spec, mid, _half_spread(spec, mid, regime, factor))
        activity = table[int(t % 86400.0) // 60]
        size = spec.trade_size * activity * exp(0.8 * gauss(0.0, 1.0) - 0.32) * (1.0 + 0.5 * abs(z))
        size = round(size, size_dec)
        size = max(size, min_size)
        # A large order walks one level through the book.
        walk = tick if size > 3.0 * spec.trade_size else 0.0
        price = round(ask + walk, dec) if buy else round(bid - walk, dec)
        if price <= 0.0:
            price = bid if bid > 0.0 else ask
        trade_id += 1
        yield Trade(
            symbol, price, size, "buy" if buy else "sell", t, asset_class, str(trade_id), exchange
        )
        last_x, last_t = x, t


def book_records(
    path: PricePath,
    rate_hz: float,
    *,
    seed: int,
    start_s: float,
    depth: int,
    snapshot_interval_s: float,
    factor: float,
    exchange: str | None = None,
) -> Iterator[BookSnapshot | BookDelta]:
    """A snapshot every ``snapshot_interval_s``, deltas in between, ``depth`` levels a side.

    Between two messages the book follows the mid (levels leave on one end, with size 0 in the
    delta, and enter on the other) and one to three resting sizes change.
    """
    spec = path.spec
    rng = random.Random(f"{seed}/{spec.symbol}/book")
    rand, expo = rng.random, rng.expovariate
    symbol, asset_class = spec.symbol, spec.asset_class
    tick = spec.tick_size
    dec, size_dec = spec.price_decimals - 1, spec.size_decimals
    min_size = 10.0**-size_dec
    level_size = spec.trade_size * 2.0
    prices: dict[int, float] = {}  # level (price in ticks) -> price

    def price_of(level: int) -> float:
        p = prices.get(level)
        if p is None:
            if len(prices) > 4096:
                prices.clear()
            p = prices[level] = round(level * tick, dec)
        return p

    def new_size(distance: int) -> float:
        size = round(level_size * (0.1 + 1.8 * rand()) * (1.0 + 0.15 * distance), size_dec)
        return size if size >= min_size else min_size

    def follow(
        book: dict[int, float], top: int, step: int, changed: dict[int, float]
    ) -> dict[int, float]:
        """The book re-anchored at ``top`` (best first), changes recorded in ``changed``."""
        new: dict[int, float] = {}
        for d in range(depth):
            level = top + step * d
            size = book.get(level)
            if size is None:
                size = changed[level] = new_size(d)
            new[level] = size
        for level in book:
            if level not in new:
                changed[level] = 0.0
        return new

    def levels(changed: dict[int, float], best_high: bool) -> tuple[Level, ...]:
        return tuple((price_of(lv), changed[lv]) for lv in sorted(changed, reverse=best_high))

    bids: dict[int, float] = {}
    asks: dict[int, float] = {}
    best_bid = best_ask = 0
    t = start_s
    next_snapshot = -math.inf
    while True:
        t += expo(rate_hz)
        x, regime = path.state_at(t)
        mid = math.exp(x)
        half = _half_spread(spec, mid, regime, factor) / tick
        centre = mid / tick
        bid_top = math.floor(centre - half)
        ask_top = math.ceil(centre + half)
        bid_changes: dict[int, float] = {}
        ask_changes: dict[int, float] = {}
        if bid_top != best_bid or not bids:
            bids = follow(bids, bid_top, -1, bid_changes)
            best_bid = bid_top
        if ask_top != best_ask or not asks:
            asks = follow(asks, ask_top, 1, ask_changes)
            best_ask = ask_top
        for _ in range(1 + int(rand() * 3)):
            d = int(rand() * depth)
            if rand() < 0.5:
                level = best_bid - d
                bids[level] = bid_changes[level] = new_size(d)
            else:
                level = best_ask + d
                asks[level] = ask_changes[level] = new_size(d)
        if t >= next_snapshot:
            next_snapshot = t + snapshot_interval_s
            yield BookSnapshot(
                symbol,
                t,
                tuple((price_of(lv), sz) for lv, sz in bids.items()),
                tuple((price_of(lv), sz) for lv, sz in asks.items()),
                asset_class,
                exchange,
            )
        else:
            yield BookDelta(
                symbol,
                t,
                levels(bid_changes, True),
                levels(ask_changes, False),
                asset_class,
                exchange,
            )


def merge_by_time(sources: Iterable[Iterator[Record]]) -> Iterator[Record]:
    """Merge time-ordered record streams; ties go to the earlier source (deterministic)."""
    heap: list[tuple[float, int, Record, Iterator[Record]]] = []
    for index, source in enumerate(sources):
        first = next(source, None)
        if first is not None:
            heap.append((first.timestamp, index, first, source))
    heapq.heapify(heap)
    while heap:
        _, index, record, source = heap[0]
        yield record
        following = next(source, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following.timestamp, index, following, source))


class MarketSimulator:
    """Ticks, trades and books for many symbols, merged in time order.

    >>> sim = MarketSimulator(make_symbols(3, ("crypto", "equity")), seed=7)
    >>> records = list(itertools.islice(sim.records(), 1000))

    ``paths`` holds each symbol's ``PricePath``: the sentiment mocks read the future from it
    (``TwitterSentiment.for_market(sim)``). ``records()`` can be iterated once per simulator;
    a new simulator with the same seed replays the same sequence.
    """

    def __init__(
        self,
        symbols: Sequence[SymbolSpec] | int = 1,
        config: FeedConfig | None = None,
        *,
        seed: int = 0,
    ) -> None:
        specs = make_symbols(symbols, seed=seed) if isinstance(symbols, int) else list(symbols)
        if not specs:
            raise ValueError("no symbols to simulate")
        names = [s.symbol for s in specs]
        if len(set(names)) != len(names):
            raise ValueError("symbols must be unique")
        self.config = config or FeedConfig()
        self.seed = seed
        self.symbols = specs
        c = self.config
        # A path needs a step rate even when ticks are off: trades and books still read it.
        path_rate = c.tick_rate_hz or max(c.trade_rate_hz, c.book_rate_hz, 1.0)
        self.paths: dict[str, PricePath] = {
            s.symbol: PricePath(
                s,
                seed=seed,
                start_s=c.start_s,
                rate_hz=path_rate,
                regimes=c.regimes,
                jump_rate_hz=c.jump_rate_hz,
                jump_sigma=c.jump_sigma,
            )
            for s in specs
        }
        self._started = False

    def keyword_paths(self) -> dict[str, PricePath]:
        """Sentiment keyword -> the price path it follows (``BTC`` -> ``BTCUSDT``'s)."""
        return {s.keyword: self.paths[s.symbol] for s in self.symbols}

    def sources(self) -> list[Iterator[Record]]:
        """One time-ordered generator per symbol and kind, in a fixed order."""
        c = self.config
        factor = c.regimes.volatility_factor
        out: list[Iterator[Record]] = []
        for spec in self.symbols:
            path = self.paths[spec.symbol]
            if c.tick_rate_hz > 0:
                out.append(tick_records(path, factor, c.exchange))
            if c.trade_rate_hz > 0:
                out.append(
                    trade_records(
                        path,
                        c.trade_rate_hz,
                        seed=self.seed,
                        start_s=c.start_s,
                        factor=factor,
                        exchange=c.exchange,
                    )
                )
            if c.book_rate_hz > 0:
                out.append(
                    book_records(
                        path,
                        c.book_rate_hz,
                        seed=self.seed,
                        start_s=c.start_s,
                        depth=c.book_depth,
                        snapshot_interval_s=c.snapshot_interval_s,
                        factor=factor,
                        exchange=c.exchange,
                    )
                )
        return out

    def records(self, *, extra: Iterable[Iterator[Record]] = ()) -> Iterator[Record]:
        """Every symbol's records, and ``extra`` time-ordered streams (sentiment), in time order."""
        if self._started:
            raise RuntimeError("records() was already iterated; make a new MarketSimulator")
        self._started = True
        paths = list(self.paths.values())
        for count, record in enumerate(merge_by_time([*self.sources(), *extra]), start=1):
            yield record
            if count % _RELEASE_EVERY == 0:
                now = record.timestamp
                for path in paths:
                    path.release(now)
