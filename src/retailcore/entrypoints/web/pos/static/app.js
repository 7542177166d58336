// The POS screen (docs/pos.md#the-pos-screen, decision 0079). Sells from the catalogue snapshot in
// IndexedDB; every sale is written to the IndexedDB queue with its client_uuid before anything else
// (the receipt shows only once that write committed); the sync loop (sync.js) sends the queue.
// Prices on the screen are the snapshot's price-list prices and manual discounts; promotions come at
// Pay from the server's quote, or offline from pricing.js, the mirror of the one pricing function
// (decision 0082); the server prices every sale again when it arrives (docs say what the screen computes).
import * as db from "./db.js";
import * as exchange from "./exchange.js";
import * as giftcards from "./giftcards.js";
import * as money from "./money.js";
import * as pricing from "./pricing.js";
import * as signout from "./signout.js";
import { Sync } from "./sync.js";

const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const pageUser = document.querySelector('meta[name="pos-user"]').content.replace(/^user:/, "");
const SYNC_EVERY_MS = 2000;
const SHOWN = 40;

const state = {
  token: null, terminal: null, session: null, catalogue: null,
  byBarcode: new Map(), bySku: new Map(), byId: new Map(), categories: [],
  cart: [], tenders: [], customer: null, discountLine: null, refundOrder: null, exchange: null, giftCards: [],
};
window.pos = { state, timings: [] };

// -- talking to the server ---------------------------------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${state.token?.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw problemError(response, data);
  return data;
}

function problemError(response, data) {
  const fields = (data?.errors || []).filter((e) => e.detail !== data.detail).map((e) => `${e.field}: ${e.detail}`).join("; ");
  const error = new Error(`${data?.detail || `HTTP ${response.status}`}${fields ? ` (${fields})` : ""}`);
  error.status = response.status;
  error.code = data?.code;
  return error;
}

async function screenPost(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw problemError(response, data);
  return data;
}

const sync = new Sync(api, () => showQueue());

// -- start -------------------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/pos/sw.js", { scope: "/pos" }).catch(() => {});
  }
  state.token = await db.get("meta", "token");
  state.terminal = await db.get("meta", "terminal");
  state.session = await db.get("meta", "session");
  const catalogue = await db.get("meta", "catalogue");
  if (catalogue) useCatalogue(catalogue);
  const expired = !state.token || state.token.user !== pageUser
    || (state.token.expires_at && Date.parse(state.token.expires_at) < Date.now() + 3600_000);
  if (expired && navigator.onLine) {
    try {
      await renewToken();
    } catch (error) {
      setup(`Could not get a till token: ${error.message}`);
      return;
    }
  }
  window.addEventListener("online", () => { showNet(); sync.run(); });
  window.addEventListener("offline", showNet);
  setInterval(() => { if (navigator.onLine) sync.run(); }, SYNC_EVERY_MS);
  showNet();
  await showQueue();
  if (!state.token) { setup("Offline and never signed in on this till: connect once to start."); return; }
  if (!state.terminal) { await chooseTerminal(); return; }
  if (navigator.onLine) {
    try {
      await loadCatalogue().catch(async (error) => {
        if (error.status !== 401) throw error;
        await renewToken(); // revoked elsewhere (an admin, a sign-out): the signed-in user gets a new one
        await loadCatalogue();
      });
      await checkSession();
    } catch (error) {
      if (!state.catalogue) { setup(`Could not load the catalogue: ${error.message}`); return; }
    }
  }
  if (!state.session) { await sessionStep(); return; }
  sell();
  sync.run();
}

async function renewToken() {
  state.token = await screenPost("/pos/till-token", {});
  await db.put("meta", state.token, "token");
}

function setup(message) {
  show("setup");
  $("setup-message").textContent = message || "";
}

async function chooseTerminal() {
  const page = await apiJson("/api/v1/pos/terminals?limit=100");
  setup("");
  const select = $("terminal");
  select.replaceChildren(...page.items.map((t) => option(t.id, `${t.code} · ${t.name}`)));
  $("terminal-step").hidden = false;
  $("session-step").hidden = true;
  $("choose-terminal").onclick = async () => {
    state.terminal = page.items.find((t) => t.id === select.value);
    await db.put("meta", state.terminal, "terminal");
    await loadCatalogue();
    await checkSession();
    if (state.session) sell(); else await sessionStep();
  };
}

