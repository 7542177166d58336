// The promotions engine of the server (src/retailcore/promotions/engine.py) mirrored for the screen, so
// that a sale rung up offline carries the discounts the server's check will compute (decision 0082).
// It is a copy on purpose, rule for rule and operation for operation: the conformance test
// (tests/unit/promotions/test_pricing_mirror.py) prices thousands of generated baskets with both and
// wants the same answer to the digit. Change engine.py and this file together.
//
// Arithmetic is Python's decimal module in its default context, not an approximation of it: exact
// decimals as BigInt coefficients, every +, -, x and / rounded to 28 significant digits half-even
// (a unit's value, left / quantity, is such a rounded quotient and the engine compares and sorts by
// it), quantize with the engine's own modes. Never a JavaScript number for money.

export const PRICING_VERSION = 1;
const PREC = 28;

// -- decimals --------------------------------------------------------------------------------------

const POW = [1n];
function pow10(n) {
  while (POW.length <= n) POW.push(POW[POW.length - 1] * 10n);
  return POW[n];
}
function digits(c) {
  return (c < 0n ? -c : c).toString().length;
}

/** A decimal: coefficient x 10^exponent. */
export class Dec {
  constructor(c, e) {
    this.c = c;
    this.e = e;
  }
  toString() {
    return plain(this);
  }
}

const ZERO = new Dec(0n, 0);
const HUNDRED = new Dec(100n, 0);

/** The exact value of a decimal string ("12.50", "-3", "1E+2"). */
export function dec(text) {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(String(text).trim());
  if (!m || (m[2] === "" && !m[3])) throw new Error(`not a decimal: ${text}`);
  const frac = m[3] || "";
  const c = BigInt((m[2] || "0") + frac);
  return new Dec(m[1] === "-" ? -c : c, Number(m[4] || 0) - frac.length);
}

function int(n) {
  return new Dec(BigInt(n), 0);
}

/** Rounded to the context's 28 significant digits, half-even (what every Python operation does). */
function fit(c, e) {
  const n = digits(c);
  if (n <= PREC) return new Dec(c, e);
  const k = n - PREC;
  const p = pow10(k);
  let q = c / p;
  const r = c % p;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice > p || (twice === p && (q % 2n !== 0n))) q += c < 0n ? -1n : 1n;
  if (digits(q) > PREC) return new Dec(q / 10n, e + k + 1);
  return new Dec(q, e + k);
}

export function add(a, b) {
  if (a.e === b.e) return fit(a.c + b.c, a.e);
  const e = Math.min(a.e, b.e);
  return fit(a.c * pow10(a.e - e) + b.c * pow10(b.e - e), e);
}

export function sub(a, b) {
  return add(a, new Dec(-b.c, b.e));
}

export function mul(a, b) {
  return fit(a.c * b.c, a.e + b.e);
}

export function div(a, b) {
  if (b.c === 0n) throw new Error("division by zero");
  if (a.c === 0n) return ZERO;
  const negative = (a.c < 0n) !== (b.c < 0n);
  const n = a.c < 0n ? -a.c : a.c;
  const d = b.c < 0n ? -b.c : b.c;
  const k = Math.max(0, PREC + 1 + digits(d) - digits(n)); // a quotient of at least PREC + 1 digits
  const num = n * pow10(k);
  const q = num / d;
  const sticky = num % d !== 0n;
  const j = digits(q) - PREC;
  const p = pow10(j);
  let head = q / p;
  const twice = (q % p) * 2n;
  if (twice > p || (twice === p && (sticky || head % 2n !== 0n))) head += 1n;
  let e = a.e - b.e - k + j;
  if (digits(head) > PREC) {
    head /= 10n;
    e += 1;
  }
  return new Dec(negative ? -head : head, e);
}

