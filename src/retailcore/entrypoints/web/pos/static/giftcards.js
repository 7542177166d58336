// Gift cards sold at the till (docs/pos.md#the-pos-screen, decision 0083). A card is not an order
// line (no product, no tax, no stock): it travels in the sale's `gift_cards: [{amount, code}]`, its
// amount is added to what the tenders must cover, and the server issues it when the batch is taken
// (decision 0030). The screen sells only physical cards with their printed code: a code the server
// draws is answered once, in the batch's answer, which an offline till may never hear.
import * as money from "./money.js";

const CODE = /^[A-Za-z0-9 -]+$/;
const CODE_CHARS = 8; // the server's least: letters and digits, spaces and dashes aside

let deps = null;

export function install(ctx) {
  deps = ctx;
  const { $ } = ctx;
  $("gift-card").onclick = () => {
    if (ctx.state.exchange) { $("sell-message").textContent = "An exchange sells no gift card: finish it first."; return; }
    $("gift-card-message").textContent = "";
    ctx.show("gift-card-panel");
    $("gift-card-amount").focus();
  };
  $("gift-card-cancel").onclick = () => ctx.sell();
  $("gift-card-add").onclick = add;
}

function add() {
  const { $, state } = deps;
  const amount = money.parse($("gift-card-amount").value);
  const code = $("gift-card-code").value.trim();
  if (amount === null || amount <= 0) { $("gift-card-message").textContent = "The card's amount is positive."; return; }
  if (!CODE.test(code) || code.replace(/[ -]/g, "").length < CODE_CHARS) {
    $("gift-card-message").textContent = "Scan or type the card's printed code (at least 8 letters or digits).";
    return;
  }
  if (state.giftCards.some((card) => card.code === code)) {
    $("gift-card-message").textContent = "This card is in the cart already.";
    return;
  }
  state.giftCards.push({ amount, code });
  $("gift-card-amount").value = "";
  $("gift-card-code").value = "";
  deps.sell();
}

// -- what app.js asks of the cards ------------------------------------------------------------------

/** What the cards in the cart are worth (minor units). */
export function value(state) {
  return state.giftCards.reduce((sum, card) => sum + card.amount, 0);
}

/** The cart's rows of the cards, each with a button to take it out. */
export function cartRows(state, el, rerender) {
  return state.giftCards.map((card, index) => {
    const row = el("tr", null, { class: "gift", "data-gift-card": card.code });
    const name = el("td", "Gift card");
    name.append(el("div", card.code, { class: "muted" }));
    const remove = el("button", "Remove", { type: "button", "aria-label": `Remove gift card ${card.code}` });
    remove.onclick = () => { state.giftCards.splice(index, 1); rerender(); };
    const actions = el("td");
    actions.append(remove);
    row.append(name, el("td", "1"), el("td", money.format(card.amount), { class: "num" }), actions);
    return row;
  });
}

/** The sale's `gift_cards`, none when the cart has none. */
export function saleField(state) {
  return state.giftCards.length
    ? { gift_cards: state.giftCards.map((card) => ({ amount: money.format(card.amount), code: card.code })) }
    : {};
}

/** A gift card never pays a gift card: the ticket's gift card tenders may pay its goods only. */
export function refusesTender(state, kind, amount, tenders, kindOf, goods) {
  if (!state.giftCards.length || kind !== "gift_card") return false;
  const byCard = tenders.filter((t) => kindOf(t.code) === "gift_card").reduce((sum, t) => sum + t.amount, 0);
  return byCard + amount > goods;
}

/** The receipt's lines of the cards: the code is the card's secret, the receipt shows its end only. */
export function receiptLines(state) {
  return state.giftCards.map((card) => ({
    name: `Gift card ending ${card.code.slice(-4)}`, qty: 1, amount: card.amount, discount: 0,
  }));
}