async function loadCatalogue() {
  const catalogue = await apiJson(`/api/v1/pos/terminals/${state.terminal.id}/catalogue`);
  await db.put("meta", catalogue, "catalogue");
  useCatalogue(catalogue);
}

function useCatalogue(catalogue) {
  state.catalogue = catalogue;
  money.setPlaces(catalogue.minor_unit);
  state.byBarcode = new Map();
  state.bySku = new Map();
  state.byId = new Map();
  const categories = new Set();
  for (const product of catalogue.products) {
    product.units = money.parse(product.price);
    product.search = `${product.name} ${product.sku}`.toLowerCase();
    for (const code of product.barcodes) state.byBarcode.set(code, product);
    state.bySku.set(product.sku.toLowerCase(), product);
    state.byId.set(product.id, product);
    categories.add(product.category);
  }
  state.categories = [...categories].sort();
}

async function checkSession() {
  const page = await apiJson(`/api/v1/pos/sessions?terminal_id=${state.terminal.id}&state=open&limit=100`);
  const open = page.items.find((s) => !s.is_rescue) || null;
  state.session = open ? { id: open.id, number: open.number, store_id: open.store_id } : null;
  await db.put("meta", state.session, "session");
}

async function sessionStep(message) {
  setup(message || "");
  $("terminal-step").hidden = true;
  $("session-step").hidden = false;
  $("session-info").textContent = `Terminal ${state.terminal.code}: no open session.`;
  $("open-session").onclick = async () => {
    const float = money.parse($("float").value);
    if (float === null || float < 0) { $("setup-message").textContent = "The float is an amount."; return; }
    try {
      const opened = await apiJson("/api/v1/pos/sessions", {
        method: "POST", body: { terminal_id: state.terminal.id, opening_float: money.format(float) },
      });
      state.session = { id: opened.id, number: opened.number, store_id: opened.store_id };
      await db.put("meta", state.session, "session");
      sell();
    } catch (error) {
      $("setup-message").textContent = error.message;
    }
  };
}

// -- panels --------------------------------------------------------------------------------------

