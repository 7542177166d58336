// Exchanges on the POS screen (docs/pos.md#the-pos-screen, decision 0083). The cashier looks up a
// receipt, says how many of each line come back, and then sells as usual: the cart shows the lines
// taken back (negative) above the new ones, and its total is the difference. The ticket goes to the
// queue as ONE sale with negative lines (refund_of the original lines) and positive ones; the server
// claims, prices and settles it (pos/refunds.py, decision 0030). When the shop owes the difference,
// it is paid back with the tenders the screen's refunds use, adding up exactly to it (the server
// never cash-rounds what an exchange pays out).
import * as money from "./money.js";

/** The tenders a refund or an exchange pays back with (pos/refunds.py REFUND_TENDER_KINDS). */
export const PAY_BACK_KINDS = ["cash", "card", "gift_card", "store_credit"];

let deps = null;
let looked = null; // the receipt being looked up in the panel, before "Take back"

/** Wire the panel: `ctx` gives the shared state and the screen's helpers (from app.js). */
export function install(ctx) {
  deps = ctx;
  const { $ } = ctx;
  $("exchange").onclick = open;
  $("exchange-cancel").onclick = () => ctx.sell();
  $("exchange-form").addEventListener("submit", lookUp);
  $("exchange-take").onclick = take;
}

function open() {
  const { $, state } = deps;
  looked = null;
  $("exchange-lines").replaceChildren();
  $("exchange-back-total").textContent = money.format(0);
  $("exchange-message").textContent = state.exchange
    ? `Taking back from ${state.exchange.order.number}: looking up another receipt replaces it.`
    : "";
  deps.show("exchange-panel");
  $("exchange-receipt").focus();
}

async function lookUp(event) {
  event.preventDefault();
  const { $, el } = deps;
  const number = $("exchange-receipt").value.trim();
  if (!number) return;
  try {
    looked = await deps.apiJson(`/api/v1/pos/receipts/${encodeURIComponent(number)}`);
  } catch (error) {
    $("exchange-message").textContent = navigator.onLine ? error.message : "Looking up a receipt needs the network.";
    return;
  }
  $("exchange-message").textContent = `${looked.number}: ${looked.gross_total} ${looked.currency}`;
  $("exchange-lines").replaceChildren(...looked.lines.filter((l) => Number(l.quantity) > 0).map((line) => {
    const row = el("tr");
    const id = `exchange-${line.id}`;
    const input = el("input", null, { id, inputmode: "numeric", value: "0", "data-line": line.id, size: "4" });
    input.addEventListener("input", renderBack);
    const label = el("td");
    label.append(el("label", `Take back ${line.sku} · ${line.quantity} sold · ${line.gross}`, { for: id }));
    const cell = el("td");
    cell.append(input);
    row.append(label, cell);
    return row;
  }));
  renderBack();
}

/** The lines marked in the panel, each with what it gives back: the original line's share of its net
 * and of its tax, rounded half up (the server's figure for a line's first refund, as for refunds). */
function marked() {
  const lines = [];
  if (!looked) return lines;
  for (const input of deps.$("exchange-lines").querySelectorAll("input[data-line]")) {
    const qty = Number(input.value || "0");
    const line = looked.lines.find((l) => l.id === input.dataset.line);
    const sold = Number(line.quantity);
    if (!Number.isInteger(qty) || qty <= 0 || qty > sold) continue;
    const amount = money.share(money.parse(line.net), qty, sold) + money.share(money.parse(line.tax), qty, sold);
    lines.push({ line, qty, amount });
  }
  return lines;
}

function renderBack() {
  deps.$("exchange-back-total").textContent = money.format(marked().reduce((sum, l) => sum + l.amount, 0));
}

function take() {
  const { $, state } = deps;
  const lines = marked();
  if (!lines.length) { $("exchange-message").textContent = "Give the quantity coming back."; return; }
  if (state.giftCards?.length) { $("exchange-message").textContent = "An exchange sells no gift card: remove the cards first."; return; }
  state.exchange = { order: looked, lines };
  deps.sell();
  $("sell-message").textContent = `Taking back from ${looked.number}: add the new items, then Pay.`;
}

// -- what app.js asks of an exchange ------------------------------------------------------------

/** What the goods taken back are worth (minor units); 0 without an exchange. */
export function backValue(state) {
  return state.exchange ? state.exchange.lines.reduce((sum, l) => sum + l.amount, 0) : 0;
}

/** The cart's rows of the goods taken back, negative, each with a button to keep it after all. */
export function cartRows(state, el, rerender) {
  if (!state.exchange) return [];
  return state.exchange.lines.map((taken, index) => {
    const row = el("tr", null, { class: "back", "data-back": taken.line.id });
    const name = el("td", `${taken.line.sku} back`);
    name.append(el("div", `from ${state.exchange.order.number}`, { class: "muted" }));
    const keep = el("button", "Keep", { type: "button", "aria-label": `Keep ${taken.line.sku}` });
    keep.onclick = () => {
      state.exchange.lines.splice(index, 1);
      if (!state.exchange.lines.length) state.exchange = null;
      rerender();
    };
    const actions = el("td");
    actions.append(keep);
    row.append(name, el("td", String(-taken.qty)), el("td", money.format(-taken.amount), { class: "num" }), actions);
    return row;
  });
}

/** The batch's refund lines of the ticket: negative quantities naming the original lines. */
export function refundLines(state) {
  if (!state.exchange) return [];
  return state.exchange.lines.map(({ line, qty }) => ({
    product_id: line.product_id, quantity: String(-qty), unit_price: line.unit_price, refund_of: line.id,
  }));
}

/** The customer of the ticket: the one chosen at the till, else the original sale's (store credit paid
 * back goes to them). */
export function customerId(state) {
  return state.customer?.id || state.exchange?.order.customer_id || null;
}

/** The receipt's part of the goods taken back. */
export function receiptPart(state) {
  if (!state.exchange) return null;
  return {
    from: state.exchange.order.number,
    lines: state.exchange.lines.map(({ line, qty, amount }) => ({ name: line.sku, qty: -qty, amount: -amount })),
  };
}

/** The receipt's rows of the goods taken back (after a heading), for a ticket that has them. */
export function receiptRows(receipt, el) {
  if (!receipt.returned) return [];
  const heading = el("tr");
  heading.append(el("td", `Taken back (receipt ${receipt.returned.from})`, { colspan: "2" }));
  const rows = receipt.returned.lines.map((line) => {
    const row = el("tr", null, { "data-back": "" });
    row.append(el("td", `${line.qty} × ${line.name}`), el("td", money.format(line.amount), { class: "num" }));
    return row;
  });
  const bought = el("tr");
  bought.append(el("td", "New items", { colspan: "2" }));
  return [heading, ...rows, bought];
}
