// Runs the screen's pricing mirror (src/retailcore/entrypoints/web/pos/static/pricing.js) for the
// Python tests: reads a JSON list of requests on stdin, writes the list of answers on stdout.
//   {op: "price", pricing, basket}             -> the priced basket, decimals as exact text
//   {op: "local", instant, timezone}           -> the naive local time, as pricing.js reads it
//   {op: "sale", catalogue, lines, soldAt, customerGroup} -> saleDiscounts' answer
//   {op: "calc", fn, a, b}                     -> add, sub, mul or div of two decimals, as exact text
const [, , modulePath] = process.argv;
const pricing = await import(new URL(`file://${modulePath}`));

function text(value) {
  if (value instanceof pricing.Dec) return pricing.plain(value);
  if (Array.isArray(value)) return value.map(text);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, text(v)]));
  }
  return value;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const answers = JSON.parse(input).map((request) => {
  if (request.op === "price") return text(pricing.price(pricing.book(request.pricing), request.basket));
  if (request.op === "local") return pricing.localTime(request.instant, request.timezone);
  if (request.op === "sale") {
    return pricing.saleDiscounts(request.catalogue, request.lines, {
      soldAt: request.soldAt, customerGroup: request.customerGroup ?? null,
    });
  }
  if (request.op === "calc") {
    return pricing.plain(pricing[request.fn](pricing.dec(request.a), pricing.dec(request.b)));
  }
  throw new Error(`unknown op ${request.op}`);
});
process.stdout.write(JSON.stringify(answers));
