// File-sharing boards (spec §6.8): a user offers up to three files to the people near them;
// a neighbour asks for one, the owner accepts or declines, and the bytes flow over the media
// rooms' data channels straight to the one who asked. Both sides see a progress bar.

import { h } from "../ui";
import type { MediaManager } from "./media";
import type { Msg, Outgoing } from "./net";

export const MAX_FILES = 3;
export const MAX_FILE_BYTES = 500 * 1024 * 1024;

/** What we offer about a file; the server relays it as it is (it reads only `owner`). */
export type FileMeta = {
  id: string;
  name: string;
  size: number;
  type: string;
  lastModified: number;
  owner: string;
};

interface Incoming {
  meta: FileMeta;
  parts: ArrayBuffer[];
  received: number;
  bar: HTMLProgressElement;
  row: HTMLElement;
  /** When the owner accepted (performance.now()). */
  accepted: number;
}

export interface FileHost {
  send(m: Outgoing): boolean;
  nameOf(userId: string): string;
  note(text: string): void;
  /** Asks the owner to accept or decline a request; resolves with the answer. */
  ask(text: string): Promise<boolean>;
}

export class FileBoard {
  readonly el: HTMLElement;
  private readonly title = h("h2", {}, "Files");
  private readonly mineList = h("ul", { class: "files", "aria-label": "Your files" });
  private readonly theirList = h("ul", { class: "files", "aria-label": "Files near you" });
  private readonly picker = h("input", { type: "file", multiple: true, "aria-label": "Share files" });
  private readonly status = h("p", { class: "muted", role: "status" });
  private readonly mine = new Map<string, { meta: FileMeta; file: File }>();
  private readonly theirs = new Map<string, FileMeta>();
  /** The download we wait for, by owner. */
  private incoming: Incoming | null = null;
  /** The upload we stream now (one at a time). */
  private sending: { to: string; meta: FileMeta } | null = null;
  /** Finished downloads, for the page's debugging view. */
  readonly done: { name: string; size: number; sha256: string; ms: number }[] = [];

  constructor(
    private readonly me: string,
    private readonly media: MediaManager,
    private readonly host: FileHost,
  ) {
    const close = h("button", { type: "button", class: "secondary small", onclick: () => this.close() }, "Close");
    this.el = h("section", { class: "file-board card", hidden: true, role: "dialog", "aria-label": "File sharing" },
      h("div", { class: "row spread" }, this.title, close),
      h("h3", {}, "Your files"), this.mineList,
      h("label", {}, `Share up to ${MAX_FILES} files (500 MB each) with the people near you`, this.picker),
      h("h3", {}, "Near you"), this.theirList, this.status);
    this.picker.addEventListener("change", () => void this.share());
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
  }

  open(title: string): void {
    this.title.textContent = title;
    this.el.hidden = false;
    this.host.send({ topic: "GET_ROOM_USERS_FILES" });
    this.picker.focus();
    this.render();
  }

  close(): void {
    this.el.hidden = true;
  }

  private async share(): Promise<void> {
    const files = [...(this.picker.files ?? [])];
    this.picker.value = "";
    const room = MAX_FILES - this.mine.size;
    if (files.length > room) this.host.note(`You can share ${MAX_FILES} files at a time; ${files.length - room} not added.`);
    const metas: FileMeta[] = [];
    for (const file of files.slice(0, Math.max(0, room))) {
      if (file.size > MAX_FILE_BYTES) {
        this.host.note(`${file.name} is larger than 500 MB.`);
        continue;
      }
      const meta: FileMeta = { id: crypto.randomUUID(), name: file.name, size: file.size, type: file.type, lastModified: file.lastModified, owner: this.me };
      this.mine.set(meta.id, { meta, file });
      metas.push(meta);
    }
    if (!metas.length) return;
    try {
      await this.media.openFileChannels();
    } catch (e) {
      this.host.note(`Files cannot be sent right now: ${(e as Error).message}`);
    }
    this.host.send({ topic: "ADD_USER_FILES", files: metas });
    this.render();
  }

  private remove(id: string): void {
    const f = this.mine.get(id);
    if (!f) return;
    this.mine.delete(id);
    this.host.send({ topic: "REMOVE_USER_FILE", file: f.meta });
    this.render();
  }

  private request(meta: FileMeta): void {
    if (this.incoming) return this.host.note("Wait until the current download ends.");
    if (!this.media.canReceiveFrom(meta.owner)) return this.host.note(`${this.host.nameOf(meta.owner)} is not near you any more.`);
    const bar = h("progress", { max: String(meta.size), value: "0" });
    const row = h("li", {}, `${meta.name}: waiting for ${this.host.nameOf(meta.owner)}… `, bar);
    this.incoming = { meta, parts: [], received: 0, bar, row, accepted: 0 };
    this.host.send({ topic: "DOWNLOAD_REQUEST", file: meta });
    this.render();
  }