const PANELS = [
  "setup", "sell", "pay-panel", "receipt-panel", "refund-panel", "discount-panel", "cash-panel", "close-panel",
  "rejected-panel", "exchange-panel", "signout-panel", "gift-card-panel",
];
function show(id) {
  for (const panel of PANELS) $(panel).hidden = panel !== id;
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

function el(tag, text, attrs = {}) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = text;
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

function showNet() {
  const online = navigator.onLine;
  $("net").textContent = online ? "Online" : "Offline";
  $("net").className = online ? "pill ok" : "pill warn";
}

async function showQueue() {
  $("queue-count").textContent = String(await db.count("queue"));
  const shown = $("receipt").querySelector("[data-client-uuid]");
  if (shown) {
    const queued = await db.get("queue", shown.dataset.clientUuid);
    const status = $("receipt-status");
    if (!queued && status.dataset.state !== "sent") {
      status.dataset.state = "sent";
      status.textContent = "Sent to the server";
      showNumber(shown.dataset.clientUuid, status);
    } else if (queued) {
      status.textContent = "Queued on this till";
    }
  }
  const rejected = await db.count("rejected");
  $("rejected").hidden = rejected === 0;
  $("rejected-count").textContent = String(rejected);
  if (state.terminal) {
    $("where").textContent = `${state.terminal.code}${state.session ? ` · session ${state.session.number}` : ""}`;
  }
}

/** The order number the server gave the sale, once it has it (a refund looks it up by either). */
async function showNumber(clientUuid, status) {
  try {
    const order = await apiJson(`/api/v1/pos/receipts/${clientUuid}`);
    if (status.isConnected) status.textContent = `Sent to the server: receipt number ${order.number}`;
  } catch (error) {
    // the code on the receipt finds it as well
  }
}

// -- selling -------------------------------------------------------------------------------------

function sell() {
  show("sell");
  showQueue();
  renderCategories();
  renderResults([]);
  renderCart();
  const promotions = state.catalogue.promotions;
  $("promotions").textContent = promotions.length
    ? `Promotions in force (applied at Pay): ${promotions.map((p) => p.name).join(", ")}`
    : "";
  $("scan").focus();
}

function renderCategories() {
  const tiles = state.categories.map((category) => {
    const tile = el("button", category, { type: "button", class: "tile" });
    tile.onclick = () => renderResults(state.catalogue.products.filter((p) => p.category === category));
    return tile;
  });
  $("categories").replaceChildren(...tiles);
}

function renderResults(products) {
  const items = products.slice(0, SHOWN).map((product) => {
    const button = el("button", null, { type: "button", class: "product", "data-sku": product.sku });
    button.append(el("span", product.name), el("span", money.format(product.units), { class: "num" }));
    button.onclick = (event) => add(product, event.timeStamp);
    const item = el("li");
    item.append(button);
    return item;
  });
  if (products.length > SHOWN) items.push(el("li", `… ${products.length - SHOWN} more: refine the search`, { class: "muted" }));
  $("results").replaceChildren(...items);
}

function add(product, started = performance.now()) {
  forgetPromotions();
  const line = state.cart.find((l) => l.product.id === product.id && !l.discount);
  if (line) line.qty += 1;
  else state.cart.push({ product, qty: 1, discount: 0, override: null });
  $("sell-message").textContent = "";
  renderCart();
  timing("add", started);
}

/** How long the screen took to answer: from the input event (its timeStamp) until the frame after the
 * change was drawn. Kept in window.pos.timings (benchmarks/pos_screen.py reads them). */
function timing(what, started) {
  requestAnimationFrame(() => setTimeout(() => {
    window.pos.timings.push({ what, ms: performance.now() - started });
  }, 0));
}

/** The cart changed: the promotions quoted for it no longer hold (they are quoted again at Pay). */
function forgetPromotions() {
  for (const line of state.cart) line.promo = [];
}

function promoUnits(line) {
  return (line.promo || []).reduce((sum, d) => sum + money.parse(d.amount), 0);
}

function lineAmount(line) {
  return line.product.units * line.qty - promoUnits(line) - line.discount;
}

/** The screen's own tax estimate of a line (the server computes the taxes): included taxes are in
 * the amount; excluded ones are added to it. */
function lineTax(line) {
  const taxes = state.catalogue.taxes[line.product.tax_category] || [];
  const amount = lineAmount(line);
  let included = 0;
  let excluded = 0;
  for (const tax of taxes) {
    if (tax.kind !== "percent") continue;
    const rate = Math.round(Number(tax.rate_percent) * 10000); // percent x 10,000: an integer
    if (tax.price_included) included += rate;
    else excluded += money.share(amount, rate, 1_000_000);
  }
  const includedTax = included ? amount - money.share(amount, 1_000_000, 1_000_000 + included) : 0;
  return { tax: includedTax + excluded, gross: amount + excluded };
}

function totals() {
  let gross = 0;
  let tax = 0;
  for (const line of state.cart) {
    const t = lineTax(line);
    gross += t.gross;
    tax += t.tax;
  }
  return { gross, tax };
}

function renderCart() {
  const rows = state.cart.map((line, index) => {
    const row = el("tr");
    const name = el("td", line.product.name);
    for (const d of line.promo || []) name.append(el("div", `${d.code} −${d.amount}`, { class: "muted" }));
    if (line.discount) name.append(el("div", `discount −${money.format(line.discount)}${line.override ? ` (approved by ${line.override.by})` : ""}`, { class: "muted" }));
    const qty = el("td", null, { class: "qty" });
    const minus = el("button", "−", { type: "button", "aria-label": `One less ${line.product.name}` });
    const count = el("output", String(line.qty), { "aria-label": `Quantity of ${line.product.name}` });
    const plus = el("button", "+", { type: "button", "aria-label": `One more ${line.product.name}` });
    minus.onclick = () => { forgetPromotions(); line.qty -= 1; if (line.qty <= 0) state.cart.splice(index, 1); renderCart(); };
    plus.onclick = () => { forgetPromotions(); line.qty += 1; renderCart(); };
    qty.append(minus, count, plus);
    const actions = el("td");
    const discount = el("button", "Disc.", { type: "button", "aria-label": `Discount on ${line.product.name}` });
    discount.onclick = () => openDiscount(line);
    actions.append(discount);
    row.append(name, qty, el("td", money.format(lineAmount(line)), { class: "num" }), actions);
    return row;
  });
  $("cart-lines").replaceChildren(
    ...exchange.cartRows(state, el, renderCart), ...rows, ...giftcards.cartRows(state, el, renderCart),
  );
  const { tax } = totals();
  const difference = toPay();
  $("cart-total-label").textContent = difference < 0 ? "To pay back" : "Total";
  $("cart-total").textContent = money.format(Math.abs(difference));
  $("cart-tax").textContent = state.cart.length ? `of which tax about ${money.format(tax)} (the server computes it)` : "";
}

$("scan-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = $("scan").value.trim();
  $("scan").value = "";
  if (!code) return;
  const product = state.byBarcode.get(code) || state.bySku.get(code.toLowerCase());
  if (product) add(product, event.timeStamp);
  else $("sell-message").textContent = `No product with barcode ${code}`;
});

