#!/usr/bin/env python3
"""Issue 8: bh-bench-ema replicated for NautilusTrader's BacktestEngine.

The strategy below is a line-by-line port of strategies/bench-ema/src/lib.rs
(read its header for the algorithm): integer EMAs on trade prices in ticks,
price << 16, ``ema += (x - ema) >> shift`` (Python's ``>>`` floors exactly like
Rust's arithmetic shift on i64), a crossover taker with MARKET IOC orders and
a cooldown, and a one-level POST-ONLY quoter that requotes on a move of
``requote_ticks``. Positions are tracked in lots from fill events.

Data: the Bulkhead CSV written by ``bulkhead gen-data`` is read line by line and
turned into ``QuoteTick`` / ``TradeTick`` objects with ``from_raw`` (exact
fixed-point values, no floats), streamed to the engine in chunks through
``BacktestEngine.add_data_iterator`` so memory stays bounded like Bulkhead's
streaming reader.

Venue: BINANCE, NETTING, MARGIN account, L1_MBP book, CryptoPerpetual
BTCUSDT-PERP.BINANCE with tick 0.1 / size increment 0.001 and maker -1 bp /
taker 5 bp (Bulkhead: maker_ppm -100, taker_ppm 500). Risk engine on, with
rate limits raised so they never bind (Bulkhead runs with a permissive policy).

Prints one JSON object: events, wall_s (engine.run including CSV parsing and
tick construction), load_s (time spent inside the data generator),
run_s = wall_s - load_s, events/s for both, peak RSS (ru_maxrss), orders,
fills, final position.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from decimal import Decimal

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, RiskEngineConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AccountType, AggressorSide, BookType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TradeId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import FIXED_PRECISION, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

PRICE_PREC = 1  # tick 0.1
SIZE_PREC = 3  # lot 0.001
RAW_PER_TICK = 10 ** (FIXED_PRECISION - PRICE_PREC)
RAW_PER_LOT = 10 ** (FIXED_PRECISION - SIZE_PREC)
EMA_SHIFT = 16
MAX_PRICE = 1 << 40
SYMBOL = "BTC-USDT-PERP"  # symbol in the Bulkhead CSV


class BenchEmaConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    fast_shift: int = 4
    slow_shift: int = 7
    warmup_trades: int = 128
    take_lots: int = 1
    quote_lots: int = 1
    quote_offset_ticks: int = 1
    requote_ticks: int = 3
    max_position_lots: int = 5
    cooldown_ns: int = 500_000_000


class BenchEma(Strategy):
    """Port of bh-bench-ema (see strategies/bench-ema/src/lib.rs)."""

    def __init__(self, config: BenchEmaConfig) -> None:
        super().__init__(config)
        c = config
        self.iid = c.instrument_id
        self.fast_shift = c.fast_shift
        self.slow_shift = c.slow_shift
        self.warmup = c.warmup_trades
        self.take_lots = c.take_lots
        self.quote_lots = c.quote_lots
        self.offset = c.quote_offset_ticks
        self.requote = c.requote_ticks
        self.max_pos = c.max_position_lots
        self.cooldown = c.cooldown_ns
        self.fast = 0
        self.slow = 0
        self.trades = 0
        self.regime = 0
        self.last_take_ns: int | None = None
        self.position = 0
        # resting quote per side: [bid, ask] = (order, price in ticks) or None
        self.quotes: list = [None, None]
        self.takes = 0
        self.quotes_sent = 0
        self.cancels = 0
        self.fills = 0
        self.take_qty = Quantity.from_raw(c.take_lots * RAW_PER_LOT, SIZE_PREC)
        self.quote_qty = Quantity.from_raw(c.quote_lots * RAW_PER_LOT, SIZE_PREC)

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.iid)
        self.subscribe_trade_ticks(self.iid)

    # -- taker ---------------------------------------------------------------
    def on_trade_tick(self, tick: TradeTick) -> None:
        price = tick.price.raw // RAW_PER_TICK
        if price <= 0 or price >= MAX_PRICE:
            return
        x = price << EMA_SHIFT
        if self.trades == 0:
            self.fast = x
            self.slow = x
        else:
            self.fast += (x - self.fast) >> self.fast_shift
            self.slow += (x - self.slow) >> self.slow_shift
        self.trades += 1
        if self.trades < self.warmup:
            return
        sign = (self.fast > self.slow) - (self.fast < self.slow)
        if sign == 0 or sign == self.regime:
            return
        prev = self.regime
        self.regime = sign
        if prev == 0:
            return
        now = tick.ts_event
        if self.last_take_ns is not None and now < self.last_take_ns + self.cooldown:
            return
        if abs(self.position + sign * self.take_lots) > self.max_pos:
            return
        self.last_take_ns = now
        side = OrderSide.BUY if sign > 0 else OrderSide.SELL
        order = self.order_factory.market(self.iid, side, self.take_qty, time_in_force=TimeInForce.IOC)
        self.submit_order(order)
        self.takes += 1

    # -- quoter --------------------------------------------------------------
    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid_px = tick.bid_price.raw // RAW_PER_TICK
        ask_px = tick.ask_price.raw // RAW_PER_TICK
        if bid_px <= 0 or ask_px <= bid_px:
            return
        bid = bid_px - self.offset
        want_bid = bid if (self.position + self.quote_lots <= self.max_pos and bid > 0) else None
        want_ask = ask_px + self.offset if self.position - self.quote_lots >= -self.max_pos else None
        self._requote_side(0, want_bid)
        self._requote_side(1, want_ask)

    def _requote_side(self, i: int, want: int | None) -> None:
        q = self.quotes[i]
        if q is not None:
            if want is not None and abs(want - q[1]) < self.requote:
                return
            order = q[0]
            if order.is_open:  # Bulkhead: cancel of an order no longer open is a no-op (UnknownOrder)
                self.cancel_order(order)
            self.cancels += 1
            self.quotes[i] = None
        if want is None:
            return
        side = OrderSide.BUY if i == 0 else OrderSide.SELL
        order = self.order_factory.limit(
            self.iid,
            side,
            self.quote_qty,
            Price.from_raw(want * RAW_PER_TICK, PRICE_PREC),
            post_only=True,
        )
        self.submit_order(order)
        self.quotes_sent += 1
        self.quotes[i] = (order, want)

    # -- order events --------------------------------------------------------
    def _forget(self, client_order_id) -> None:
        for i in (0, 1):
            q = self.quotes[i]
            if q is not None and q[0].client_order_id == client_order_id:
                self.quotes[i] = None

    def on_order_filled(self, event) -> None:
        self.fills += 1
        lots = event.last_qty.raw // RAW_PER_LOT
        self.position += lots if event.order_side == OrderSide.BUY else -lots
        order = self.cache.order(event.client_order_id)
        if order is not None and order.is_closed:
            self._forget(event.client_order_id)

    def on_order_canceled(self, event) -> None:
        self._forget(event.client_order_id)

    def on_order_rejected(self, event) -> None:
        self._forget(event.client_order_id)

    def on_order_denied(self, event) -> None:
        self._forget(event.client_order_id)


def units(s: str, dec: int) -> int:
    """Exact decimal string -> integer units of 10^-dec (no floats)."""
    i, _, f = s.partition(".")
    if len(f) > dec:
        raise ValueError(f"{s} has more than {dec} decimals")
    return int(i) * 10**dec + (int(f.ljust(dec, "0")) if f else 0)


class Loader:
    """Streams the Bulkhead CSV as chunks of Nautilus ticks, timing itself."""

    def __init__(self, path: str, iid: InstrumentId, max_events: int, chunk: int) -> None:
        self.path, self.iid, self.max_events, self.chunk = path, iid, max_events, chunk
        self.seconds = 0.0
        self.events = 0
        self.trades = 0
        self.quotes = 0

    def chunks(self):
        iid = self.iid
        q_from_raw = QuoteTick.from_raw
        t_from_raw = TradeTick.from_raw
        buyer, seller = AggressorSide.BUYER, AggressorSide.SELLER
        t0 = time.perf_counter()
        out = []
        with open(self.path) as f:
            for line in f:
                if self.events >= self.max_events:
                    break
                if not line or line[0] in "#t\n":  # comment, header (ts_ns,...), blank
                    continue
                p = line.rstrip("\n").split(",")
                if p[2] != SYMBOL:
                    raise ValueError(f"unexpected symbol {p[2]}")
                ts = int(p[0])
                if p[1] == "Q":
                    out.append(
                        q_from_raw(
                            iid,
                            units(p[3], PRICE_PREC) * RAW_PER_TICK,
                            units(p[5], PRICE_PREC) * RAW_PER_TICK,
                            PRICE_PREC,
                            PRICE_PREC,
                            units(p[4], SIZE_PREC) * RAW_PER_LOT,
                            units(p[6], SIZE_PREC) * RAW_PER_LOT,
                            SIZE_PREC,
                            SIZE_PREC,
                            ts,
                            ts,
                        )
                    )
                    self.quotes += 1
                else:
                    out.append(
                        t_from_raw(
                            iid,
                            units(p[3], PRICE_PREC) * RAW_PER_TICK,
                            PRICE_PREC,
                            units(p[4], SIZE_PREC) * RAW_PER_LOT,
                            SIZE_PREC,
                            buyer if p[5] == "buy" else seller,
                            TradeId(str(self.events)),
                            ts,
                            ts,
                        )
                    )
                    self.trades += 1
                self.events += 1
                if len(out) >= self.chunk:
                    self.seconds += time.perf_counter() - t0
                    yield out
                    out = []
                    t0 = time.perf_counter()
        self.seconds += time.perf_counter() - t0
        if out:
            yield out


def instrument(venue: Venue) -> CryptoPerpetual:
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol("BTCUSDT-PERP"), venue),
        raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=PRICE_PREC,
        size_precision=SIZE_PREC,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.001"),
        ts_event=0,
        ts_init=0,
        lot_size=Quantity.from_str("0.001"),
        margin_init=Decimal("0.01"),
        margin_maint=Decimal("0.005"),
        maker_fee=Decimal("-0.0001"),
        taker_fee=Decimal("0.0005"),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--events", type=int, default=1 << 62, help="stop after this many events")
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument(
        "--trade-execution",
        choices=["on", "off"],
        default="off",
        help="Nautilus venue trade_execution (trades move the matching core's bid/ask by aggressor side)",
    )
    ap.add_argument("--config", default="", help="strategy parameters, 'key = value; key = value' (as bench-runner)")
    args = ap.parse_args()
    params = {}
    for item in args.config.split(";"):
        if item.strip():
            k, _, v = item.partition("=")
            params[k.strip()] = int(v.strip().replace("_", ""))
    params.pop("instrument", None)

    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BENCH-001",
            logging=LoggingConfig(log_level="ERROR"),
            risk_engine=RiskEngineConfig(
                max_order_submit_rate="1000000/00:00:01",
                max_order_modify_rate="1000000/00:00:01",
            ),
        )
    )
    venue = Venue("BINANCE")
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(1_000_000, USDT)],
        default_leverage=Decimal(10),
        book_type=BookType.L1_MBP,
        trade_execution=args.trade_execution == "on",
    )
    inst = instrument(venue)
    engine.add_instrument(inst)
    strat = BenchEma(BenchEmaConfig(instrument_id=inst.id, **params))
    engine.add_strategy(strat)
    loader = Loader(args.data, inst.id, args.events, args.chunk)
    engine.add_data_iterator("btcusdt", loader.chunks())

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)

    net = engine.portfolio.net_position(inst.id)
    run_s = wall - loader.seconds
    n = loader.events
    result = {
        "engine": "nautilus",
        "mode": "python",
        "nautilus_version": __import__("nautilus_trader").__version__,
        "trade_execution": args.trade_execution,
        "strategies": 1,
        "events": n,
        "trades": loader.trades,
        "quotes": loader.quotes,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "load_s": round(loader.seconds, 4),
        "run_s": round(run_s, 4),
        "events_per_s": round(n / wall, 1),
        "events_per_s_engine_only": round(n / run_s, 1) if run_s > 0 else None,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "orders": strat.takes + strat.quotes_sent,
        "takes": strat.takes,
        "quotes_sent": strat.quotes_sent,
        "cancels": strat.cancels,
        "fills": strat.fills,
        "position_lots": strat.position,
        "portfolio_net_position": str(net),
    }
    engine.dispose()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
