// Inside a world: the entry card (name and avatar), then the map, the people list, the chat,
// the audio/video tiles and the conference controls, all driven by the world's WebSocket.

import { api, avatars, canEditMap, session, STATIC, type AvatarManifest, type Membership, type WorldDetail } from "../api";
import { busy, errorBox, h, show } from "../ui";
import { checkTiledMap, decodeLayers, prop, type Conference, type Interactive } from "../game/tiled";
import { WorldSocket, type Ended, type Msg, type Status } from "../game/net";
import { MediaManager } from "../game/media";
import { FileBoard } from "../game/files";
import { Presence } from "../game/presence";
import type { WorldScene } from "../game/scene";

/** The world the user is in now, so that navigating away leaves it cleanly. */
let current: { close(): void } | null = null;

export function leaveWorld(): void {
  current?.close();
  current = null;
  document.body.classList.remove("in-world");
}

export async function playScreen(worldId: number): Promise<void> {
  const errors = errorBox();
  show(h("section", { class: "card narrow" }, h("h1", {}, "Entering…"), errors.el));
  let world: WorldDetail;
  let me: Membership;
  let manifest: AvatarManifest;
  try {
    [world, me, manifest] = await Promise.all([api.world(worldId), api.join(worldId), avatars()]);
  } catch (e) {
    errors.set((e as Error).message);
    errors.el.after(h("p", {}, h("a", { href: "#/worlds" }, "Back to the worlds")));
    return;
  }
  entryCard(world, me, manifest);
}

/** The links to the world's settings and map editor, for those allowed to use them. */
function manageLinks(world: WorldDetail, settingsLabel: string): (HTMLAnchorElement | null)[] {
  return [
    world.can_manage || world.is_creator ? h("a", { href: `#/world/${world.world_id}/settings` }, settingsLabel) : null,
    canEditMap(world) ? h("a", { href: `#/world/${world.world_id}/edit` }, "Edit map") : null,
  ];
}

function entryCard(world: WorldDetail, me: Membership, manifest: AvatarManifest): void {
  const errors = errorBox();
  const name = h("input", { name: "username", required: true, maxlength: "50", value: me.username ?? "" });
  let chosen = me.avatar && manifest.avatars.some((a) => a.name === me.avatar) ? me.avatar : manifest.avatars[0]?.name ?? "";
  const grid = h("div", { class: "avatars", role: "radiogroup", "aria-label": "Avatar" });
  for (const a of manifest.avatars) {
    const b = h("button", { type: "button", role: "radio", "aria-checked": String(a.name === chosen), "aria-label": a.name.replace(/_/g, " "), class: "avatar-pick" },
      h("img", { src: `${STATIC}/characters/${a.preview}`, alt: "" }));
    b.addEventListener("click", () => {
      chosen = a.name;
      for (const c of grid.children) c.setAttribute("aria-checked", String(c === b));
    });
    grid.append(b);
  }
  const submit = h("button", { type: "submit" }, "Enter the world");
  const form = h("form", { "aria-label": "Your look" }, h("label", {}, "Your name here", name), h("fieldset", {}, h("legend", {}, "Your avatar"), grid), errors.el, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, async () => {
      const username = name.value.trim();
      if (!username) throw new Error("Pick a name.");
      if (username !== me.username || chosen !== me.avatar) {
        const updated = await api.updateMember(world.world_id, me.user_id, { username, avatar: chosen });
        me = { ...me, username: updated.username ?? username, avatar: updated.avatar ?? chosen };
      }
      await enter(world, me, manifest);
    });
  });
  show(
    h("section", { class: "card narrow-wide" },
      h("h1", {}, world.name),
      world.description ? h("p", { class: "muted" }, world.description) : null,
      form,
      h("p", { class: "links" }, h("a", { href: "#/worlds" }, "Back"), ...manageLinks(world, "World settings")),
    ),
  );
  name.focus();
}

interface Person {
  id: string;
  name: string;
  avatar: string;
  role: string;
}