$("search").addEventListener("input", () => {
  const words = $("search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) { renderResults([]); return; }
  const found = [];
  for (const product of state.catalogue.products) {
    if (words.every((word) => product.search.includes(word))) found.push(product);
    if (found.length > SHOWN) break;
  }
  renderResults(found);
});

$("clear").onclick = () => { state.cart = []; state.customer = null; state.exchange = null; state.giftCards = []; $("customer-chosen").textContent = ""; renderCart(); };

$("find-customer").onclick = async () => {
  const q = $("customer").value.trim();
  if (!q) return;
  try {
    const page = await apiJson(`/api/v1/customers?q=${encodeURIComponent(q)}&limit=5`);
    state.customer = page.items[0] || null;
    $("customer-chosen").textContent = state.customer ? `Customer: ${state.customer.name} (${state.customer.code})` : "No such customer";
  } catch (error) {
    $("customer-chosen").textContent = navigator.onLine ? error.message : "Customer look-up needs the network";
  }
};

// -- discounts and the manager's override -----------------------------------------------------

function beyondLimit(line, discount) {
  const limit = state.catalogue.discount_limit;
  if (!limit) return false;
  const amount = line.product.units * line.qty;
  if (limit.max_amount !== null && discount > money.parse(limit.max_amount)) return true;
  return limit.max_percent !== null && discount * 100 > amount * Number(limit.max_percent);
}

function openDiscount(line) {
  state.discountLine = line;
  show("discount-panel");
  $("discount-line").textContent = `${line.qty} × ${line.product.name}: ${money.format(line.product.units * line.qty)}`;
  $("discount-amount").value = line.discount ? money.format(line.discount) : "";
  $("discount-message").textContent = "";
  $("override").hidden = true;
  const limit = state.catalogue.discount_limit;
  $("limit-text").textContent = limit ? [limit.max_percent && `${limit.max_percent} %`, limit.max_amount].filter(Boolean).join(" and ") : "";
  $("discount-amount").focus();
}

$("discount-amount").addEventListener("input", () => {
  const amount = money.parse($("discount-amount").value);
  $("override").hidden = !(amount && beyondLimit(state.discountLine, amount));
});

$("discount-apply").onclick = async () => {
  const line = state.discountLine;
  const amount = money.parse($("discount-amount").value || "0");
  if (amount === null || amount < 0 || amount > line.product.units * line.qty) {
    $("discount-message").textContent = "The discount is an amount up to the line's.";
    return;
  }
  let override = null;
  if (amount && beyondLimit(line, amount)) {
    $("override").hidden = false;
    const reason = $("override-reason").value.trim();
    if (!reason) { $("discount-message").textContent = "The manager gives a reason."; return; }
    if (!navigator.onLine) { $("discount-message").textContent = "A manager's override needs the network."; return; }
    try {
      const checked = await screenPost("/pos/manager-check", {
        username: $("manager").value, password: $("manager-password").value, store_id: state.catalogue.store_id,
      });
      override = { by: checked.by, reason };
    } catch (error) {
      $("discount-message").textContent = error.message;
      return;
    } finally {
      $("manager-password").value = "";
    }
  }
  forgetPromotions();
  line.discount = amount;
  line.override = override;
  sell();
};
$("discount-cancel").onclick = () => sell();

// -- paying --------------------------------------------------------------------------------------

function methodsOf(kinds) {
  return state.catalogue.payment_methods.filter((m) => kinds.includes(m.kind));
}

function kindOf(code) {
  return state.catalogue.payment_methods.find((m) => m.code === code)?.kind;
}

/** The new goods less what an exchange takes back: negative when the shop pays the difference back. */
function toPay() {
  return totals().gross + giftcards.value(state) - exchange.backValue(state);
}

function payingBack() {
  return toPay() < 0;
}

/** What changes hands: the customer's due (cash-rounded when paid in cash), or what an exchange pays
 * back (exact: the server never rounds what an exchange pays out). */
function due() {
  const owed = toPay();
  if (owed < 0) return -owed;
  const rounding = state.catalogue.cash_rounding;
  if (rounding && state.tenders.some((t) => kindOf(t.code) === "cash")) {
    return money.cashRounded(owed, money.parse(rounding.increment), rounding.mode);
  }
  return owed;
}

function paid() {
  return state.tenders.reduce((sum, t) => sum + t.amount, 0);
}

function renderPayment() {
  const owed = due();
  const left = Math.max(owed - paid(), 0);
  $("due-label").textContent = payingBack() ? "To pay back" : "Due";
  $("due").textContent = money.format(owed);
  $("paid").textContent = money.format(paid());
  $("left").textContent = money.format(left);
  $("change").textContent = money.format(Math.max(paid() - owed, 0));
  $("tender-amount").value = money.format(left);
  $("tenders").replaceChildren(...state.tenders.map((t, index) => {
    const item = el("li", `${t.code} ${money.format(t.amount)}${t.reference ? ` (${t.reference})` : ""} `);
    const remove = el("button", "Remove", { type: "button", "aria-label": `Remove ${t.code} ${money.format(t.amount)}` });
    remove.onclick = () => { state.tenders.splice(index, 1); renderPayment(); };
    item.append(remove);
    return item;
  }));
}

/** The promotions for the cart at the sale's moment (state.pricedAt, its sold_at): online, the one
 * pricing function's own quote (POST /api/v1/pricing/quote, at most QUOTE_WAIT_MS); offline or when the
 * quote fails, the mirror's (pricing.js), which the server's check agrees with. */
const QUOTE_WAIT_MS = 1500;
async function quotePromotions() {
  state.pricedAt = new Date().toISOString();
  mirrorPromotions();
  if (!navigator.onLine || !state.catalogue.promotions.some((p) => !p.coupon_only)) return;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), QUOTE_WAIT_MS);
  try {
    const response = await fetch("/api/v1/pricing/quote", {
      method: "POST",
      signal: abort.signal,
      headers: { Authorization: `Bearer ${state.token.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        channel: "pos",
        store_id: state.catalogue.store_id,
        currency: state.catalogue.currency,
        ...(state.customer ? { customer_id: state.customer.id } : {}),
        lines: state.cart.map((line) => ({
          product_id: line.product.id, quantity: String(line.qty), manual_discount: money.format(line.discount),
        })),
      }),
    });
    if (!response.ok) return;
    const quoted = await response.json();
    quoted.lines.forEach((q, index) => {
      state.cart[index].promo = q.discounts
        .filter((d) => d.source === "promotion")
        .map((d) => ({ source: d.source, code: d.code, amount: d.amount }));
    });
  } catch (error) {
    // offline or slow: the mirror's promotions stay
  } finally {
    clearTimeout(timer);
  }
}

/** The mirror's promotions for the cart; none when it cannot price it (a catalogue without rules or
 * with a kind it does not know, or a rule it cannot read: sold at the snapshot's prices, the server
 * flags the difference; a sale is never stopped by its promotions). */
function mirrorPromotions() {
  const lines = state.cart.map((line) => ({
    product_id: line.product.id, category: line.product.category, quantity: String(line.qty),
    unit_price: line.product.price, discount: money.format(line.discount),
  }));
  let found = null;
  try {
    found = pricing.saleDiscounts(state.catalogue, lines, {
      soldAt: state.pricedAt, customerGroup: state.customer?.customer_group ?? null,
    });
  } catch (error) {
    console.warn("the pricing mirror could not price this cart", error);
  }
  state.cart.forEach((line, n) => { line.promo = found ? found[n] : []; });
}

$("pay").onclick = async () => {
  if (!state.cart.length && !state.exchange && !state.giftCards.length) { $("sell-message").textContent = "The cart is empty."; return; }
  await quotePromotions();
  renderCart();
  state.tenders = [];
  $("tender-method").replaceChildren(...methodsOf(["cash", "card", "gift_card", "store_credit"]).map((m) => option(m.code, m.name)));
  $("pay-message").textContent = "";
  show("pay-panel");
  renderPayment();
};
$("pay-cancel").onclick = () => sell();

$("add-tender").onclick = () => {
  const code = $("tender-method").value;
  const amount = money.parse($("tender-amount").value);
  const reference = $("tender-ref").value.trim();
  const kind = kindOf(code);
  if (amount === null || amount <= 0) { $("pay-message").textContent = "The amount is positive."; return; }
  if (kind === "gift_card" && !reference) { $("pay-message").textContent = "A gift card needs its code in Reference."; return; }
  if (kind === "store_credit" && !state.customer) { $("pay-message").textContent = "Store credit needs a customer: find them first."; return; }
  if (giftcards.refusesTender(state, kind, amount, state.tenders, kindOf, totals().gross)) {
    $("pay-message").textContent = "A gift card never pays a gift card: gift card tenders pay the goods only.";
    return;
  }
  if (payingBack() && paid() + amount > due()) { $("pay-message").textContent = "Pay back exactly the difference."; return; }
  if (kind !== "cash" && paid() + amount > due()) { $("pay-message").textContent = "Only cash may exceed the total (change)."; return; }
  state.tenders.push({ code, amount, reference });
  $("tender-ref").value = "";
  $("pay-message").textContent = "";
  renderPayment();
};

$("complete").onclick = async (event) => {
  const started = event.timeStamp;
  const owed = due();
  if (paid() < owed) { $("pay-message").textContent = `Still to pay${payingBack() ? " back" : ""}: ${money.format(owed - paid())}`; return; }
  const customerId = exchange.customerId(state);
  const sale = {
    client_uuid: crypto.randomUUID(),
    sold_at: state.pricedAt || new Date().toISOString(), // the moment its promotions were priced for
    lines: [...exchange.refundLines(state), ...state.cart.map((line) => ({
      product_id: line.product.id,
      quantity: String(line.qty),
      unit_price: line.product.price,
      ...(line.promo?.length ? { discounts: line.promo } : {}),
      ...(line.discount ? { discount: money.format(line.discount) } : {}),
      ...(line.override ? { override: line.override } : {}),
    }))],
    payments: state.tenders.map((t) => ({
      payment_method_code: t.code, amount: money.format(t.amount), ...(t.reference ? { reference: t.reference } : {}),
    })),
    ...giftcards.saleField(state),
    ...(customerId ? { customer_id: customerId } : {}),
  };
  const receipt = {
    kind: state.exchange ? "exchange" : "sale",
    returned: exchange.receiptPart(state), paid_back: payingBack(),
    lines: [...state.cart.map((line) => ({
      name: line.product.name, qty: line.qty, amount: lineAmount(line), discount: line.discount + promoUnits(line),
    })), ...giftcards.receiptLines(state)],
    total: owed, tax: totals().tax, tenders: state.tenders.map((t) => ({ ...t })), change: paid() - owed,
    customer: state.customer?.name || null,
  };
  await enqueue(sale, receipt); // nothing shows before the sale is safely in IndexedDB
  state.cart = [];
  state.customer = null;
  state.exchange = null;
  state.giftCards = [];
  $("customer-chosen").textContent = "";
  timing("pay", started);
};

async function enqueue(sale, receipt) {
  const record = {
    sale, session_id: state.session.id, queued_at: Date.now(),
    receipt: { ...receipt, terminal: state.terminal.code, session: state.session.number, cashier: pageUser, at: sale.sold_at },
  };
  await db.write([["queue", "put", record], ["receipts", "put", record]]);
  showReceipt(record);
  await showQueue();
  if (navigator.onLine) sync.run();
}

// -- the receipt ---------------------------------------------------------------------------------

function showReceipt(record) {
  const r = record.receipt;
  const receipt = $("receipt");
  const title = { refund: "Refund", exchange: "Exchange" }[r.kind] || "Receipt";
  receipt.replaceChildren(
    el("h3", `${title} · ${state.catalogue.store_code} ${r.terminal} · session ${r.session}`),
    el("p", `${new Date(r.at).toLocaleString()} · cashier ${r.cashier}${r.customer ? ` · customer ${r.customer}` : ""}`),
  );
  const table = el("table");
  table.append(...exchange.receiptRows(r, el));
  for (const line of r.lines) {
    const row = el("tr");
    row.append(el("td", `${line.qty} × ${line.name}${line.discount ? ` (−${money.format(line.discount)})` : ""}`), el("td", money.format(line.amount), { class: "num" }));
    table.append(row);
  }
  const total = el("tr", null, { class: "total" });
  total.append(el("td", r.kind === "refund" ? "Paid out" : r.paid_back ? "Paid back" : "Total"), el("td", money.format(r.total), { class: "num", "data-total": "" }));
  table.append(total);
  for (const t of r.tenders) {
    const row = el("tr");
    row.append(el("td", `${t.code}${t.reference ? ` ${t.reference}` : ""}`), el("td", money.format(t.amount), { class: "num" }));
    table.append(row);
  }
  if (r.change > 0) {
    const row = el("tr");
    row.append(el("td", "Change"), el("td", money.format(r.change), { class: "num", "data-change": "" }));
    table.append(row);
  }
  receipt.append(table);
  if (r.tax) receipt.append(el("p", `Tax included about ${money.format(r.tax)}`, { class: "muted" }));
  receipt.append(el("p", `Receipt code ${record.sale.client_uuid}`, { class: "code", "data-client-uuid": record.sale.client_uuid }));
  receipt.append(el("p", "Queued on this till", { id: "receipt-status", class: "muted", role: "status", "data-state": "queued" }));
  show("receipt-panel");
  $("next-sale").focus();
}

$("print").onclick = () => window.print();

$("rejected").onclick = async () => {
  const refused = await db.all("rejected");
  $("rejected-list").replaceChildren(...refused.map((record) => {
    const r = record.receipt;
    const problem = record.problem || {};
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.detail}`).join("; ");
    return el("li", `${new Date(r.at).toLocaleString()} · ${r.lines.map((l) => `${l.qty} × ${l.name}`).join(", ")}`
      + ` · ${money.format(r.total)} — ${problem.detail || "refused"}${fields ? ` (${fields})` : ""}`);
  }));
  show("rejected-panel");
};
$("rejected-back").onclick = () => sell();
$("next-sale").onclick = () => sell();