export function cmp(a, b) {
  const e = Math.min(a.e, b.e);
  const x = a.c * pow10(a.e - e);
  const y = b.c * pow10(b.e - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

const gt = (a, b) => cmp(a, b) > 0;
const lt = (a, b) => cmp(a, b) < 0;
const min = (a, b) => (lt(b, a) ? b : a);
const max = (a, b) => (gt(b, a) ? b : a);
const isZero = (a) => a.c === 0n;

/** To ``exponent`` by ``mode``: "half_up" (ties away from zero) or "down" (toward zero). */
export function quantize(a, exponent, mode) {
  if (a.e >= exponent) return new Dec(a.c * pow10(a.e - exponent), exponent);
  const p = pow10(exponent - a.e);
  let q = a.c / p;
  const r = a.c % p;
  if (mode === "half_up" && (r < 0n ? -r : r) * 2n >= p) q += a.c < 0n ? -1n : 1n;
  return new Dec(q, exponent);
}

/** int(): toward zero, as a Number (unit counts). */
function trunc(a) {
  if (a.e >= 0) return Number(a.c * pow10(a.e));
  return Number(a.c / pow10(-a.e));
}

function isInteger(a) {
  return a.e >= 0 || a.c % pow10(-a.e) === 0n;
}

function sum(values) {
  let total = ZERO;
  for (const v of values) total = add(total, v);
  return total;
}

/** The exact value as plain text ("0.50", "-12", "0.0000001"). */
export function plain(a) {
  const negative = a.c < 0n;
  let s = (negative ? -a.c : a.c).toString();
  if (a.e > 0) s += "0".repeat(a.e);
  else if (a.e < 0) {
    s = s.padStart(-a.e + 1, "0");
    s = `${s.slice(0, s.length + a.e)}.${s.slice(s.length + a.e)}`;
  }
  return (negative ? "-" : "") + s;
}

// -- times: naive local wall-clock times as sortable text ------------------------------------------

function dateKey(text) {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(text);
  if (!m) throw new Error(`not a local date and time: ${text}`);
  return `${m[1]}T${m[2]}:${m[3]}:${m[4] || "00"}.${(m[5] || "").padEnd(6, "0")}`;
}

function timeKey(text) {
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(text);
  if (!m) throw new Error(`not a time: ${text}`);
  return `${m[1]}:${m[2]}:${m[3] || "00"}.${(m[4] || "").padEnd(6, "0")}`;
}

/** 0 = Monday, as Python's weekday(). */
function weekday(key) {
  const day = new Date(Date.UTC(Number(key.slice(0, 4)), Number(key.slice(5, 7)) - 1, Number(key.slice(8, 10))));
  return (day.getUTCDay() + 6) % 7;
}

const ZONES = new Map();
/** The wall-clock time in ``timeZone`` of an instant (a Date or ISO text): what the server reads a
 * sale's ``sold_at`` as (``sold_at.astimezone(store zone)``, naive). */
export function localTime(instant, timeZone) {
  const date = instant instanceof Date ? instant : new Date(instant);
  let format = ZONES.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    ZONES.set(timeZone, format);
  }
  const part = {};
  for (const p of format.formatToParts(date)) part[p.type] = p.value;
  const ms = String(date.getUTCMilliseconds()).padStart(3, "0");
  return `${part.year}-${part.month}-${part.day}T${part.hour}:${part.minute}:${part.second}.${ms}000`;
}

function inWindow(window, moment) {
  const day = weekday(moment);
  const time = moment.slice(11);
  if (window.start < window.end) return window.days.has(day) && window.start <= time && time < window.end;
  if (window.days.has(day) && time >= window.start) return true;
  return window.days.has((day + 6) % 7) && time < window.end;
}

// -- rules -------------------------------------------------------------------------------------------

function whole(quantity) {
  return cmp(quantity, ZERO) > 0 ? trunc(quantity) : 0;
}

function asInt(value) {
  if (value === null || cmp(value, ZERO) <= 0 || !isInteger(value)) return 0;
  return trunc(value);
}

const opt = (text) => (text === null || text === undefined ? null : dec(text));

function clampPercent(percent) {
  return min(max(percent, ZERO), HUNDRED);
}

/** A catalogue promotion (pos/till.py TillPromotionRule) prepared for pricing, as engine._Rule. */
function prepare(p, rank) {
  const kind = p.kind;
  const products = new Set(p.target.product_ids);
  const categories = new Set(p.target.categories);
  let percent = opt(p.percent);
  if (kind === "buy_x_get_y" && percent === null) percent = HUNDRED;
  const amount = opt(p.amount);
  const price = opt(p.bundle_price);
  const components = new Map();
  for (const c of p.components) {
    components.set(c.product_id, (components.get(c.product_id) || 0) + asInt(dec(c.quantity)));
  }
  const tiers = p.tiers
    .map((t) => ({ threshold: dec(t.threshold), percent: opt(t.percent), amount: opt(t.amount) }))
    .sort((a, b) => cmp(b.threshold, a.threshold)); // stable: equal thresholds keep their order
  return {
    promotion: p,
    rank,
    kind,
    apply: KINDS[kind] || null,
    products,
    categories,
    everything: (!products.size && !categories.size) || ((kind === "percent_off" || kind === "amount_off") && p.scope === "order"),
    factor: percent === null ? null : div(clampPercent(percent), HUNDRED),
    amount: amount !== null && gt(amount, ZERO) ? amount : null,
    buy: asInt(opt(p.buy_quantity)),
    get: asInt(opt(p.get_quantity)),
    price: price !== null && cmp(price, ZERO) >= 0 ? price : null,
    components: components.size && [...components.values()].every(Boolean) ? components : new Map(),
    tiers,
    threshold: p.threshold === null || p.threshold === undefined ? ZERO : dec(p.threshold),
    startsAt: p.starts_at ? dateKey(p.starts_at) : null,
    endsAt: p.ends_at ? dateKey(p.ends_at) : null,
    windows: (p.windows || []).map((w) => ({ days: new Set(w.weekdays), start: timeKey(w.start), end: timeKey(w.end) })),
  };
}

function eligible(rule, basket, granted) {
  const p = rule.promotion;
  if (p.channels !== null && !p.channels.includes(basket.channel)) return false;
  if (p.store_ids !== null && !p.store_ids.includes(basket.store_id)) return false;
  if (p.customer_groups !== null && !p.customer_groups.includes(basket.customer_group)) return false;
  const moment = basket.moment;
  if (rule.startsAt !== null && moment < rule.startsAt) return false;
  if (rule.endsAt !== null && moment >= rule.endsAt) return false;
  if (rule.windows.length && !rule.windows.some((w) => inWindow(w, moment))) return false;
  return !(p.coupon_only && !granted.has(p.id));
}

function targeted(rule, lines) {
  const idx = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (rule.everything || rule.products.has(lines[i].product_id) || rule.categories.has(lines[i].category)) idx.push(i);
  }
  return idx;
}

