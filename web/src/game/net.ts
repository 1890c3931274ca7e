// The world's WebSocket: JSON messages with a `topic`, a heartbeat, and reconnection with
// back-off after a network drop. The server keeps a dropped user in the world for a grace
// period, so a quick reconnection resumes the same place and groups.

import { session } from "../api";
import type { ClientMessage, Incoming } from "./protocol.gen";

/** What the server sends; the types are generated from the server's Rust definitions. */
export type Msg = Incoming;
/** What we send. */
export type Outgoing = ClientMessage;
export type Status = "connecting" | "online" | "reconnecting" | "closed";

/** Why the server ended the session for good (no reconnection). */
export interface Ended {
  reason: string;
  kind: "kicked" | "banned" | "refused";
}

export class WorldSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private retryTimer = 0;
  private pingTimer = 0;
  private stopped = false;
  /** The last position we told the server about, repeated in every heartbeat. */
  position: { x: number; y: number } | null = null;

  constructor(
    private readonly worldId: number,
    private readonly handlers: {
      message(m: Msg): void;
      status(s: Status, detail?: string): void;
      opened(first: boolean): void;
      ended(e: Ended): void;
    },
  ) {}

  private opens = 0;

  connect(): void {
    const token = session()?.access_token;
    if (!token || this.stopped) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws/${this.worldId}?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    this.handlers.status(this.opens ? "reconnecting" : "connecting");
    ws.onopen = () => {
      this.attempt = 0;
      this.handlers.status("online");
      this.handlers.opened(this.opens++ === 0);
      clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => {
        if (this.position) this.send({ topic: "PING", position: this.position });
      }, 5000);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string" || ev.data === "PONG") return;
      let m: unknown;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      for (const one of Array.isArray(m) ? m : [m]) {
        if (one && typeof one === "object" && typeof (one as { topic?: unknown }).topic === "string") {
          const msg = one as Msg;
          if (msg.topic === "KICKED") this.endWith(kickReason(msg.d.reason));
          this.handlers.message(msg);
        }
      }
    };
    ws.onclose = (ev) => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      // 1008: the server refused us (banned, not allowed, world full or gone): retrying cannot help.
      if (ev.code === 1008) {
        this.endWith({ kind: /ban/i.test(ev.reason) ? "banned" : "refused", reason: ev.reason || "The server refused the connection." });
        return;
      }
      const delay = Math.min(10_000, 500 * 2 ** this.attempt++) * (0.75 + Math.random() / 2);
      this.handlers.status("reconnecting", `Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
      this.retryTimer = window.setTimeout(() => this.connect(), delay);
    };
  }

  private endWith(e: Ended): void {
    if (this.stopped) return;
    this.stopped = true;
    this.handlers.status("closed", e.reason);
    this.handlers.ended(e);
    this.ws?.close();
  }

  /** Sends now if connected; drops the message otherwise (the game re-sends state on reconnect). */
  send(m: Outgoing): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** Reconnects now (the "retry" button), skipping the back-off wait. */
  retry(): void {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000);
    this.ws = null;
  }
}

function kickReason(given: string | undefined): Ended {
  const reason = given || "You were removed from this world.";
  return { kind: /ban/i.test(reason) ? "banned" : "kicked", reason };
}
