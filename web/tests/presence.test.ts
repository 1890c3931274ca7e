// Unit tests for who the client shows as reconnecting (src/game/presence.ts), from the
// messages the server sends about people whose connection dropped.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Msg } from "../src/game/net";
import { Presence } from "../src/game/presence";

// The messages are built loosely on purpose: the client must cope with what a server sends,
// including states and fields its types do not list.
const feed = (p: Presence, m: object): string[] => p.handle(m as Msg);

const snapshot = (...ids: string[]) => ({ topic: "PLAYERS_SNAPSHOT", snapshot: Object.fromEntries(ids.map((id) => [id, {}])), players_data: {} });
const presence = (user_id: string, state: string, extra: Record<string, unknown> = {}) => ({ topic: "PLAYER_PRESENCE", user_id, state, ...extra });

describe("presence", () => {
  test("a drop dims a person until the server says they are back", () => {
    const p = new Presence();
    assert.deepEqual(feed(p, snapshot("2", "3")), []);
    assert.deepEqual(feed(p, presence("2", "reconnecting")), ["2"]);
    assert.ok(p.reconnecting("2"));
    assert.ok(!p.reconnecting("3"));
    assert.deepEqual(feed(p, presence("2", "reconnecting")), [], "no change, nothing to redraw");
    assert.deepEqual(feed(p, presence("2", "online")), ["2"]);
    assert.ok(!p.reconnecting("2"));
  });

  test("a person who does not come back is forgotten when they leave", () => {
    const p = new Presence();
    feed(p, presence("7", "reconnecting"));
    assert.deepEqual(feed(p, { topic: "LEAVE_PLAYER", user_id: "7" }), []);
    assert.ok(!p.reconnecting("7"));
  });

  test("a snapshot (our own reconnection) starts everyone online again", () => {
    const p = new Presence();
    feed(p, presence("2", "reconnecting"));
    feed(p, presence("a1b2c3d4-0000-4000-8000-000000000000", "reconnecting"));
    assert.deepEqual(feed(p, snapshot("2")).sort(), ["2", "a1b2c3d4-0000-4000-8000-000000000000"]);
    assert.ok(!p.reconnecting("2"));
    // The server then says again who is still away.
    assert.deepEqual(feed(p, presence("2", "reconnecting")), ["2"]);
  });

  test("unknown states and fields are ignored; numeric ids match string ones", () => {
    const p = new Presence();
    assert.deepEqual(feed(p, presence("2", "asleep")), []);
    assert.ok(!p.reconnecting("2"));
    assert.deepEqual(feed(p, { topic: "PLAYER_PRESENCE", user_id: 2, state: "reconnecting", status: "busy" }), ["2"]);
    assert.ok(p.reconnecting("2"));
    assert.deepEqual(feed(p, { topic: "CHANGE_ROOM" }), []);
  });
});