// -- allocation ----------------------------------------------------------------------------------------

function roundShares(shares, total, q) {
  const floors = shares.map(([, e]) => quantize(e, q.e, "down"));
  const extra = trunc(div(sub(total, sum(floors)), q));
  if (extra > 0) {
    const diffs = floors.map((f, k) => sub(f, shares[k][1]));
    const order = shares.map((_, k) => k).sort((x, y) => cmp(diffs[x], diffs[y]) || x - y);
    for (const k of order.slice(0, extra)) floors[k] = add(floors[k], q);
  }
  const out = [];
  for (let k = 0; k < shares.length; k += 1) if (gt(floors[k], ZERO)) out.push([shares[k][0], floors[k]]);
  return out;
}

function spread(total, weights, q) {
  weights = weights.filter(([, w]) => gt(w, ZERO));
  if (cmp(total, ZERO) <= 0 || !weights.length) return [];
  const all = sum(weights.map(([, w]) => w));
  if (cmp(total, all) >= 0) {
    total = quantize(all, q.e, "down");
    if (cmp(total, ZERO) <= 0) return [];
  }
  return roundShares(weights.map(([i, w]) => [i, div(mul(total, w), all)]), total, q);
}

// -- the kinds -------------------------------------------------------------------------------------

const NONE = () => [[], ZERO];

function percentOff(rule, ctx, left) {
  const f = rule.factor;
  if (f === null) return NONE();
  const q = ctx.q;
  const idx = ctx.targeted(rule);
  if (rule.promotion.scope === "line") {
    const out = [];
    for (const i of idx) {
      const rest = left[i];
      if (gt(rest, ZERO)) {
        const off = min(rest, quantize(mul(rest, f), q.e, "half_up"));
        if (gt(off, ZERO)) out.push([i, off]);
      }
    }
    return [out, ZERO];
  }
  const base = sum(idx.map((i) => left[i]));
  return [spread(quantize(mul(base, f), q.e, "half_up"), idx.map((i) => [i, left[i]]), q), ZERO];
}

function amountOff(rule, ctx, left) {
  const amount = rule.amount;
  if (amount === null) return NONE();
  const q = ctx.q;
  const idx = ctx.targeted(rule);
  if (rule.promotion.scope === "line") {
    const out = [];
    for (const i of idx) {
      const rest = left[i];
      if (gt(rest, ZERO)) {
        const off = min(rest, quantize(mul(amount, ctx.lines[i].quantity), q.e, "half_up"));
        if (gt(off, ZERO)) out.push([i, off]);
      }
    }
    return [out, ZERO];
  }
  return [spread(quantize(amount, q.e, "half_up"), idx.map((i) => [i, left[i]]), q), ZERO];
}

