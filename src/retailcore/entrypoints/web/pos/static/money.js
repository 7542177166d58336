// Money as integers of the currency's minor unit (cents): never a binary fraction. Amounts travel to
// and from the API as decimal strings ("3.60").
export let places = 2;
export function setPlaces(n) { places = n; }

export function parse(text) {
  const s = String(text).trim();
  const m = /^(-)?(\d*)(?:[.,](\d*))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) return null;
  const frac = (m[3] || "");
  if (frac.length > places) {
    // More decimals than the currency has (a price list's 4-decimal price): rounded half up.
    const whole = BigInt((m[2] || "0") + frac.slice(0, places).padEnd(places, "0"));
    const up = Number(frac[places]) >= 5 ? 1n : 0n;
    const value = Number(whole + up);
    return m[1] ? -value : value;
  }
  const value = Number((m[2] || "0") + frac.padEnd(places, "0"));
  return m[1] ? -value : value;
}

export function format(units) {
  const sign = units < 0 ? "-" : "";
  const abs = Math.abs(units);
  if (places === 0) return sign + String(abs);
  const s = String(abs).padStart(places + 1, "0");
  return `${sign}${s.slice(0, -places)}.${s.slice(-places)}`;
}

/** round(units * num / den), half away from zero, in integers. */
export function share(units, num, den) {
  const n = BigInt(units) * BigInt(num);
  const d = BigInt(den);
  const q = n / d;
  const r = n % d;
  const twice = (r < 0n ? -r : r) * 2n;
  const abs = d < 0n ? -d : d;
  if (twice >= abs) return Number(q + ((n < 0n) !== (d < 0n) ? -1n : 1n));
  return Number(q);
}

/** A cash amount to the company's increment (units), by mode: half_up, up or down. */
export function cashRounded(units, increment, mode) {
  if (!increment || increment <= 1) return units;
  const sign = units < 0 ? -1 : 1;
  const abs = Math.abs(units);
  const low = Math.floor(abs / increment) * increment;
  if (low === abs) return units;
  let chosen = low;
  if (mode === "up") chosen = low + increment;
  else if (mode === "half_up") chosen = (abs - low) * 2 >= increment ? low + increment : low;
  return sign * chosen;
}