// -- refunds ---------------------------------------------------------------------------------------

$("refund").onclick = () => {
  state.refundOrder = null;
  $("refund-lines").replaceChildren();
  $("refund-total").textContent = money.format(0);
  $("refund-message").textContent = "";
  $("refund-method").replaceChildren(...methodsOf(["cash", "card", "gift_card", "store_credit"]).map((m) => option(m.code, m.name)));
  show("refund-panel");
  $("receipt-number").focus();
};
$("refund-cancel").onclick = () => sell();

$("refund-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = $("receipt-number").value.trim();
  if (!number) return;
  try {
    state.refundOrder = await apiJson(`/api/v1/pos/receipts/${encodeURIComponent(number)}`);
  } catch (error) {
    $("refund-message").textContent = navigator.onLine ? error.message : "Looking up a receipt needs the network.";
    return;
  }
  $("refund-message").textContent = `${state.refundOrder.number}: ${state.refundOrder.gross_total} ${state.refundOrder.currency}`;
  $("refund-lines").replaceChildren(...state.refundOrder.lines.filter((l) => Number(l.quantity) > 0).map((line) => {
    const row = el("tr");
    const id = `refund-${line.id}`;
    const label = el("label", `${line.sku} · ${line.quantity} sold · ${line.gross}`, { for: id });
    const input = el("input", null, { id, inputmode: "numeric", value: "0", "data-line": line.id, size: "4" });
    input.addEventListener("input", renderRefund);
    const cellLabel = el("td"); cellLabel.append(label);
    const cellInput = el("td"); cellInput.append(input);
    row.append(cellLabel, cellInput);
    return row;
  }));
  renderRefund();
});

