"""SignalGenerator: a signal per tick, delayed labels learned once, no look-ahead."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from data_feeds.errors import InvalidMessage
from data_feeds.records import BUY, HOLD, SELL, Sentiment, Signal, Tick, Trade
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.signals.serving import FROZEN, SERVING_MODES

T0 = 1_700_000_000.0


def random_walk(n: int, seed: int, symbol: str = "BTCUSDT", dt_s: float = 1.0) -> list[Tick]:
    rng = random.Random(seed)
    price = 100.0
    out = []
    for i in range(n):
        price *= math.exp(rng.gauss(0.0, 0.001))
        out.append(Tick(symbol, price, rng.uniform(0.1, 2.0), T0 + i * dt_s))
    return out


def run(gen: SignalGenerator, records: list[Tick | Sentiment | Trade]) -> list[Signal]:
    out = []
    for i, rec in enumerate(records):
        sig = gen.process(rec, f"{i + 1}-0", f"crypto_price:{getattr(rec, 'symbol', 'x')}")
        if sig is not None:
            out.append(sig)
    return out


def test_one_signal_per_tick_carrying_ids_and_version() -> None:
    """Every price tick yields one signal whose id derives from the input entry id."""
    gen = SignalGenerator(model_version="v7", horizon_s=5.0)
    ticks = random_walk(50, seed=1)
    signals = run(gen, list(ticks))
    assert len(signals) == 50
    first = signals[0]
    assert first.entry_id == "1-0"
    assert first.signal_id == "crypto_price:BTCUSDT/1-0"
    assert first.model_version == "v7"
    assert first.action in (BUY, SELL, HOLD)
    assert 0.0 <= first.probability <= 1.0
    assert first.price == ticks[0].price


def test_other_records_update_state_without_a_signal() -> None:
    """Trades and sentiment feed indicators but emit no signal."""
    gen = SignalGenerator()
    assert gen.process(Trade("BTCUSDT", 100.0, 1.0, "buy", T0)) is None
    assert gen.process(Sentiment("BTC", 0.5, T0)) is None
    assert gen.symbols == ["BTCUSDT"]


def test_each_prediction_is_learned_exactly_once_after_its_horizon() -> None:
    """A prediction is learned only once horizon_s of event time has passed, and only once."""
    gen = SignalGenerator(horizon_s=10.0)
    ticks = random_walk(100, seed=2)
    run(gen, list(ticks[:10]))
    assert gen.learned == 0  # t = 0..9: nothing has matured yet
    run(gen, [ticks[10]])
    assert gen.learned == 1  # t = 10 matures the prediction made at t = 0
    run(gen, list(ticks[11:]))
    assert gen.learned + gen.unlabelled == 90
    assert gen.pending("BTCUSDT") == 10
    assert gen.scorecard.n == gen.learned


class _CountingModel:
    """A model that predicts a fixed probability and counts what it is taught."""

    def __init__(self) -> None:
        self.taught = 0

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        return {False: 0.2, True: 0.8}

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.taught += 1


def test_frozen_serving_scores_matured_outcomes_but_never_learns() -> None:
    """``frozen``: predictions are made, parked and scored when they mature; learn_one is never
    called. ``online`` (the default) learns each of the same outcomes."""
    ticks = random_walk(100, seed=2)
    frozen_model, online_model = _CountingModel(), _CountingModel()
    frozen = SignalGenerator(frozen_model, horizon_s=10.0, serving=FROZEN)
    online = SignalGenerator(online_model, horizon_s=10.0)
    assert [s.probability for s in run(frozen, list(ticks))] == [0.8] * 100
    run(online, list(ticks))
    assert frozen_model.taught == 0
    assert online_model.taught == online.learned == frozen.learned == 90
    assert frozen.scorecard.n == 90 and frozen.scorecard.buy_n == 90
    assert len(frozen.recent_errors) == 90
    with pytest.raises(ValueError, match="serving mode"):
        SignalGenerator(serving="sometimes")


@pytest.mark.parametrize("dt_s", [0.4, 1.0, 2.5])
def test_online_learns_the_first_prediction_of_each_slot_and_frozen_keeps_no_features(
    dt_s: float,
) -> None:
    """With a 1 s learning interval, online learns exactly the matured predictions that were
    the first of their second (all of them when ticks are further apart) and scores every
    one; the others wait without their features. Frozen parks none with features."""
    ticks = random_walk(200, seed=5, dt_s=dt_s)
    model = _CountingModel()
    online = SignalGenerator(model, horizon_s=10.0, learn_interval_s=1.0)
    frozen = SignalGenerator(_CountingModel(), horizon_s=10.0, serving=FROZEN,
                             learn_interval_s=1.0)  # fmt: skip
    run(online, list(ticks))
    run(frozen, list(ticks))
    firsts = [i == 0 or math.floor(t.timestamp) != math.floor(ticks[i - 1].timestamp)
              for i, t in enumerate(ticks)]  # fmt: skip
    matured = 200 - online.pending("BTCUSDT")
    assert online.learned == frozen.learned == matured  # every outcome scored
    assert model.taught == sum(firsts[:matured])
    assert (model.taught < matured) == (dt_s < 1.0)  # a tick a second or less: every one
    buffer = online.symbol_state("BTCUSDT").outcomes  # type: ignore[union-attr]
    assert len(buffer.features()) == 22 * sum(firsts[matured:])
    assert len(frozen.symbol_state("BTCUSDT").outcomes.features()) == 0  # type: ignore[union-attr]


def test_a_generator_pickled_without_a_serving_mode_learns_online() -> None:
    """A checkpointed generator from before serving modes existed restores as ``online``."""
    gen = SignalGenerator()
    del gen.serving
    restored = pickle.loads(pickle.dumps(gen))
    assert restored.serving == "online"


def test_dead_band_moves_are_not_learned() -> None:
    """Moves inside the dead band are counted as unlabelled and never learned."""
    gen = SignalGenerator(horizon_s=1.0, dead_band_bps=1e4)  # a 100% dead band
    run(gen, list(random_walk(200, seed=3)))
    assert gen.learned == 0
    assert gen.unlabelled == 199


def test_pending_buffer_is_bounded() -> None:
    """With a horizon longer than the stream, the per-symbol buffer keeps at most max_pending."""
    gen = SignalGenerator(horizon_s=1e6, max_pending=25)
    run(gen, list(random_walk(100, seed=4)))
    assert gen.pending("BTCUSDT") == 25


def test_margin_sets_the_actions() -> None:
    """Probability above 0.5+margin is BUY, below 0.5-margin is SELL, otherwise HOLD."""
    gen = SignalGenerator(margin=0.49, horizon_s=1.0)
    signals = run(gen, list(random_walk(500, seed=5)))
    for s in signals:
        expected = BUY if s.probability > 0.99 else SELL if s.probability < 0.01 else HOLD
        assert s.action == expected
    assert any(s.action == HOLD for s in signals)


@pytest.mark.parametrize("serving", SERVING_MODES)
def test_no_look_ahead_on_a_random_walk(serving: str) -> None:
    """On a pure random walk the live BUY/SELL hit rate stays within 50% +- 2% over 50k ticks,
    in either serving mode (the scorecard counts every matured BUY / SELL and its hit). The
    model served was first trained online on an independent walk: a fresh model frozen would
    predict exactly 0.5 (all HOLD)."""
    trainer = SignalGenerator(horizon_s=5.0)
    run(trainer, list(random_walk(20_000, seed=60)))
    gen = SignalGenerator(trainer.model, horizon_s=5.0, margin=0.0, serving=serving)
    run(gen, list(random_walk(50_000, seed=6)))  # every tick a BUY or a SELL
    card = gen.scorecard
    assert card.buy_n + card.sell_n > 10_000
    assert card.hit_rate is not None
    assert abs(card.hit_rate - 0.5) <= 0.02


def planted_sentiment(n: int, seed: int, horizon_s: float) -> list[Tick | Sentiment]:
    """Sentiment for BTC at t leans towards the sign of the return over (t, t + horizon]."""
    ticks = random_walk(n + int(horizon_s) + 1, seed=seed)
    rng = random.Random(seed + 1)
    out: list[Tick | Sentiment] = []
    lead = int(horizon_s)
    for i in range(n):
        future = math.log(ticks[i + lead].price / ticks[i].price)
        score = max(-1.0, min(1.0, math.tanh(future * 400.0) * 0.8 + rng.gauss(0.0, 0.3)))
        out.append(Sentiment("BTC", score, ticks[i].timestamp, "twitter"))
        out.append(ticks[i])
    return out


def test_learns_a_planted_effect() -> None:
    """With sentiment that leads returns, the live hit rate after warm-up exceeds 55%."""
    gen = SignalGenerator(horizon_s=5.0)
    records = planted_sentiment(20_000, seed=7, horizon_s=5.0)
    run(gen, records[:4_000])  # warm-up
    before = (
        gen.scorecard.buy_hits + gen.scorecard.sell_hits,
        gen.scorecard.buy_n + gen.scorecard.sell_n,
    )
    run(gen, records[4_000:])
    card = gen.scorecard
    hits = card.buy_hits + card.sell_hits - before[0]
    acted = card.buy_n + card.sell_n - before[1]
    assert acted > 5_000
    assert hits / acted > 0.55


def test_pickle_round_trip_continues_bit_identically() -> None:
    """A pickled and restored generator emits exactly the same signals as the original."""
    records = planted_sentiment(3_000, seed=8, horizon_s=5.0)
    gen = SignalGenerator(horizon_s=5.0)
    run(gen, records[:2_000])
    clone = pickle.loads(pickle.dumps(gen))
    a = run(gen, records[2_000:])
    b = run(clone, records[2_000:])
    assert a == b
    assert gen.learned == clone.learned
    assert gen.scorecard.as_dict() == clone.scorecard.as_dict()


def test_non_finite_features_never_reach_the_model() -> None:
    """A tick that makes a feature non-finite is counted and the model stays finite."""
    gen = SignalGenerator(horizon_s=1.0)
    ticks = random_walk(300, seed=9)
    run(gen, list(ticks[:200]))
    before = gen.nonfinite_features
    run(gen, [Tick("BTCUSDT", ticks[200].price, math.inf, ticks[200].timestamp)])
    assert gen.nonfinite_features == before + 1
    run(gen, list(ticks[201:]))
    weights = gen.model["LogisticRegression"].weights
    assert weights and all(math.isfinite(w) for w in weights.values())


def test_swap_model_keeps_scores_per_version() -> None:
    """After a swap new signals carry the new version; old predictions score the old one."""
    gen = SignalGenerator(model_version="v1", horizon_s=5.0)
    ticks = random_walk(100, seed=10)
    run(gen, list(ticks[:50]))
    gen.swap_model(build_model(), "v2")
    signals = run(gen, list(ticks[50:]))
    assert {s.model_version for s in signals} == {"v2"}
    assert gen.scorecards["v1"].n == 50  # all of v1's predictions matured, scored as v1's
    assert gen.scorecards["v2"].n == 45  # v2's last 5 (t = 95..99) are still pending


@pytest.mark.parametrize("price", [math.nan, math.inf, 0.0, -1.0])
def test_bad_prices_are_refused_before_any_state_changes(price: float) -> None:
    """A tick with a non-finite or non-positive price raises InvalidMessage and changes nothing."""
    gen = SignalGenerator()
    with pytest.raises(InvalidMessage):
        gen.process(Tick("BTCUSDT", price, 1.0, T0))
    assert gen.symbols == []


@pytest.mark.parametrize(
    "name", ["default", "tree.HoeffdingTreeClassifier", "river.naive_bayes.GaussianNB"]
)
def test_any_river_classifier_by_dotted_name(name: str) -> None:
    """Models are chosen by dotted name and run through the same generator."""
    gen = SignalGenerator(build_model(name), horizon_s=2.0)
    assert len(run(gen, list(random_walk(100, seed=11)))) == 100
    assert gen.learned > 0


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("linear_model.NoSuchModel", None),
        ("preprocessing.StandardScaler", None),
        ("tree.HoeffdingTreeClassifier", {"no_such_param": 1}),
    ],
)
def test_bad_model_names_are_clear_errors(name: str, params: dict[str, int] | None) -> None:
    """Unknown classes, non-classifiers and bad parameters raise ValueError naming the model."""
    with pytest.raises(ValueError, match="model"):
        build_model(name, params)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": 0.51},
        {"margin": -0.1},
        {"horizon_s": 0.0},
        {"max_pending": 0},
        {"dead_band_bps": math.nan},
        {"max_symbols": 0},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, float]) -> None:
    """Out-of-range settings raise ValueError at construction."""
    with pytest.raises(ValueError):
        SignalGenerator(**kwargs)  # type: ignore[arg-type]


def test_past_max_symbols_the_least_recently_seen_symbol_is_forgotten() -> None:
    """An active symbol keeps its state however early it was first seen."""
    generator = SignalGenerator(horizon_s=5.0, max_symbols=2)
    for i, symbol in enumerate(["AAAUSDT", "BBBUSDT", "AAAUSDT", "CCCUSDT"]):
        generator.process(Tick(symbol, 100.0, 1.0, 1_700_000_000.0 + i))
    assert generator.symbols == ["AAAUSDT", "CCCUSDT"]
    indicators = generator.indicators("AAAUSDT")
    assert indicators is not None and indicators.ticks == 2
