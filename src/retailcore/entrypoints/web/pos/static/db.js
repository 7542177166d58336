// IndexedDB, as promises: the till's memory that survives a reload or a crash of the browser.
// Stores: meta (key -> value: token, terminal, session, catalogue), queue (sales not yet taken by the
// server, by client_uuid), receipts (the sales rung up, for reprint and refunds), rejected (sales the
// server refused, with its problem).
const NAME = "retailcore-pos";
const VERSION = 1;
let opened = null;

export function open() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("meta");
      db.createObjectStore("queue", { keyPath: "sale.client_uuid" }).createIndex("queued_at", "queued_at");
      db.createObjectStore("receipts", { keyPath: "sale.client_uuid" });
      db.createObjectStore("rejected", { keyPath: "sale.client_uuid" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error);
  });
}

function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function get(store, key) {
  const db = await open();
  return result(db.transaction(store).objectStore(store).get(key));
}

export async function all(store, index) {
  const db = await open();
  const os = db.transaction(store).objectStore(store);
  return result(index ? os.index(index).getAll() : os.getAll());
}

export async function count(store) {
  const db = await open();
  return result(db.transaction(store).objectStore(store).count());
}

/** Writes in one transaction, resolved once it is durable (committed): [[store, "put"|"delete", value, key?]]. */
export async function write(ops) {
  const db = await open();
  const stores = [...new Set(ops.map(([store]) => store))];
  const tx = db.transaction(stores, "readwrite", { durability: "strict" });
  for (const [store, op, value, key] of ops) {
    const os = tx.objectStore(store);
    if (op === "put") key === undefined ? os.put(value) : os.put(value, key);
    else os.delete(value);
  }
  return done(tx);
}

export const put = (store, value, key) => write([[store, "put", value, key]]);