/** What is paid out for `qty` of an original line: its share of the line's net and tax, each rounded
 * half up (the server's counter rounds cumulatively: the same for a line's first refund). */
function refundLines() {
  const lines = [];
  for (const input of $("refund-lines").querySelectorAll("input[data-line]")) {
    const qty = Number(input.value || "0");
    const line = state.refundOrder.lines.find((l) => l.id === input.dataset.line);
    if (!Number.isInteger(qty) || qty <= 0 || qty > Number(line.quantity)) continue;
    const sold = Number(line.quantity);
    const amount = money.share(money.parse(line.net), qty, sold) + money.share(money.parse(line.tax), qty, sold);
    lines.push({ line, qty, amount });
  }
  return lines;
}

function refundTotal() {
  const total = refundLines().reduce((sum, l) => sum + l.amount, 0);
  const rounding = state.catalogue.cash_rounding;
  if (rounding && kindOf($("refund-method").value) === "cash") {
    return money.cashRounded(total, money.parse(rounding.increment), rounding.mode);
  }
  return total;
}

function renderRefund() {
  $("refund-total").textContent = money.format(refundTotal());
}
$("refund-method").addEventListener("change", renderRefund);

$("refund-complete").onclick = async () => {
  const lines = refundLines();
  if (!lines.length) { $("refund-message").textContent = "Give the quantity coming back."; return; }
  const total = refundTotal();
  const code = $("refund-method").value;
  const reference = $("refund-ref").value.trim();
  const sale = {
    client_uuid: crypto.randomUUID(),
    sold_at: new Date().toISOString(),
    lines: lines.map(({ line, qty }) => ({
      product_id: line.product_id, quantity: String(-qty), unit_price: line.unit_price, refund_of: line.id,
    })),
    payments: [{ payment_method_code: code, amount: money.format(total), ...(reference ? { reference } : {}) }],
    ...(state.refundOrder.customer_id ? { customer_id: state.refundOrder.customer_id } : {}),
  };
  await enqueue(sale, {
    kind: "refund",
    lines: lines.map(({ line, qty, amount }) => ({ name: `${line.sku} (${state.refundOrder.number})`, qty, amount, discount: 0 })),
    total, tax: 0, tenders: [{ code, amount: total, reference }], change: 0, customer: null,
  });
};