function units(idx, ctx, left) {
  const runs = [];
  for (const i of idx) {
    const line = ctx.lines[i];
    const n = whole(line.quantity);
    if (n && gt(left[i], ZERO)) runs.push([div(left[i], line.quantity), i, n]);
  }
  return runs;
}

const byValueDown = (a, b) => cmp(b[0], a[0]) || a[1] - b[1]; // most expensive units first

function buyXGetY(rule, ctx, left) {
  const f = rule.factor;
  if (!rule.buy || !rule.get || f === null || isZero(f)) return NONE();
  const runs = units(ctx.targeted(rule), ctx, left);
  let free = Math.floor(runs.reduce((s, r) => s + r[2], 0) / (rule.buy + rule.get)) * rule.get;
  if (!free) return NONE();
  const q = ctx.q;
  const out = [];
  runs.sort((a, b) => cmp(a[0], b[0]) || a[1] - b[1] || a[2] - b[2]); // cheapest units first
  for (const [, i, n] of runs) {
    const take = Math.min(n, free);
    free -= take;
    const off = min(left[i], quantize(div(mul(mul(left[i], int(take)), f), ctx.lines[i].quantity), q.e, "half_up"));
    if (gt(off, ZERO)) out.push([i, off]);
    if (!free) break;
  }
  out.sort((a, b) => a[0] - b[0]);
  return [out, ZERO];
}

function mixAndMatch(rule, ctx, left) {
  const size = rule.buy;
  const price = rule.price;
  if (!size || price === null) return NONE();
  const runs = units(ctx.targeted(rule), ctx, left).sort(byValueDown);
  let groups = Math.floor(runs.reduce((s, r) => s + r[2], 0) / size);
  if (!groups) return NONE();
  const shares = new Map();
  const more = (i, amount) => shares.set(i, add(shares.has(i) ? shares.get(i) : ZERO, amount));
  let pos = 0;
  let [value, line, rest] = runs[0];
  while (groups) {
    if (rest >= size) { // whole groups from one line: all alike
      const m = Math.min(groups, Math.floor(rest / size));
      const d = sub(mul(value, int(size)), price);
      if (gt(d, ZERO)) more(line, mul(d, int(m)));
      groups -= m;
      rest -= m * size;
    } else { // one group across lines, most expensive first
      const parts = [];
      let need = size;
      while (need) {
        const take = Math.min(need, rest);
        parts.push([line, value, take]);
        need -= take;
        rest -= take;
        if (!rest && need) {
          pos += 1;
          [value, line, rest] = runs[pos];
        }
      }
      const all = sum(parts.map(([, v, t]) => mul(v, int(t))));
      const d = sub(all, price);
      if (gt(d, ZERO)) for (const [i, v, t] of parts) more(i, div(mul(mul(d, v), int(t)), all));
      groups -= 1;
    }
    if (!rest && groups) {
      pos += 1;
      [value, line, rest] = runs[pos];
    }
  }
  if (!shares.size) return NONE();
  const ordered = [...shares.entries()].sort((a, b) => a[0] - b[0]);
  const total = quantize(sum(ordered.map(([, e]) => e)), ctx.q.e, "half_up");
  return [roundShares(ordered, total, ctx.q).map(([i, off]) => [i, min(off, left[i])]), ZERO];
}

function bundlePrice(rule, ctx, left) {
  const { components, price } = rule;
  if (!components.size || price === null) return NONE();
  const runs = new Map([...components.keys()].map((p) => [p, []]));
  ctx.lines.forEach((line, i) => {
    if (runs.has(line.product_id)) {
      const n = whole(line.quantity);
      if (n && gt(left[i], ZERO)) runs.get(line.product_id).push([div(left[i], line.quantity), i, n]);
    }
  });
  let bundles = Infinity;
  for (const [p, qty] of components) {
    bundles = Math.min(bundles, Math.floor(runs.get(p).reduce((s, r) => s + r[2], 0) / qty));
  }
  if (!bundles) return NONE();
  const weights = new Map();
  for (const [p, qty] of components) {
    let need = bundles * qty;
    for (const [value, i, n] of [...runs.get(p)].sort(byValueDown)) {
      const take = Math.min(n, need);
      need -= take;
      weights.set(i, add(weights.has(i) ? weights.get(i) : ZERO, mul(value, int(take))));
      if (!need) break;
    }
  }
  const discount = sub(sum(weights.values()), mul(price, int(bundles)));
  if (cmp(discount, ZERO) <= 0) return NONE();
  const ordered = [...weights.entries()].sort((a, b) => a[0] - b[0]);
  return [spread(quantize(discount, ctx.q.e, "half_up"), ordered, ctx.q), ZERO];
}