async function enter(world: WorldDetail, me: Membership, manifest: AvatarManifest): Promise<void> {
  const map = await decodeLayers(checkTiledMap(me.world_map || world.world_map));
  const myId = String(me.user_id);
  const people = new Map<string, Person>();
  const near = new Set<string>();
  // Who is reconnecting: the server keeps them in the world for a while after a drop.
  const presence = new Presence();
  let conference: { c: Conference; room: string } | null = null;
  let speaker = false;

  // Registered users may report people and the world (the API takes no reports from guests).
  const canReport = !session()?.guest_uuid;

  // ----- layout -----
  const stage = h("div", { class: "stage", id: "game", "aria-label": "World map. Move with the arrow keys or WASD, or touch and hold." });
  const status = h("div", { class: "status", role: "status", "data-state": "connecting" }, "Connecting…");
  const retry = h("button", { type: "button", class: "secondary small", hidden: true }, "Retry now");
  const hint = h("div", { class: "hint", hidden: true });
  const toast = h("div", { class: "toasts", "aria-live": "polite" });
  const tiles = h("div", { class: "tiles", "aria-label": "Video" });
  const sinks = h("div", { hidden: true });
  const mic = h("button", { type: "button", "aria-pressed": "true", title: "Microphone (M)" }, "Mic on");
  const cam = h("button", { type: "button", "aria-pressed": "true", title: "Camera (V)" }, "Camera on");
  const screenBtn = h("button", { type: "button", "aria-pressed": "false" }, "Share screen");
  const hand = h("button", { type: "button", hidden: true }, "Raise hand");
  const confLabel = h("span", { class: "conf", hidden: true });
  const peopleList = h("ul", { class: "people", "aria-label": "People in this world" });
  const peopleCount = h("span", {});
  const requests = h("ul", { class: "requests", "aria-label": "Requests to speak" });
  const chatLog = h("ol", { class: "chat-log", "aria-live": "polite", "aria-label": "Chat" });
  const chatInput = h("input", { name: "chat", placeholder: "Say something…", maxlength: "1000", autocomplete: "off", "aria-label": "Message" });
  const chatTo = h("select", { name: "to", "aria-label": "Send to" }, h("option", { value: "ALL" }, "Everyone"), h("option", { value: "NEARBY" }, "Nearby"));
  const chatForm = h("form", { class: "chat-form" }, chatTo, chatInput, h("button", { type: "submit" }, "Send"));
  const overlay = h("div", { class: "overlay", hidden: true, role: "alertdialog", "aria-modal": "true" });
  const stageWrap = h("div", { class: "stage-wrap" }, stage, h("div", { class: "stage-top" }, status, retry, confLabel), hint, toast, tiles,
    h("div", { class: "toolbar", role: "toolbar", "aria-label": "Media" }, mic, cam, screenBtn, hand));

  const view = h("section", { class: "world-view" },
    stageWrap,
    h("aside", { class: "side" },
      h("details", { open: true }, h("summary", {}, "People ", peopleCount), peopleList, requests),
      h("div", { class: "chat" }, h("h2", {}, "Chat"), chatLog, chatForm),
      h("p", { class: "links" }, h("a", { href: "#/worlds" }, "Leave"), ...manageLinks(world, "Settings"),
        canReport && !world.is_creator ? h("button", { type: "button", class: "link", onclick: () => report({ kind: "world" }) }, "Report world") : null),
    ),
    overlay,
    sinks,
  );
  document.body.classList.add("in-world");
  show(view);

  const note = (text: string, ms = 5000) => {
    const el = h("div", { class: "toast" }, text);
    toast.append(el);
    setTimeout(() => el.remove(), ms);
  };

  // ----- reports -----
  const report = (what: { kind: "user"; id: number; name: string } | { kind: "world" }) => {
    const subject = what.kind === "user" ? what.name : world.name;
    const comment = h("textarea", { name: "comment", maxlength: "300", rows: "4", required: what.kind === "world" });
    const errors = errorBox();
    const send = h("button", { type: "submit" }, "Send report");
    const dialog = h("dialog", { class: "card report-dialog", "aria-label": `Report ${subject}` },
      h("form", { method: "dialog" },
        h("h2", {}, `Report ${subject}`),
        h("p", { class: "muted" }, what.kind === "user"
          ? "The world's moderators and the platform's administrators see your report and your name."
          : "The platform's administrators see your report and your name."),
        h("label", {}, what.kind === "user" ? "What happened? (optional)" : "What is wrong with this world?", comment),
        errors.el,
        h("p", { class: "row" }, send, h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel"))));
    dialog.querySelector("form")!.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(send, errors, async () => {
        const text = comment.value.trim();
        if (what.kind === "user") await api.reportUser(what.id, world.world_id, text);
        else await api.reportWorld(world.world_id, text);
        dialog.close();
        note(`Thank you: your report on ${subject} was sent.`);
      });
    });
    dialog.addEventListener("close", () => dialog.remove());
    view.append(dialog);
    dialog.showModal();
    comment.focus();
  };

  // ----- people -----
  const renderPeople = () => {
    const rows = [...people.values()].sort((a, b) => Number(near.has(b.id)) - Number(near.has(a.id)) || a.name.localeCompare(b.name));
    peopleCount.textContent = `(${people.size + 1})`;
    peopleList.replaceChildren(
      h("li", { class: "me" }, `${me.username ?? "You"} (you)`),
      ...rows.map((p) => h("li", { class: near.has(p.id) ? "near" : "", "data-user": p.id },
        p.name, near.has(p.id) ? h("span", { class: "badge" }, "near") : null, p.role && p.role !== "default" ? h("span", { class: "muted" }, ` · ${p.role}`) : null,
        presence.reconnecting(p.id) ? h("span", { class: "muted" }, " · reconnecting…") : null,
        canReport && /^\d+$/.test(p.id)
          ? h("button", { type: "button", class: "link small report", "aria-label": `Report ${p.name}`, onclick: () => report({ kind: "user", id: Number(p.id), name: p.name }) }, "Report")
          : null)),
    );
  };
  const personFrom = (id: string, d: { username?: unknown; avatar?: unknown; role?: { name?: unknown } } | undefined): Person => ({
    id, name: String(d?.username ?? `User ${id}`), avatar: String(d?.avatar ?? manifest.avatars[0]?.name ?? ""), role: String(d?.role?.name ?? ""),
  });

  // ----- chat -----
  const addChat = (m: Extract<Msg, { topic: "SEND_MESSAGE" }>) => {
    const from = m.from;
    const who = from === myId ? "You" : (people.get(from)?.name ?? `User ${from}`);
    chatLog.append(h("li", { class: m.to === "NEARBY" ? "nearby" : "" },
      h("span", { class: "time" }, m.date), " ", h("strong", {}, who), m.to === "NEARBY" ? h("span", { class: "badge" }, "nearby") : null, ": ", m.text));
    while (chatLog.children.length > 300) chatLog.firstElementChild?.remove();
    chatLog.scrollTop = chatLog.scrollHeight;
  };

  // ----- media tiles -----
  const tileEls = new Map<string, { video: HTMLVideoElement; screen: HTMLVideoElement; audio: HTMLAudioElement; el: HTMLElement }>();
  const selfTile = h("figure", { class: "tile self", hidden: true }, h("video", { muted: true, autoplay: true, playsinline: true }), h("figcaption", {}, "You"));
  tiles.append(selfTile);
  const media = new MediaManager((m) => socket.send(m), {
    tile(peerId) {
      let t = tileEls.get(peerId);
      if (!t) {
        const video = h("video", { autoplay: true, playsinline: true, hidden: true });
        const screenV = h("video", { autoplay: true, playsinline: true, hidden: true, class: "screen" });
        // Audio plays from outside the tiles: a media element inside a composited tile can
        // leave a stray layer behind in some Chromium builds.
        const audio = h("audio", { autoplay: true, "data-peer": peerId });
        sinks.append(audio);
        const el = h("figure", { class: "tile", "data-peer": peerId }, video, h("figcaption", {}, people.get(peerId)?.name ?? `User ${peerId}`));
        t = { video, screen: screenV, audio, el };
        tileEls.set(peerId, t);
        tiles.append(el);
      }
      return t;
    },
    dropTile(peerId) {
      tileEls.get(peerId)?.el.remove();
      tileEls.get(peerId)?.audio.remove();
      tileEls.delete(peerId);
    },
    preview(track) {
      const v = selfTile.querySelector("video")!;
      v.srcObject = track ? new MediaStream([track]) : null;
      selfTile.hidden = !track;
    },
    notice: (text) => note(text, 8000),
    speaking(peerId, on) {
      tileEls.get(peerId)?.el.classList.toggle("speaking", on);
    },
    changed() {
      tiles.classList.toggle("has-tiles", tileEls.size > 0);
    },
    fileData: (peerId, data) => board.data(peerId, data),
  });
  const board: FileBoard = new FileBoard(myId, media, {
    send: (m) => socket.send(m),
    nameOf: (id) => (id === myId ? "you" : (people.get(id)?.name ?? `User ${id}`)),
    note,
    ask: (text) =>
      new Promise((answer) => {
        const el = h("div", { class: "toast ask", role: "alertdialog" }, text, " ",
          h("button", { type: "button", class: "small", onclick: () => { el.remove(); answer(true); } }, "Accept"),
          h("button", { type: "button", class: "small secondary", onclick: () => { el.remove(); answer(false); } }, "Decline"));
        toast.append(el);
        // Unanswered for a minute counts as no.
        setTimeout(() => { if (el.isConnected) { el.remove(); answer(false); } }, 60_000);
      }),
  });
  stageWrap.append(board.el);

  const setToggle = (b: HTMLButtonElement, on: boolean, onText: string, offText: string) => {
    b.setAttribute("aria-pressed", String(on));
    b.textContent = on ? onText : offText;
  };
  mic.addEventListener("click", () => {
    media.toggle("audio", !media.micOn);
    setToggle(mic, media.micOn, "Mic on", "Mic off");
  });
  cam.addEventListener("click", () => {
    media.toggle("video", !media.camOn);
    setToggle(cam, media.camOn, "Camera on", "Camera off");
  });
  screenBtn.addEventListener("click", async () => {
    if (media.sharing) media.stopScreen();
    else if (!(await media.shareScreen())) note("Screen sharing was cancelled.");
    setToggle(screenBtn, media.sharing, "Stop sharing", "Share screen");
  });

  // ----- conferences -----
  const renderConference = () => {
    confLabel.hidden = !conference;
    confLabel.textContent = conference ? `${conference.c.name}: ${speaker ? "speaker" : "listener"}` : "";
    hand.hidden = !conference || speaker;
    if (!conference) requests.replaceChildren();
  };
  hand.addEventListener("click", () => {
    if (!conference) return;
    socket.send({ topic: "REQUEST_TO_SPEAK", conference: conference.room });
    hand.disabled = true;
    hand.textContent = "Waiting for a moderator…";
  });
  const addRequest = (userId: string) => {
    if (!conference || requests.querySelector(`[data-user="${CSS.escape(userId)}"]`)) return;
    const room = conference.room;
    const answer = (permission: boolean) => {
      socket.send({ topic: "PERMISSION_TO_SPEAK", conference: room, permission, user_requested: userId });
      li.remove();
    };
    const li = h("li", { "data-user": userId }, `${people.get(userId)?.name ?? `User ${userId}`} asks to speak `,
      h("button", { type: "button", class: "small", onclick: () => answer(true) }, "Allow"),
      h("button", { type: "button", class: "small secondary", onclick: () => answer(false) }, "Deny"));
    requests.append(li);
    note(`${people.get(userId)?.name ?? "Someone"} asks to speak.`);
  };

  // ----- interactive objects -----
  const interact = (o: Interactive) => {
    if (o.kind === "SCREEN_SHARE") {
      screenBtn.click();
    } else if (o.kind === "FILE_SHARE") {
      board.open(o.title);
    } else {
      note(`"${o.title}" (${o.kind}) is not supported by this web client.`);
    }
  };

  // ----- the end of a session -----
  const ended = (e: Ended) => {
    media.close();
    const title = e.kind === "banned" ? "You are banned from this world" : e.kind === "kicked" ? "You left this world" : "You cannot enter this world";
    overlay.replaceChildren(h("div", { class: "card" }, h("h2", {}, title), h("p", {}, e.reason),
      h("p", { class: "row" }, h("a", { class: "button", href: "#/worlds" }, "Back to the worlds"),
        e.kind === "kicked" ? h("button", { type: "button", class: "secondary", onclick: () => location.reload() }, "Enter again") : null)));
    overlay.hidden = false;
    (overlay.querySelector("a") as HTMLElement | null)?.focus();
  };

  // ----- the game -----
  const spawnProp = { x: prop<number>(map.properties, "spawnX"), y: prop<number>(map.properties, "spawnY") };
  const spawn = me.last_pos?.x !== undefined && me.last_pos?.y !== undefined
    ? { x: me.last_pos.x, y: me.last_pos.y }
    : { x: spawnProp.x ?? 50, y: spawnProp.y ?? 50 };
  let scene: WorldScene | null = null;
  let reachable: Interactive | null = null;
  let pending: Msg[] = [];
  let mapReloads = 0;
  // The creator edited the map: fetch it and redraw, keeping the session, the media and the
  // avatar's place.
  const reloadMap = async () => {
    try {
      const fresh = await api.world(world.world_id);
      const next = await decodeLayers(checkTiledMap(fresh.world_map));
      world = fresh;
      scene?.reloadMap(next);
      mapReloads++;
      note("The map was updated.");
    } catch (e) {
      note(`The map was edited, but the new one could not be shown: ${(e as Error).message}`, 10_000);
    }
  };
  const { startGame } = await import("../game/scene");

  const onMessage = (m: Msg) => {
    if (!scene) {
      pending.push(m);
      return;
    }
    if (m.topic === "you-joined-as-speaker" || m.topic === "you-are-now-a-speaker") {
      if (conference && m.d.roomId === conference.room) speaker = true;
      renderConference();
    }
    const changed = presence.handle(m);
    for (const id of changed) scene.setReconnecting(id, presence.reconnecting(id));
    if (board.handle(m)) return;
    if (media.handle(m)) {
      if (m.topic === "GROUPS_SNAPSHOT") {
        const groups = m.groups;
        if (conference && !groups.includes(conference.room)) speaker = false;
        renderConference();
      }
      return;
    }
    switch (m.topic) {
      case "PLAYERS_SNAPSHOT": {
        const snap = m.snapshot;
        const data = m.players_data;
        for (const id of people.keys()) if (!(id in snap) && !(id in data)) { people.delete(id); scene.removeRemote(id); }
        for (const id of new Set([...Object.keys(snap), ...Object.keys(data)])) {
          if (id === myId) continue;
          const p = personFrom(id, data[id]);
          people.set(id, p);
          const pos = snap[id];
          scene.upsertRemote(id, p.name, p.avatar, pos && pos.x !== undefined && pos.y !== undefined ? { x: pos.x, y: pos.y } : null);
        }
        renderPeople();
        break;
      }
      case "JOIN_PLAYER": {
        const u = m.user;
        const id = u.user_id;
        if (id === myId) break;
        const p = personFrom(id, u);
        people.set(id, p);
        scene.upsertRemote(id, p.name, p.avatar, m.position);
        renderPeople();
        break;
      }
      case "LEAVE_PLAYER": {
        const id = m.user_id;
        people.delete(id);
        near.delete(id);
        board.forget(id);
        scene.removeRemote(id);
        renderPeople();
        break;
      }
      case "PLAYER_MOVEMENT": {
        const id = m.user_id;
        if (id === myId) {
          // The server put us somewhere else (a refused move): follow it.
          scene.teleport(m.position);
          break;
        }
        scene.moveRemote(id, m.position, m.velocity);
        break;
      }
      case "WIRE_PLAYER":
      case "UNWIRE_PLAYER": {
        // merge: add (WIRE) or remove (UNWIRE) these ids; otherwise the list becomes exactly them.
        const ids = m.ids.filter((x) => x !== myId);
        if (!m.merge) near.clear();
        for (const id of ids) {
          if (m.topic === "UNWIRE_PLAYER" && m.merge) near.delete(id);
          else near.add(id);
        }
        renderPeople();
        break;
      }
      case "SEND_MESSAGE":
        addChat(m);
        break;
      case "REQUEST_TO_SPEAK":
        addRequest(m.d.user_requested);
        break;
      case "PERMISSION_TO_SPEAK": {
        const ok = m.d.permission;
        speaker = speaker || ok;
        hand.disabled = false;
        hand.textContent = "Raise hand";
        note(ok ? "A moderator gave you the floor." : "A moderator declined your request to speak.");
        renderConference();
        break;
      }
      case "PLAYER_PRESENCE":
        renderPeople();
        break;
      case "MAP_UPDATED":
        void reloadMap();
        break;
      case "error": {
        const d = m.d;
        // Leaving a conference the server already closed (its area was erased) is not news.
        if (d.topic === "PLAYER_MOVEMENT" || d.topic === "PING" || d.topic === "LEAVE_CONFERENCE") break;
        note(d.message || "The server refused that.");
        break;
      }
    }
  };

  const socket = new WorldSocket(world.world_id, {
    message: onMessage,
    status(s: Status, detail?: string) {
      status.dataset.state = s;
      status.textContent = { connecting: "Connecting…", online: "Connected", reconnecting: detail ?? "Reconnecting…", closed: "Disconnected" }[s];
      retry.hidden = s !== "reconnecting";
      if (s === "reconnecting") {
        // The server rebuilds our rooms when we are back; the old transports are dead.
        for (const id of media.roomIds()) media.closeRoom(id);
        near.clear();
        renderPeople();
      }
    },
    opened() {
      if (scene) socket.send({ topic: "JOIN_PLAYER", position: scene.position() });
    },
    ended,
  });
  retry.addEventListener("click", () => socket.retry());

  const started = startGame(stage, {
    map,
    manifest,
    me: { id: myId, name: me.username ?? "You", avatar: me.avatar ?? manifest.avatars[0]?.name ?? "", spawn },
    hooks: {
      moved(position, velocity) {
        socket.position = position;
        socket.send({ topic: "PLAYER_MOVEMENT", position, velocity });
      },
      conference(c) {
        if (c && c.id === conference?.c.id) return;
        if (conference) {
          socket.send({ topic: "LEAVE_CONFERENCE", conference_id: conference.room });
          media.closeRoom(conference.room);
        }
        conference = c ? { c, room: `${c.id}-${world.world_id}` } : null;
        speaker = false;
        if (conference) socket.send({ topic: "JOIN_CONFERENCE", conference_id: conference.room });
        renderConference();
      },
      interact,
      reach(o) {
        reachable = o;
        hint.hidden = !o;
        hint.textContent = o ? `${o.title}: press X or click it` : "";
      },
      ready() {
        if (scene) return; // the map was redrawn; the session goes on
        scene = started.scene;
        scene.canWalk = me.role.walk !== false;
        socket.position = scene.position();
        socket.connect();
        const queued = pending;
        pending = [];
        for (const m of queued) onMessage(m);
      },
    },
  });

  chatForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    if (socket.send({ topic: "SEND_MESSAGE", text, to: chatTo.value === "NEARBY" ? "NEARBY" : "ALL" })) chatInput.value = "";
    else note("Not connected: the message was not sent.");
  });
  // While typing, keys go to the text field, not to the avatar.
  view.addEventListener("focusin", (e) => {
    if (scene) scene.typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement;
  });
  view.addEventListener("focusout", () => {
    if (scene) scene.typing = false;
  });
  // Phaser keeps a click on the map from moving the focus, so a click there (or Escape in a
  // field) gives the keyboard back to walking.
  stage.addEventListener("pointerdown", () => (document.activeElement as HTMLElement | null)?.blur?.());
  view.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && e.target instanceof HTMLInputElement) e.target.blur();
  });
  const keys = (e: KeyboardEvent) => {
    if (scene?.typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "x" && reachable) interact(reachable);
    else if (e.key === "m") mic.click();
    else if (e.key === "v") cam.click();
    else if (e.key === "Enter") chatInput.focus();
  };
  window.addEventListener("keydown", keys);

  // A read-only view of the world for debugging from the console and for the browser tests.
  (window as unknown as { crowdwire?: unknown }).crowdwire = {
    me: myId,
    position: () => scene?.position() ?? null,
    remote: (id: string) => scene?.remotePosition(id) ?? null,
    people: () => [...people.keys()],
    reconnecting: () => [...people.keys()].filter((id) => presence.reconnecting(id)),
    near: () => [...near],
    rooms: () => media.roomIds(),
    mediaJoins: () => media.joins,
    conference: () => (conference ? { room: conference.room, speaker } : null),
    downloads: () => board.done,
    maps: () => mapReloads,
    input: () => ({ typing: scene?.typing ?? null, canWalk: scene?.canWalk ?? null, focus: document.activeElement?.tagName ?? null }),
  };

  current = {
    close() {
      delete (window as unknown as { crowdwire?: unknown }).crowdwire;
      window.removeEventListener("keydown", keys);
      socket.close();
      media.close();
      started.game.destroy(true);
    },
  };
  renderPeople();
  renderConference();
}