  /** Handles a file topic; false if `m` is not one. */
  handle(m: Msg): boolean {
    switch (m.topic) {
      case "ADD_USER_FILES":
      case "GET_ROOM_USERS_FILES":
        if (m.topic === "GET_ROOM_USERS_FILES") this.theirs.clear();
        for (const f of (m.d.files ?? []) as FileMeta[]) if (f && String(f.owner) !== this.me) this.theirs.set(f.id, { ...f, owner: String(f.owner) });
        break;
      case "REMOVE_USER_FILE":
        this.theirs.delete(String((m.d.file as FileMeta | undefined)?.id));
        break;
      case "REMOVE_ALL_USER_FILES":
        for (const [id, f] of this.theirs) if (f.owner === m.d.user_id) this.theirs.delete(id);
        break;
      case "DOWNLOAD_REQUEST":
        void this.onRequest(m.d.file as FileMeta, m.d.user_id);
        break;
      case "DENY_DOWNLOAD_REQUEST":
        if (this.incoming) {
          this.host.note(`${this.incoming.meta.name}: ${m.d.reason ?? "declined"}`);
          this.incoming = null;
        }
        break;
      case "ACCEPT_DOWNLOAD_REQUEST":
        if (this.incoming && (m.d.file as FileMeta | undefined)?.id === this.incoming.meta.id) {
          this.incoming.row.firstChild!.textContent = `${this.incoming.meta.name}: receiving… `;
          this.incoming.accepted = performance.now();
          this.host.send({ topic: "START_DOWNLOAD", d: { user_id: this.incoming.meta.owner } });
        }
        break;
      case "START_DOWNLOAD":
        void this.stream();
        break;
      default:
        return false;
    }
    this.render();
    return true;
  }

  private async onRequest(meta: FileMeta | undefined, from: string): Promise<void> {
    const f = meta && this.mine.get(meta.id);
    const deny = (reason: string): void => void this.host.send({ topic: "DENY_DOWNLOAD_REQUEST", d: { user_id: from, reason } });
    if (!f) return deny("That file is no longer shared.");
    if (this.sending) return deny("User is already sharing a file!");
    const yes = await this.host.ask(`${this.host.nameOf(from)} asks for ${f.meta.name} (${size(f.meta.size)}).`);
    if (!yes) return deny("User declined the file transfer!");
    this.sending = { to: from, meta: f.meta };
    this.host.send({ topic: "ACCEPT_DOWNLOAD_REQUEST", d: { file: f.meta, user_id: from } });
  }

  private async stream(): Promise<void> {
    const s = this.sending;
    const f = s && this.mine.get(s.meta.id);
    if (!s || !f) return;
    this.status.textContent = `Sending ${f.meta.name} to ${this.host.nameOf(s.to)}…`;
    try {
      await this.media.sendFile(s.to, f.file, (n) => (this.status.textContent = `Sending ${f.meta.name} to ${this.host.nameOf(s.to)}: ${Math.floor((100 * n) / f.meta.size)} %`));
      this.status.textContent = `Sent ${f.meta.name} to ${this.host.nameOf(s.to)}.`;
    } catch (e) {
      this.status.textContent = `Sending ${f.meta.name} failed: ${(e as Error).message}`;
    } finally {
      this.sending = null;
    }
  }

  /** A chunk from `peerId`'s file channel. */
  data(peerId: string, chunk: ArrayBuffer): void {
    const i = this.incoming;
    if (!i || i.meta.owner !== peerId) return;
    i.parts.push(chunk);
    i.received += chunk.byteLength;
    i.bar.value = i.received;
    if (i.received >= i.meta.size) void this.finish(i);
  }

  private async finish(i: Incoming): Promise<void> {
    this.incoming = null;
    const ms = Math.round(performance.now() - i.accepted);
    const blob = new Blob(i.parts, { type: i.meta.type || "application/octet-stream" });
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.done.push({ name: i.meta.name, size: blob.size, sha256, ms });
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: i.meta.name }, `Save ${i.meta.name}`);
    this.status.replaceChildren(`Received ${i.meta.name} (${size(blob.size)}). `, link);
    this.host.note(`Received ${i.meta.name}.`);
    this.render();
  }

  /** Someone left or walked away: forget their files. */
  forget(userId: string): void {
    for (const [id, f] of this.theirs) if (f.owner === userId) this.theirs.delete(id);
    if (this.incoming?.meta.owner === userId) {
      this.host.note(`${this.incoming.meta.name}: the owner is gone; the download stopped.`);
      this.incoming = null;
    }
    this.render();
  }

  private render(): void {
    this.mineList.replaceChildren(
      ...[...this.mine.values()].map(({ meta }) =>
        h("li", {}, `${meta.name} (${size(meta.size)}) `, h("button", { type: "button", class: "small secondary", onclick: () => this.remove(meta.id) }, "Stop sharing"))),
    );
    if (!this.mine.size) this.mineList.append(h("li", { class: "muted" }, "You share nothing."));
    this.theirList.replaceChildren(
      ...[...this.theirs.values()].map((meta) =>
        this.incoming?.meta.id === meta.id
          ? this.incoming.row
          : h("li", {}, `${meta.name} (${size(meta.size)}) from ${this.host.nameOf(meta.owner)} `,
              h("button", { type: "button", class: "small", onclick: () => this.request(meta), "aria-label": `Download ${meta.name}` }, "Download"))),
    );
    if (!this.theirs.size) this.theirList.append(h("li", { class: "muted" }, "Nobody near you shares a file."));
  }
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