function tieredSpend(rule, ctx, left) {
  const [idx, spent] = ctx.targetedAndSpent(rule);
  const tier = rule.tiers.find((t) => cmp(spent, t.threshold) >= 0);
  if (!tier) return NONE();
  const q = ctx.q;
  let total;
  if (tier.percent !== null) {
    const base = sum(idx.map((i) => left[i]));
    total = quantize(div(mul(base, clampPercent(tier.percent)), HUNDRED), q.e, "half_up");
  } else if (tier.amount !== null && gt(tier.amount, ZERO)) {
    total = quantize(tier.amount, q.e, "half_up");
  } else {
    return NONE();
  }
  return [spread(total, idx.map((i) => [i, left[i]]), q), ZERO];
}

function freeShipping(rule, ctx, left, ship) {
  if (cmp(ship, ZERO) <= 0) return NONE();
  const [idx, spent] = ctx.targetedAndSpent(rule);
  if (!idx.length || lt(spent, rule.threshold)) return NONE();
  return [[], ship];
}

const KINDS = {
  percent_off: percentOff,
  amount_off: amountOff,
  buy_x_get_y: buyXGetY,
  mix_and_match: mixAndMatch,
  bundle_price: bundlePrice,
  tiered_spend: tieredSpend,
  free_shipping: freeShipping,
};
export const KNOWN_KINDS = Object.keys(KINDS);

// -- stacking ------------------------------------------------------------------------------------------

function run(rules, ctx, start = null, applied = null, states = null) {
  let left;
  let ship;
  let taken;
  if (start === null) [left, ship, taken] = [[...ctx.amounts], ctx.shipping, ZERO];
  else [left, ship, taken] = [[...start[0]], start[1], start[2]];
  applied = applied === null ? [] : [...applied];
  for (const rule of rules) {
    if (states !== null) states.push([[...left], ship, taken, applied.length]);
    const [offs, shipOff] = rule.apply(rule, ctx, left, ship);
    if (!offs.length && isZero(shipOff)) continue;
    for (const [i, off] of offs) {
      left[i] = sub(left[i], off);
      taken = add(taken, off);
    }
    ship = sub(ship, shipOff);
    taken = add(taken, shipOff);
    applied.push([rule, offs, shipOff]);
  }
  if (states !== null) states.push([left, ship, taken, applied.length]);
  return [taken, applied];
}

function lead(applied) {
  return applied.reduce((m, [r]) => Math.min(m, r.rank), 2 ** 30);
}

function choose(rules, ctx) {
  const alone = new Map();
  for (const rule of rules) if (rule.promotion.stacking !== "stackable") alone.set(rule.rank, run([rule], ctx));
  rules = rules.filter((r) => r.promotion.stacking === "stackable" || gt(alone.get(r.rank)[0], ZERO));
  if (!rules.length) return [];
  const stackable = rules.filter((r) => r.promotion.stacking === "stackable");
  const bests = rules.filter((r) => r.promotion.stacking === "best");
  const options = [];
  if (bests.length) {
    // The stackable ones run once; each ``best`` starts from the state before the first stackable
    // promotion ranked after it, then the rest follow.
    const states = [];
    const [, base] = run(stackable, ctx, null, null, states);
    let chosen = null;
    for (const best of bests) {
      let k = 0;
      while (k < stackable.length && stackable[k].rank < best.rank) k += 1;
      const state = states[k];
      const [taken, applied] = run([best, ...stackable.slice(k)], ctx, state, base.slice(0, state[3]));
      if (chosen === null || gt(taken, chosen[0])) chosen = [taken, applied];
    }
    options.push([chosen[0], lead(chosen[1]), chosen[1]]);
  } else if (stackable.length) {
    const [taken, applied] = run(stackable, ctx);
    options.push([taken, lead(applied), applied]);
  }
  for (const rule of rules) {
    if (rule.promotion.stacking === "exclusive") {
      const [taken, applied] = alone.get(rule.rank);
      options.push([taken, rule.rank, applied]);
    }
  }
  let winner = options[0];
  for (const o of options.slice(1)) {
    const c = cmp(o[0], winner[0]);
    if (c > 0 || (c === 0 && o[1] < winner[1])) winner = o;
  }
  return gt(winner[0], ZERO) ? winner[2] : [];
}