// -- cash in and out -----------------------------------------------------------------------------

$("cash-move").onclick = () => { $("cash-message").textContent = ""; show("cash-panel"); $("cash-amount").focus(); };
$("cash-cancel").onclick = () => sell();
$("cash-apply").onclick = async () => {
  const amount = money.parse($("cash-amount").value);
  if (amount === null || amount <= 0) { $("cash-message").textContent = "The amount is positive."; return; }
  try {
    const moved = await apiJson(`/api/v1/pos/sessions/${state.session.id}/cash-movements`, {
      method: "POST",
      body: { direction: $("cash-direction").value, amount: money.format(amount), reason: $("cash-reason").value.trim() },
    });
    $("cash-amount").value = "";
    $("cash-reason").value = "";
    sell();
    $("sell-message").textContent = `Cash ${moved.direction}: ${moved.amount}`;
  } catch (error) {
    $("cash-message").textContent = navigator.onLine ? error.message : "Cash in or out needs the network.";
  }
};

// -- closing the session -------------------------------------------------------------------------

let expected = 0;
$("close").onclick = async () => {
  show("close-panel");
  $("close-message").textContent = "";
  $("expected-cash").textContent = "…";
  await sync.run();
  const queued = await db.count("queue");
  if (queued) {
    $("close-message").textContent = `${queued} sale(s) still queued: close once they are synced (the network is needed).`;
    $("close-apply").disabled = true;
    return;
  }
  try {
    const session = await apiJson(`/api/v1/pos/sessions/${state.session.id}`);
    expected = money.parse(session.expected_cash);
    $("expected-cash").textContent = session.expected_cash;
  } catch (error) {
    $("close-message").textContent = navigator.onLine ? error.message : "Closing needs the network.";
    $("close-apply").disabled = true;
    return;
  }
  $("close-apply").disabled = false;
  const counts = methodsOf(["cash", "card"]).map((method) => {
    const row = el("div", null, { class: "row" });
    const id = `count-${method.code}`;
    const input = el("input", null, { id, inputmode: "decimal", "data-method": method.code, "data-kind": method.kind });
    input.addEventListener("input", renderDifference);
    row.append(el("label", `Counted ${method.name}`, { for: id }), input);
    return row;
  });
  $("counts").replaceChildren(...counts);
  renderDifference();
};
$("close-cancel").onclick = () => sell();

function counted() {
  const found = {};
  let cash = 0;
  for (const input of $("counts").querySelectorAll("input[data-method]")) {
    const amount = money.parse(input.value || "0");
    if (amount === null) continue;
    found[input.dataset.method] = money.format(amount);
    if (input.dataset.kind === "cash") cash += amount;
  }
  return { found, cash };
}

function renderDifference() {
  $("close-difference").textContent = money.format(counted().cash - expected);
}

$("close-apply").onclick = async () => {
  try {
    const closed = await apiJson(`/api/v1/pos/sessions/${state.session.id}/close`, {
      method: "POST", body: { counted: counted().found },
    });
    state.session = null;
    await db.put("meta", null, "session");
    await sessionStep(`Session ${closed.number} closed: cash difference ${closed.cash_difference}.`);
    $("setup-message").dataset.difference = closed.cash_difference;
  } catch (error) {
    $("close-message").textContent = error.code === "needs-approval"
      ? `${error.message} A store manager must close this session.`
      : error.message;
  }
};

exchange.install({ $, el, state, apiJson, show, sell });
signout.install({ $, state, sync, show, sell });
giftcards.install({ $, state, show, sell });

start().catch((error) => setup(`The screen could not start: ${error.message}`));
