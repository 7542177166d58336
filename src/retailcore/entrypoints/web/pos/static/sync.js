// The sync loop: posts the queued sales, oldest first, in batches per session, to
// POST /api/v1/pos/sessions/{id}/sales:batch, and removes them from the queue only after the server
// answered that it took them (accepted or duplicates: the batch is idempotent per client_uuid, so a
// batch whose answer was lost is simply sent again). A sale the server refuses (422/409 naming
// `sales.N...`) moves to the "rejected" store, shown to the cashier; the others are sent again.
import * as db from "./db.js";

export const BATCH = 50;
const SALE_FIELD = /^sales\.(\d+)(\.|$)/;

export class Sync {
  constructor(api, onChange) {
    this.api = api;
    this.onChange = onChange;
    this.running = null;
    this.single = false;
    this.state = "idle";
    this.lastError = "";
  }

  /** One pass over the queue; concurrent calls share the pass under way. */
  run() {
    if (!this.running) this.running = this._run().finally(() => { this.running = null; this.onChange(); });
    return this.running;
  }

  async _run() {
    for (;;) {
      const queued = await db.all("queue", "queued_at");
      if (!queued.length) { this.state = "idle"; return; }
      const sessionId = queued[0].session_id;
      const batch = queued.filter((q) => q.session_id === sessionId).slice(0, this.single ? 1 : BATCH);
      let response;
      try {
        response = await this.api(`/api/v1/pos/sessions/${sessionId}/sales:batch`, {
          method: "POST",
          body: { sales: batch.map((q) => q.sale) },
        });
      } catch (error) {
        this.state = "waiting";
        this.lastError = "network";
        return; // nothing known to be taken: everything stays queued, the next pass resends it
      }
      if (response.ok) {
        await db.write(batch.map((q) => ["queue", "delete", q.sale.client_uuid]));
        this.single = false;
        this.state = "synced";
        this.onChange();
        continue;
      }
      const problem = await response.json().catch(() => null);
      this.lastError = problem?.detail || `HTTP ${response.status}`;
      if (response.status === 401 || response.status === 403) { this.state = "sign-in"; return; }
      if (response.status === 422 || response.status === 409 || response.status === 404) {
        const index = saleIndex(problem);
        if (index === null && batch.length > 1) { this.single = true; continue; }
        const refused = batch[index ?? 0];
        await db.write([
          ["queue", "delete", refused.sale.client_uuid],
          ["rejected", "put", { ...refused, problem, refused_at: Date.now() }],
        ]);
        this.onChange();
        continue;
      }
      this.state = "waiting"; // 429, 5xx: try again later
      return;
    }
  }
}

function saleIndex(problem) {
  for (const error of problem?.errors || []) {
    const match = SALE_FIELD.exec(error.field || "");
    if (match) return Number(match[1]);
  }
  return null;
}
