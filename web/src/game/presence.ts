// Who among the others is reconnecting: the server keeps a person whose connection dropped in
// the world for a grace period and says so with `PLAYER_PRESENCE` (a CrowdWire extension):
// `{topic, user_id, state: "reconnecting" | "online"}`. A `PLAYERS_SNAPSHOT` lists people who
// are online unless a `PLAYER_PRESENCE` after it says otherwise; `LEAVE_PLAYER` ends it all.
// Fields this client does not know (a later `status`) are ignored.

import type { Msg } from "./net";

export class Presence {
  private readonly away = new Set<string>();

  /** Whether `id` is reconnecting. */
  reconnecting(id: string): boolean {
    return this.away.has(id);
  }

  /** Applies `m` if it concerns presence; returns the ids whose state changed. */
  handle(m: Msg): string[] {
    switch (m.topic) {
      case "PLAYERS_SNAPSHOT": {
        const back = [...this.away];
        this.away.clear();
        return back;
      }
      case "PLAYER_PRESENCE": {
        const id = String(m.user_id);
        const away = m.state === "reconnecting";
        if ((m.state !== "online" && !away) || away === this.away.has(id)) return [];
        if (away) this.away.add(id);
        else this.away.delete(id);
        return [id];
      }
      case "LEAVE_PLAYER":
        this.away.delete(String(m.user_id));
        return [];
      default:
        return [];
    }
  }
}