// -- the book --------------------------------------------------------------------------------------

const textOrder = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** The catalogue's ``pricing`` (version, timezone, promotions) prepared once, as engine.PromotionBook:
 * ranked by priority (higher first), code, id, and indexed by product, category and "everywhere". A
 * promotion of a kind this file does not know is indexed by its target too: a basket it can reach
 * cannot be priced here (:func:`price` says which). */
export function book(pricing) {
  const known = pricing && pricing.version === PRICING_VERSION;
  const ordered = known
    ? [...pricing.promotions].sort((a, b) => b.priority - a.priority || textOrder(a.code, b.code) || textOrder(a.id, b.id))
    : [];
  const rules = ordered.map((p, rank) => prepare(p, rank));
  const everywhere = [];
  const byProduct = new Map();
  const byCategory = new Map();
  const put = (map, key, rule) => { if (!map.has(key)) map.set(key, []); map.get(key).push(rule); };
  for (const rule of rules) {
    if (rule.kind === "bundle_price") {
      for (const product of rule.components.keys()) put(byProduct, product, rule);
    } else if (rule.apply === null && rule.components.size) {
      for (const product of rule.components.keys()) put(byProduct, product, rule);
      for (const product of rule.products) put(byProduct, product, rule);
      for (const category of rule.categories) put(byCategory, category, rule);
    } else if (rule.everything) {
      everywhere.push(rule);
    } else {
      for (const product of rule.products) put(byProduct, product, rule);
      for (const category of rule.categories) put(byCategory, category, rule);
    }
  }
  return { known, version: pricing?.version, timezone: pricing?.timezone || "UTC", rules, everywhere, byProduct, byCategory };
}

function candidates(b, lines) {
  const found = new Map(b.everywhere.map((r) => [r.rank, r]));
  for (const line of lines) {
    for (const r of b.byProduct.get(line.product_id) || []) found.set(r.rank, r);
    for (const r of b.byCategory.get(line.category) || []) found.set(r.rank, r);
  }
  return [...found.keys()].sort((x, y) => x - y).map((k) => found.get(k));
}

/**
 * Price a basket as engine.PromotionBook.price does. ``basket``: {lines: [{key, product_id, category,
 * quantity, unit_price, manual_discount?, floor_amount?}] (decimals as text), currency_decimals,
 * channel, local_time (naive wall-clock text), store_id?, customer_group?, coupons?: [[code,
 * promotion_id]], shipping?}. Returns the priced basket with Dec amounts, or {unknown: [codes]} when
 * the book's version is not this file's or a promotion of an unknown kind is eligible for the basket.
 */
