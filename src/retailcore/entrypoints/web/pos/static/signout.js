// Signing out of the till (docs/pos.md#the-pos-screen, decision 0083): the till token is revoked on
// the server (POST /pos/sign-out, bearing it), not only forgotten here, so a copy of it left in this
// browser's IndexedDB or anywhere else is refused from then on. Sales still queued would be left with
// no token to send them: the screen syncs first and refuses to sign out while any remain.
import * as db from "./db.js";

export function install({ $, state, sync, show, sell }) {
  $("sign-out").onclick = async () => {
    show("signout-panel");
    const message = $("signout-message");
    message.textContent = "Sending the queued sales first…";
    if (navigator.onLine) await sync.run();
    const queued = await db.count("queue");
    if (queued) {
      message.textContent = `${queued} sale(s) still queued on this till: sign out once they are synced`
        + " (the network is needed). Signing out now would leave them with no token to send them.";
      return;
    }
    if (!navigator.onLine || !state.token) {
      message.textContent = "Signing out needs the network: the till's token is revoked on the server.";
      return;
    }
    let response;
    try {
      response = await fetch("/pos/sign-out", {
        method: "POST", headers: { Authorization: `Bearer ${state.token.token}` },
      });
    } catch (error) {
      message.textContent = "Signing out needs the network: the till's token is revoked on the server.";
      return;
    }
    // 401: the token was revoked or expired already; nothing left to refuse on the server.
    if (!response.ok && response.status !== 401) {
      const problem = await response.json().catch(() => null);
      message.textContent = problem?.detail || `Could not sign out: HTTP ${response.status}`;
      return;
    }
    state.token = null;
    await db.write([["meta", "delete", "token"]]);
    window.location.assign("/login?next=%2Fpos");
  };
  $("signout-back").onclick = () => sell();
}
