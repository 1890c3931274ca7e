// The fields a world's creator sets, shared by world creation and world settings: name,
// description, tags, visibility, guests and capacity.

import { api, type World } from "./api";
import { h } from "./ui";

export interface WorldFields {
  name: string;
  description: string;
  public: boolean;
  allow_guests: boolean;
  /** null: no limit. */
  max_users: number | null;
  tags: string[];
}

/** The form fields for `world` (or a new world), and a reader that checks and returns them. */
export function worldFields(world: World | null, onError: (message: string) => void): { nodes: Node[]; read(): WorldFields } {
  const name = h("input", { name: "name", required: true, maxlength: "50", value: world?.name ?? "" });
  const description = h("textarea", { name: "description", maxlength: "300", rows: "3" });
  description.value = world?.description ?? "";
  const isPublic = h("input", { type: "checkbox", name: "public", checked: world?.public ?? true });
  const guests = h("input", { type: "checkbox", name: "allow_guests", checked: world?.allow_guests ?? true });
  const cap = world ? (world.max_users ? String(world.max_users) : "") : "50";
  const maxUsers = h("input", { type: "number", name: "max_users", min: "1", max: "1000", step: "1", value: cap });
  const tagBox = h("fieldset", { class: "chips" }, h("legend", {}, "Tags"));
  const current = new Set(world?.tags.map((t) => t.name) ?? []);
  void api.tags().then(
    (tags) => {
      for (const t of tags) {
        tagBox.append(h("label", { class: "check" }, h("input", { type: "checkbox", value: t.name, checked: current.has(t.name) }), t.name));
      }
    },
    (e: Error) => onError(`The tags could not be loaded: ${e.message}`),
  );
  const nodes = [
    h("label", {}, "Name", name),
    h("label", {}, "Description", description),
    tagBox,
    h("div", { class: "row" },
      h("label", { class: "check" }, isPublic, "Listed publicly"),
      h("label", { class: "check" }, guests, "Guests may enter"),
      h("label", {}, "Max users (1–1000, blank: no limit)", maxUsers)),
  ];
  return {
    nodes,
    read() {
      const text = maxUsers.value.trim();
      const n = Number(text);
      if (text && (!Number.isInteger(n) || n < 1 || n > 1000)) throw new Error("Max users must be a whole number from 1 to 1000, or blank for no limit.");
      if (!name.value.trim()) throw new Error("Give the world a name.");
      return {
        name: name.value.trim(),
        description: description.value.trim(),
        public: isPublic.checked,
        allow_guests: guests.checked,
        max_users: text ? n : null,
        tags: [...tagBox.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value),
      };
    },
  };
}