export function price(b, basket) {
  if (!b.known) return { unknown: [`pricing version ${b.version}`] };
  const q = new Dec(1n, -basket.currency_decimals);
  const given = basket.lines.map((l) => ({
    key: String(l.key),
    product_id: l.product_id,
    category: l.category,
    quantity: dec(l.quantity),
    unit_price: dec(l.unit_price),
    manual_discount: dec(l.manual_discount ?? "0"),
    floor_amount: opt(l.floor_amount),
  }));
  const order = given.map((_, k) => k).sort((x, y) => textOrder(given[x].key, given[y].key) || x - y);
  const lines = order.map((k) => given[k]);
  const amounts = lines.map((l) => quantize(mul(l.quantity, l.unit_price), q.e, "half_up"));
  const shipping = dec(basket.shipping ?? "0");
  const targets = new Map();
  const ctx = {
    lines,
    amounts,
    q,
    shipping: gt(shipping, ZERO) ? shipping : ZERO,
    targetedAndSpent(rule) {
      let found = targets.get(rule.rank);
      if (!found) {
        const idx = targeted(rule, lines);
        found = [idx, sum(idx.map((i) => amounts[i]))];
        targets.set(rule.rank, found);
      }
      return found;
    },
    targeted(rule) {
      return this.targetedAndSpent(rule)[0];
    },
  };
  const granted = new Map();
  const coupons = [...(basket.coupons || [])].sort((x, y) => textOrder(x[0], y[0]) || textOrder(x[1], y[1]));
  for (const [code, id] of coupons) if (!granted.has(id)) granted.set(id, code);
  const facts = {
    channel: basket.channel,
    store_id: basket.store_id ?? null,
    customer_group: basket.customer_group ?? null,
    moment: dateKey(basket.local_time),
  };
  const rules = candidates(b, lines).filter((r) => eligible(r, facts, granted));
  const unknown = rules.filter((r) => r.apply === null).map((r) => r.promotion.code);
  if (unknown.length) return { unknown };
  const applied = rules.length ? choose(rules, ctx) : [];

  const perLine = lines.map(() => []);
  const left = [...amounts];
  const shippingDiscounts = [];
  const used = [];
  for (const [rule, offs, shipOff] of applied) {
    const p = rule.promotion;
    const coupon = granted.get(p.id);
    const [source, code] = coupon ? ["coupon", coupon] : ["promotion", p.code];
    for (const [i, off] of offs) {
      perLine[i].push({ source, code, amount: off, promotion_id: p.id });
      left[i] = sub(left[i], off);
    }
    if (!isZero(shipOff)) shippingDiscounts.push({ source, code, amount: shipOff, promotion_id: p.id });
    used.push(p.code);
  }
  const priced = new Array(lines.length);
  lines.forEach((line, i) => {
    const discounts = perLine[i];
    let rest = left[i];
    if (gt(line.manual_discount, ZERO) && gt(rest, ZERO)) {
      const off = min(rest, quantize(line.manual_discount, q.e, "half_up"));
      if (gt(off, ZERO)) {
        discounts.push({ source: "manual", code: "manual", amount: off, promotion_id: null });
        rest = sub(rest, off);
      }
    }
    priced[order[i]] = {
      key: line.key,
      quantity: line.quantity,
      unit_price: line.unit_price,
      amount: amounts[i],
      discounts,
      discount: sub(amounts[i], rest),
      net: rest,
      below_floor: line.floor_amount !== null && lt(rest, mul(line.floor_amount, line.quantity)),
    };
  });
  return { lines: priced, promotions: used, shipping: shipping, shipping_discounts: shippingDiscounts };
}

// -- the screen's use ------------------------------------------------------------------------------

const BOOKS = new WeakMap();

/**
 * The promotion and coupon discounts the server will find for a till sale, per sale line: what the
 * screen sends as each line's ``discounts`` ({source, code, amount}, amounts to the currency's
 * decimals). ``lines``: the sale's lines in order ({product_id, category, quantity, unit_price,
 * discount}); lines taking stock back (quantity not above 0) are not priced, as on the server.
 * ``soldAt``: the sale's instant. Null when the mirror cannot price this sale: a catalogue without
 * ``pricing`` (cached before it existed), another version of its shape, or a promotion of a kind this
 * file does not know that the sale could get; the screen then sends none and the server flags it.
 */
export function saleDiscounts(catalogue, lines, { soldAt, customerGroup = null } = {}) {
  if (!catalogue.pricing) return null;
  let b = BOOKS.get(catalogue.pricing);
  if (!b) {
    b = book(catalogue.pricing);
    BOOKS.set(catalogue.pricing, b);
  }
  const selling = [];
  lines.forEach((line, n) => {
    if (cmp(dec(line.quantity), ZERO) > 0) {
      selling.push({
        key: String(n), product_id: line.product_id, category: line.category,
        quantity: line.quantity, unit_price: line.unit_price, manual_discount: line.discount || "0",
      });
    }
  });
  const result = lines.map(() => []);
  if (!selling.length) return result;
  const priced = price(b, {
    lines: selling,
    currency_decimals: catalogue.minor_unit,
    channel: "pos",
    local_time: localTime(soldAt, b.timezone),
    store_id: catalogue.store_id,
    customer_group: customerGroup,
  });
  if (priced.unknown) return null;
  for (const line of priced.lines) {
    result[Number(line.key)] = line.discounts
      .filter((d) => d.source !== "manual")
      .map((d) => ({ source: d.source, code: d.code, amount: plain(quantize(d.amount, -catalogue.minor_unit, "half_up")) }));
  }
  return result;
}
